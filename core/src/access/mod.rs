//! Stake-gated cluster access for users (`kubectl`).
//!
//! The flow (ARCHITECTURE.md, "Who may do what"):
//!
//! 1. `kubectl` runs `daas-console credential` as a client-go exec
//!    credential plugin; it signs a short-lived [`token`] with the user's
//!    wallet key (a Sui personal message) and hands it to `kubectl`, which
//!    sends it as a bearer token.
//! 2. The API server asks the master through a webhook
//!    ([`tokenreview`]: `authentication.k8s.io/v1` `TokenReview`).
//! 3. The master parses and verifies the token offline
//!    ([`AccessToken::parse`], [`UnverifiedToken::verify`]), reads the seal
//!    token, its stake record and the pool from the chain, and [`review`](mod@review)
//!    decides who the user is and which tier groups they get.
//!
//! Workers prove their seal tokens with a [`worker_proof`], in the same
//! signed envelope as the access token (the private `envelope` module), for
//! a node whose name is a [`NodeName`]; [`worker`] holds the one rule of
//! whether a seal token may hold a node, with the owner, status and
//! chain-read checks of [`review`](mod@review).
//!
//! A node's owner orders its agent (stake, register, unstake) with an
//! [`agent_request`] in the same envelope, bound to the agent's TLS key.
//!
//! [`kubeconfig`] writes the kubeconfig whose user runs the plugin;
//! [`opaque`] holds the seed's opaque 64-hex seal tokens that the master
//! issues against the same proof.

pub mod agent_request;
mod envelope;
pub mod kubeconfig;
pub mod node_name;
pub mod opaque;
pub mod review;
pub mod token;
pub mod tokenreview;
pub mod worker;
pub mod worker_proof;

pub use envelope::EnvelopeError;
pub use node_name::{MAX_NODE_NAME_LEN, NodeName, NodeNameError};
pub use opaque::{OpaqueToken, OpaqueTokenError, OpaqueTokenHash};
pub use review::{
    Claimant, Decision, DenyReason, Grant, ReviewError, TimedDecision, decide, decide_claimant,
    review, review_at_chain_time, review_claimant,
};
pub use token::{
    AccessToken, Claims, MAX_LIFETIME_SECS, TokenError, UnverifiedToken, VerifiedToken,
    unix_now_secs,
};
