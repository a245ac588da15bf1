//! Which on-chain `Enclave` holds this master's key, and the signatures it
//! makes with it.
//!
//! The master's Ed25519 key is made at boot and dies with the process, so
//! its `Enclave` object is registered after boot (`daas-console enclave
//! register`). Every replica's invalidation follower reads every package
//! event from a checkpoint taken before the master could be attested, and
//! hands `EnclaveRegistered`/`EnclaveDestroyed` to [`EnclaveWatch::observe`]:
//! the registration of this key cannot be missed.
//!
//! The same key pays for the result transactions (its Sui Ed25519
//! address, [`EnclaveWatch::gas_address`], funded by the operator): the
//! enclave holds no other secret. Sui signs a 32-byte digest of an
//! intent-prefixed transaction; the enclave signs the BCS of an
//! `IntentMessage` (at least 43 bytes, starting with its scope), so no
//! signature of one kind is a signature of the other.

use daas_core::package::PackageEvent;
use daas_core::package::enclave::{IntentMessage, IntentScope};
use daas_core::package::gateway::K8sResultPayload;
use ed25519_dalek::{Signer as _, SigningKey};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;
use tokio::sync::watch;
use tracing::info;

use super::GatewayError;
use super::ledger::Outcome;

/// A registered `Enclave` holding this master's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnclaveRef {
    /// The shared `Enclave` object.
    pub enclave: Address,
    /// Its `EnclaveConfig`.
    pub config: Address,
}

/// The master's key and the `Enclave` holding it, once registered.
pub struct EnclaveWatch {
    key: SigningKey,
    current: watch::Sender<Option<EnclaveRef>>,
}

impl std::fmt::Debug for EnclaveWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveWatch")
            .field("public_key", &hex::encode(self.public_key()))
            .field("current", &*self.current.borrow())
            .finish_non_exhaustive()
    }
}

impl EnclaveWatch {
    /// Watches for the registration of `key`'s public key.
    pub fn new(key: SigningKey) -> Self {
        let (current, _) = watch::channel(None);
        Self { key, current }
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The Sui address of the key, which pays for result transactions.
    pub fn gas_address(&self) -> Address {
        self.gas_signer().public_key().derive_address()
    }

    /// The key as a Sui transaction signer.
    pub(super) fn gas_signer(&self) -> Ed25519PrivateKey {
        Ed25519PrivateKey::new(self.key.to_bytes())
    }

    /// Notes a registration of this key, or the destruction of its enclave.
    pub fn observe(&self, event: &PackageEvent) {
        match event {
            PackageEvent::EnclaveRegistered(e) if e.pk == self.public_key() => {
                info!(enclave = %e.enclave_id, config = %e.config_id, "this master's key is registered on chain");
                self.current.send_replace(Some(EnclaveRef {
                    enclave: e.enclave_id,
                    config: e.config_id,
                }));
            }
            PackageEvent::EnclaveDestroyed(e) => {
                self.current
                    .send_if_modified(|current| forget_if(current, e.enclave_id));
            }
            _ => {}
        }
    }

    /// Forgets `enclave` (the chain refused it as stale), until a new
    /// registration is observed.
    pub(super) fn forget(&self, enclave: Address) {
        self.current
            .send_if_modified(|current| forget_if(current, enclave));
    }

    /// The registered enclave, if any.
    pub fn current(&self) -> Option<EnclaveRef> {
        *self.current.borrow()
    }

    /// Waits until an enclave holding the key is registered.
    pub(super) async fn registered(&self) -> EnclaveRef {
        let mut receiver = self.current.subscribe();
        loop {
            if let Some(current) = *receiver.borrow_and_update() {
                return current;
            }
            // The sender lives in `self`: it cannot close while borrowed.
            if receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The enclave signature over the result `outcome` of `request` at
    /// `timestamp_ms`, as `gateway::record_k8s_result` checks it.
    pub(super) fn sign_result(
        &self,
        request: Address,
        outcome: &Outcome,
        timestamp_ms: u64,
    ) -> Result<Vec<u8>, GatewayError> {
        let message = IntentMessage::new(
            IntentScope::K8sResult,
            timestamp_ms,
            K8sResultPayload {
                request_id: request,
                status_code: outcome.status,
                result_hash: outcome.result_hash.to_vec(),
            },
        );
        let bytes = message
            .signing_bytes()
            .map_err(|e| GatewayError::Encode(e.to_string()))?;
        Ok(self.key.sign(&bytes).to_bytes().to_vec())
    }
}

fn forget_if(current: &mut Option<EnclaveRef>, enclave: Address) -> bool {
    if current.is_some_and(|c| c.enclave == enclave) {
        *current = None;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use daas_core::package::enclave::{Enclave, EnclaveDestroyed, EnclaveRegistered};

    use super::*;

    fn registered(pk: [u8; 32], enclave: u8) -> PackageEvent {
        PackageEvent::EnclaveRegistered(EnclaveRegistered {
            enclave_id: Address::new([enclave; 32]),
            config_id: Address::new([0xc0; 32]),
            config_version: 0,
            pk: pk.to_vec(),
            owner: Address::new([1; 32]),
            registered_at_ms: 5,
        })
    }

    #[test]
    fn only_a_registration_of_this_key_counts_until_destroyed_or_refused() {
        let watch = EnclaveWatch::new(SigningKey::from_bytes(&[7; 32]));
        watch.observe(&registered([9; 32], 0xe1));
        assert_eq!(watch.current(), None);
        watch.observe(&registered(watch.public_key(), 0xe2));
        let current = watch.current().unwrap();
        assert_eq!(current.enclave, Address::new([0xe2; 32]));
        assert_eq!(current.config, Address::new([0xc0; 32]));

        let destroyed = |enclave: u8| {
            PackageEvent::EnclaveDestroyed(EnclaveDestroyed {
                enclave_id: Address::new([enclave; 32]),
                config_id: Address::new([0xc0; 32]),
            })
        };
        watch.observe(&destroyed(0xe1));
        assert!(watch.current().is_some());
        watch.observe(&destroyed(0xe2));
        assert_eq!(watch.current(), None);

        watch.observe(&registered(watch.public_key(), 0xe3));
        watch.forget(Address::new([0xe2; 32]));
        assert!(watch.current().is_some());
        watch.forget(Address::new([0xe3; 32]));
        assert_eq!(watch.current(), None);
    }

    #[test]
    fn the_signature_verifies_as_the_chain_checks_it() {
        let watch = EnclaveWatch::new(SigningKey::from_bytes(&[7; 32]));
        let request = Address::new([0x0a; 32]);
        let outcome = Outcome {
            status: 403,
            result_hash: [5; 32],
        };
        let signature = watch.sign_result(request, &outcome, 42).unwrap();
        let enclave = Enclave {
            id: Address::new([0xe2; 32]),
            config_id: Address::new([0xc0; 32]),
            config_version: 0,
            pk: watch.public_key().to_vec(),
            owner: Address::new([1; 32]),
            registered_at_ms: 5,
        };
        let message = |status_code, timestamp_ms| {
            IntentMessage::new(
                IntentScope::K8sResult,
                timestamp_ms,
                K8sResultPayload {
                    request_id: request,
                    status_code,
                    result_hash: vec![5; 32],
                },
            )
        };
        assert!(enclave.verify_signature(&message(403, 42), &signature));
        assert!(!enclave.verify_signature(&message(200, 42), &signature));
        assert!(!enclave.verify_signature(&message(403, 43), &signature));
        assert_ne!(watch.gas_address(), Address::ZERO);
    }
}
