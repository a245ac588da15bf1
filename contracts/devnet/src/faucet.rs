//! The devnet-only faucet.
//!
//! The faucet owns one big SUI coin from genesis and pays out by executing
//! an ordinary signed transaction (`SplitCoins` from its gas coin, then
//! `TransferObjects`), so every payout is a real transaction recorded in a
//! checkpoint. Its key is fixed and public: this is a local devnet.
//!
//! HTTP: `POST /v2/gas` with `{"FixedAmountRequest":{"recipient":"0x…"}}`,
//! answered like Sui's faucet (`{"status":"Success","coins_sent":[…]}`), so
//! `sui_rpc::faucet::FaucetClient` works against the devnet's URL.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sui_crypto::SuiSigner;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{
    Address, Argument, Command, Digest, GasPayment, Input, ObjectReference,
    ProgrammableTransaction, SplitCoins, Transaction, TransactionExpiration, TransactionKind,
    TransferObjects, UserSignature,
};
use tracing::Instrument;

use crate::gas;
use crate::ledger::Ledger;

/// Id of the faucet's coin.
pub const FAUCET_COIN_ID: Address =
    Address::from_static("0x000000000000000000000000000000000000000000000000000000000000fa00");

/// Seed of the faucet's Ed25519 key (public on purpose: devnet only).
const FAUCET_SEED: [u8; 32] = *b"k3s-daas devnet faucet key seed!";

/// Gas budget of a faucet payout.
pub const FAUCET_GAS_BUDGET: u64 = 10_000_000;

/// The faucet's key.
pub fn faucet_key() -> Ed25519PrivateKey {
    Ed25519PrivateKey::new(FAUCET_SEED)
}

/// The faucet's address.
pub fn faucet_address() -> Address {
    faucet_key().public_key().derive_address()
}

/// Builds and signs the payout of `amount` MIST to `recipient` from the
/// faucet coin `coin`.
pub fn payout_transaction(
    coin: ObjectReference,
    recipient: Address,
    amount: u64,
) -> Result<(Transaction, UserSignature), sui_crypto::SignatureError> {
    let sender = faucet_address();
    let transaction = Transaction {
        kind: TransactionKind::ProgrammableTransaction(ProgrammableTransaction {
            inputs: vec![
                Input::Pure(crate::object::encode(&amount)),
                Input::Pure(recipient.as_bytes().to_vec()),
            ],
            commands: vec![
                Command::SplitCoins(SplitCoins {
                    coin: Argument::Gas,
                    amounts: vec![Argument::Input(0)],
                }),
                Command::TransferObjects(TransferObjects {
                    objects: vec![Argument::NestedResult(0, 0)],
                    address: Argument::Input(1),
                }),
            ],
        }),
        sender,
        gas_payment: GasPayment {
            objects: vec![coin],
            owner: sender,
            price: gas::REFERENCE_GAS_PRICE,
            budget: FAUCET_GAS_BUDGET,
        },
        expiration: TransactionExpiration::None,
    };
    let signature = faucet_key().sign_transaction(&transaction)?;
    Ok((transaction, signature))
}

/// A coin the faucet sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoinSent {
    /// Amount in MIST.
    pub amount: u64,
    /// The new coin's id.
    pub id: Address,
    /// Digest of the payout transaction.
    pub transfer_tx_digest: Digest,
}

/// Body of `POST /v2/gas`.
#[derive(Debug, Clone, Deserialize)]
pub enum FaucetRequest {
    /// Send the faucet's fixed amount to `recipient`.
    FixedAmountRequest {
        /// Recipient address.
        recipient: String,
    },
}

/// Outcome in a faucet answer.
#[derive(Debug, Clone, Serialize)]
pub enum FaucetStatus {
    /// The coins were sent.
    Success,
    /// The request failed.
    Failure(FaucetFailure),
}

/// Why a faucet request failed (Sui's shape).
#[derive(Debug, Clone, Serialize)]
pub enum FaucetFailure {
    /// Internal error, with a description.
    Internal(String),
}

/// Answer of `POST /v2/gas`.
#[derive(Debug, Clone, Serialize)]
pub struct FaucetResponse {
    /// Outcome.
    pub status: FaucetStatus,
    /// Coins sent on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coins_sent: Option<Vec<CoinSent>>,
}

fn failure(code: StatusCode, message: String) -> (StatusCode, Json<FaucetResponse>) {
    (
        code,
        Json(FaucetResponse {
            status: FaucetStatus::Failure(FaucetFailure::Internal(message)),
            coins_sent: None,
        }),
    )
}

/// `POST /v2/gas`.
pub async fn gas_handler(
    State(ledger): State<Arc<Ledger>>,
    body: Result<Json<FaucetRequest>, axum::extract::rejection::JsonRejection>,
) -> (StatusCode, Json<FaucetResponse>) {
    let request = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"FixedAmountRequest\":{{\"recipient\":\"0x…\"}}}}: {e}"),
            );
        }
    };
    let FaucetRequest::FixedAmountRequest { recipient } = request;
    let recipient = match recipient.parse::<Address>() {
        Ok(a) => a,
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                format!("recipient {recipient:?} is not a Sui address: {e}"),
            );
        }
    };
    let span = tracing::info_span!("faucet", %recipient);
    let result = tokio::task::spawn_blocking(move || ledger.faucet(recipient))
        .instrument(span)
        .await;
    match result {
        Ok(Ok(coin)) => (
            StatusCode::CREATED,
            Json(FaucetResponse {
                status: FaucetStatus::Success,
                coins_sent: Some(vec![coin]),
            }),
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "faucet payout failed");
            failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, "faucet task failed");
            failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "faucet task failed".to_owned(),
            )
        }
    }
}
