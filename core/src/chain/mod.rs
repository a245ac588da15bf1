//! The chain client: K3s-DaaS's one code path to Sui.
//!
//! Written once against the official SDK — `sui-rpc` (gRPC, `sui.rpc.v2`)
//! and `sui-transaction-builder` — it talks to the embedded devnet and to
//! Sui testnet or mainnet alike; only the [`ChainConfig`] differs.
//!
//! - [`profile`]: [`Profile`] and the `[chain]` configuration section;
//! - [`client`]: [`ChainClient`], object reads, coin selection, gas, and the
//!   execution pipeline (dry run, sign, execute, finality);
//! - [`ptb`]: the programmable transaction of every entry function, offline;
//! - [`calls`]: typed calls of the `k3s_daas` entry functions;
//! - [`reads`]: typed reads of the package's objects;
//! - [`events`]: a resumable follower of the package's events;
//! - [`signer`]: what a wallet provides to sign ([`TransactionSigner`]);
//! - [`error`]: [`ChainError`], including typed Move aborts.
//!
//! Every call has a span; a failed call is traced there at debug level
//! and returned. Its caller logs it, knowing whether it retries.

pub mod calls;
pub mod client;
pub mod error;
pub mod events;
pub mod profile;
pub mod ptb;
pub mod reads;
pub mod signer;

pub use client::{
    ChainClient, ChangeKind, CoinRef, EmittedEvent, GasOptions, ObjectChange, RawObject,
    ServiceInfo, TxOutcome,
};
pub use error::{ChainError, MoveAbort, Stage};
pub use events::{
    ChainEvent, CursorStore, EventCursor, EventFollower, FileCursorStore, MemoryCursorStore,
    ReadStats, StartAt,
};
pub use profile::{ChainConfig, Finality, Profile};
pub use signer::TransactionSigner;
