//! The K3s-DaaS devnet: a local, Sui-compatible ledger on loopback.
//!
//! It serves the subset of `sui.rpc.v2` that K3s-DaaS uses (with the
//! server traits of `sui-rpc`), keeps its state in a redb database, and
//! executes the `k3s_daas` package natively. Layers, bottom up:
//!
//! - [`store`]: redb tables, one write transaction per executed transaction;
//! - [`execute`]: signature, gas, ownership and version checks, effects;
//!   the PTB interpreter runs over a [`working_set`]; [`gas`] holds the
//!   schedule;
//! - [`package`]: the `k3s_daas` entry functions; [`nitro`]: the
//!   framework's `load_nitro_attestation`, verified natively;
//! - [`ledger`]: the single writer, checkpoints ([`checkpoint`]), genesis
//!   ([`genesis`]) and the [`faucet`];
//! - [`service`] and [`server`]: gRPC plus the HTTP devnet endpoints;
//!   [`events`] answers `ListEvents` and `SubscribeEvents`.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod events;
pub mod execute;
pub mod faucet;
pub mod gas;
pub mod genesis;
pub mod ledger;
pub mod nitro;
pub mod object;
pub mod package;
mod ptb;
pub mod server;
pub mod service;
pub mod store;
pub mod working_set;

pub use ledger::{Ledger, LedgerError};
pub use server::{DEFAULT_FAUCET_AMOUNT, DevnetConfig, RunningDevnet, ServerError, start};
