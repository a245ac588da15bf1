//! What the screens show: each source's latest answer or error, updated
//! only by [`DataEvent`]s from the background tasks ([`super::loader`]).
//! Drawing reads it and never waits.

use std::collections::BTreeMap;

use daas_core::api::access::Readiness;
use daas_core::package::Mist;
use daas_core::package::staking::PoolParams;
use daas_core::wallet::WalletSummary;
use sui_sdk_types::Address;

use daas_core::api::audit::AuditCheckpointList;

use crate::ops::attest::MasterAttestation;
use crate::ops::audit::VerifiedEvent;
use crate::ops::gateway::Request;
use crate::ops::nodes::{AgentMetricsView, NodeList};
use crate::ops::slash::{Decided, Proposal};
use crate::ops::stake::StakeStatus;

/// One source's state: its last value, and the last error if the latest
/// attempt failed (the value is kept: stale data beats none).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// The last value received.
    pub value: Option<T>,
    /// Why the latest attempt failed.
    pub error: Option<String>,
    /// Counts the values received, so views derived from them know when
    /// to recompute.
    pub version: u64,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Self {
            value: None,
            error: None,
            version: 0,
        }
    }
}

impl<T> Loaded<T> {
    /// Nothing received yet.
    pub fn is_loading(&self) -> bool {
        self.value.is_none() && self.error.is_none()
    }

    /// Records an attempt's outcome.
    pub fn set(&mut self, result: Result<T, String>) {
        match result {
            Ok(value) => {
                self.value = Some(value);
                self.error = None;
                self.version += 1;
            }
            Err(error) => self.error = Some(error),
        }
    }
}

/// The master's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterView {
    /// Its version (`/healthz`).
    pub version: String,
    /// Its readiness checks (`/readyz`).
    pub readiness: Readiness,
}

/// The chain's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainView {
    /// The endpoint.
    pub endpoint: String,
    /// The chain id.
    pub chain_id: String,
    /// The latest checkpoint.
    pub checkpoint: u64,
    /// The chain's clock (ms).
    pub clock_ms: u64,
}

/// The wallet and its balances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WalletView {
    /// The index, `None` before the first key.
    pub summary: Option<WalletSummary>,
    /// Balances by address, as read.
    pub balances: BTreeMap<Address, Mist>,
    /// The key the session uses (configured or active).
    pub current: Option<Address>,
}

/// The slash queue and history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlashView {
    /// Pending proposals.
    pub pending: Vec<Proposal>,
    /// Decided proposals, newest last.
    pub history: Vec<Decided>,
    /// Whether the session's key holds a `SlasherCap`.
    pub is_slasher: bool,
}

/// The last verification of an audit event asked for on the Audit screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditCheck {
    /// Being verified.
    Running(String),
    /// Verified against the chain.
    Verified(Box<VerifiedEvent>),
    /// Not verified, and why.
    Failed {
        /// The event asked for.
        audit_id: String,
        /// Why it does not verify.
        error: String,
    },
}

/// One recent chain event, for the Overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// Checkpoint.
    pub checkpoint: u64,
    /// A one-line description.
    pub text: String,
}

/// Everything the screens show.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// The master's health.
    pub master: Loaded<MasterView>,
    /// The master's attestation.
    pub attestation: Loaded<MasterAttestation>,
    /// The chain.
    pub chain: Loaded<ChainView>,
    /// The wallet.
    pub wallet: Loaded<WalletView>,
    /// The session key's stake.
    pub stake: Loaded<StakeStatus>,
    /// The stake pool's parameters (tier prices), read even with no key.
    pub pool: Option<PoolParams>,
    /// The nodes.
    pub nodes: Loaded<NodeList>,
    /// Slash proposals.
    pub slash: Loaded<SlashView>,
    /// Recent chain events, newest last.
    pub events: Loaded<Vec<EventLine>>,
    /// Requests submitted through the on-chain gateway, in chain order.
    pub gateway: Loaded<Vec<Request>>,
    /// The audit log's checkpoints.
    pub audit: Loaded<AuditCheckpointList>,
    /// The last audit verification.
    pub audit_check: Option<AuditCheck>,
    /// The live metrics of the node whose detail is open, from its agent.
    pub agent: Loaded<AgentMetricsView>,
}

/// Most recent events kept for the Overview.
pub const RECENT_EVENTS: usize = 50;

/// A background task's news.
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// The master's health.
    Master(Result<MasterView, String>),
    /// The master's attestation.
    Attestation(Result<MasterAttestation, String>),
    /// The chain.
    Chain(Result<ChainView, String>),
    /// The wallet.
    Wallet(Result<WalletView, String>),
    /// The stake.
    Stake(Result<StakeStatus, String>),
    /// The stake pool's parameters, when there is no key to read a stake
    /// status (which carries them) for.
    Pool(PoolParams),
    /// The nodes.
    Nodes(Result<NodeList, String>),
    /// Slash proposals.
    Slash(Result<SlashView, String>),
    /// New chain events.
    Events(Result<Vec<EventLine>, String>),
    /// Gateway requests.
    Gateway(Result<Vec<Request>, String>),
    /// The audit log's checkpoints.
    Audit(Result<AuditCheckpointList, String>),
    /// An audit verification's progress or result.
    AuditCheck(AuditCheck),
}

impl Data {
    /// Applies one piece of news.
    pub fn apply(&mut self, event: DataEvent) {
        match event {
            DataEvent::Master(r) => self.master.set(r),
            DataEvent::Attestation(r) => self.attestation.set(r),
            DataEvent::Chain(r) => self.chain.set(r),
            DataEvent::Wallet(r) => self.wallet.set(r),
            DataEvent::Stake(r) => {
                if let Ok(status) = &r {
                    self.pool = Some(status.params);
                }
                self.stake.set(r);
            }
            DataEvent::Pool(params) => self.pool = Some(params),
            DataEvent::Nodes(r) => self.nodes.set(r),
            DataEvent::Slash(r) => self.slash.set(r),
            DataEvent::Gateway(r) => self.gateway.set(r),
            DataEvent::Events(Ok(mut new)) => {
                let events = self.events.value.get_or_insert_with(Vec::new);
                events.append(&mut new);
                let excess = events.len().saturating_sub(RECENT_EVENTS);
                events.drain(..excess);
                self.events.error = None;
            }
            DataEvent::Events(Err(error)) => self.events.error = Some(error),
            DataEvent::Audit(r) => self.audit.set(r),
            DataEvent::AuditCheck(check) => self.audit_check = Some(check),
        }
    }

    /// Whether the master's attestation is INSECURE development attestation.
    pub fn insecure(&self) -> bool {
        self.attestation
            .value
            .as_ref()
            .is_some_and(|a| a.insecure_dev)
    }
}
