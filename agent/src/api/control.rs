//! What the mutating routes do: [`AgentControl`], implemented by the run
//! loop. The API only authenticates the owner's order and hands it over.

use daas_core::package::Mist;
use futures::future::BoxFuture;

/// What an action did or started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// A sentence for the owner.
    pub message: String,
    /// The node's worker seal token, when known.
    pub seal_token: Option<String>,
}

/// Why an action was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Not possible in the agent's present state (e.g. already staked);
    /// answered 409.
    #[error("{0}")]
    Conflict(String),
    /// The order's parameters are unacceptable; answered 422.
    #[error("{0}")]
    Invalid(String),
    /// The chain or the master could not be reached or refused; answered
    /// 502 with this message.
    #[error("{0}")]
    Upstream(String),
}

/// The agent's actions behind `POST /api/v1/staking`, `/register` and
/// `/unstake`. Each is called only after the owner's signed order was
/// verified, and may return once the action has started.
pub trait AgentControl: Send + Sync + 'static {
    /// Stakes `amount` for the node (mints its worker seal token).
    fn stake(&self, amount: Mist) -> BoxFuture<'_, Result<Outcome, ControlError>>;
    /// Registers the node with the master.
    fn register(&self) -> BoxFuture<'_, Result<Outcome, ControlError>>;
    /// Drains the node and unstakes.
    fn unstake(&self) -> BoxFuture<'_, Result<Outcome, ControlError>>;
}
