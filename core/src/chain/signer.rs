//! What the chain client needs from a wallet: an address and a signature
//! over a transaction.

use sui_crypto::SignatureError;
use sui_sdk_types::{Address, Transaction, UserSignature};

/// A key that can sign Sui transactions for one address.
///
/// The wallet implements it for its unlocked keys; the Sui SDK's key types
/// implement it here so tests and tools can sign directly.
pub trait TransactionSigner: Send + Sync {
    /// The address whose transactions this signer authorises.
    fn address(&self) -> Address;

    /// Signs `transaction` (intent-wrapped, as Sui verifies it).
    ///
    /// # Errors
    /// The signer's own failure, e.g. a hardware key that refused.
    fn sign_transaction(&self, transaction: &Transaction) -> Result<UserSignature, SignatureError>;
}

impl TransactionSigner for sui_crypto::ed25519::Ed25519PrivateKey {
    fn address(&self) -> Address {
        self.public_key().derive_address()
    }

    fn sign_transaction(&self, transaction: &Transaction) -> Result<UserSignature, SignatureError> {
        sui_crypto::SuiSigner::sign_transaction(self, transaction)
    }
}

impl TransactionSigner for sui_crypto::secp256k1::Secp256k1PrivateKey {
    fn address(&self) -> Address {
        self.public_key().derive_address()
    }

    fn sign_transaction(&self, transaction: &Transaction) -> Result<UserSignature, SignatureError> {
        sui_crypto::SuiSigner::sign_transaction(self, transaction)
    }
}

impl TransactionSigner for sui_crypto::secp256r1::Secp256r1PrivateKey {
    fn address(&self) -> Address {
        self.public_key().derive_address()
    }

    fn sign_transaction(&self, transaction: &Transaction) -> Result<UserSignature, SignatureError> {
        sui_crypto::SuiSigner::sign_transaction(self, transaction)
    }
}

impl TransactionSigner for sui_crypto::simple::SimpleKeypair {
    fn address(&self) -> Address {
        self.verifying_key().derive_address()
    }

    fn sign_transaction(&self, transaction: &Transaction) -> Result<UserSignature, SignatureError> {
        sui_crypto::SuiSigner::sign_transaction(self, transaction)
    }
}

impl TransactionSigner for crate::wallet::Keypair {
    fn address(&self) -> Address {
        crate::wallet::Keypair::address(self)
    }

    fn sign_transaction(&self, transaction: &Transaction) -> Result<UserSignature, SignatureError> {
        crate::wallet::Keypair::sign_transaction(self, transaction)
            .map_err(|error| SignatureError::from_source(error.to_string()))
    }
}
