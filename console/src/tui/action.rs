//! Actions: what keys turn into, and the only way state changes.

use daas_core::package::SealTokenId;

use crate::ops::drain::DrainOptions;
use crate::ops::slash::Decision;
use crate::ops::stake::{StakeKind, TokenAction};

/// A screen of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// Master, attestation, chain, wallet, stake, nodes, events.
    Overview,
    /// Wallet keys and balances.
    Wallets,
    /// Seal tokens and staking.
    Stake,
    /// Nodes.
    Nodes,
    /// The master's attestation.
    Attestation,
    /// Slash proposals.
    Slash,
    /// The audit log: checkpoints, and verifying an event.
    Audit,
    /// The on-chain gateway (arrives with the gateway work).
    Gateway,
}

impl Screen {
    /// The screens in tab order, with their palette names.
    pub const ALL: [(Self, &'static str); 8] = [
        (Self::Overview, "overview"),
        (Self::Wallets, "wallets"),
        (Self::Stake, "stake"),
        (Self::Nodes, "nodes"),
        (Self::Attestation, "attestation"),
        (Self::Slash, "slash"),
        (Self::Audit, "audit"),
        (Self::Gateway, "gateway"),
    ];

    /// The palette name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("?", |(_, n)| n)
    }
}

/// A change of state outside the console: always confirmed first, and
/// refused in a read-only session.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Generate a wallet key.
    CreateKey {
        /// Its alias.
        alias: String,
    },
    /// Import a `suiprivkey` or a mnemonic.
    ImportKey {
        /// Its alias.
        alias: String,
        /// The secret (zeroized when dropped).
        secret: zeroize::Zeroizing<String>,
    },
    /// Make a key active.
    UseKey(String),
    /// Ask the faucet for SUI.
    Faucet,
    /// Show a key's secret.
    ExportKey(String),
    /// Stake.
    Stake(StakeKind),
    /// Act on a seal token.
    Token(SealTokenId, TokenAction),
    /// Cordon or uncordon a node.
    Cordon(String, bool),
    /// Drain a node.
    Drain(String, DrainOptions),
    /// Propose slashing a seal token.
    ProposeSlash {
        /// The token.
        token: SealTokenId,
        /// Why.
        reason: String,
    },
    /// Approve or reject a proposal.
    DecideSlash(u64, Decision),
}

impl Mutation {
    /// The action's name, for refusals and the status line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateKey { .. } => "create a key",
            Self::ImportKey { .. } => "import a key",
            Self::UseKey(_) => "choose the active key",
            Self::Faucet => "ask the faucet",
            Self::ExportKey(_) => "export a key",
            Self::Stake(_) => "stake",
            Self::Token(_, action) => action.name(),
            Self::Cordon(_, true) => "cordon",
            Self::Cordon(_, false) => "uncordon",
            Self::Drain(..) => "drain",
            Self::ProposeSlash { .. } => "propose a slash",
            Self::DecideSlash(_, Decision::Approve) => "approve a slash",
            Self::DecideSlash(_, Decision::Reject) => "reject a slash",
        }
    }

    /// Whether the action signs with the wallet key (and may need its
    /// passphrase).
    pub fn signs(&self) -> bool {
        matches!(
            self,
            Self::CreateKey { .. }
                | Self::ImportKey { .. }
                | Self::ExportKey(_)
                | Self::Stake(_)
                | Self::Token(..)
                | Self::ProposeSlash { .. }
                | Self::DecideSlash(..)
                | Self::UseKey(_)
        )
    }
}

/// What keys turn into.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave.
    Quit,
    /// Close the popup, or leave a detail view.
    Back,
    /// Show every key of the screen.
    Help,
    /// Open the palette.
    Palette,
    /// Switch screens.
    Goto(Screen),
    /// Reload every source now.
    Refresh,
    /// Show a message in the status line until something replaces it, such
    /// as how to use a mode (empty: back to the hint).
    Status(String),
    /// Show a result in the status line for a moment.
    Flash(String),
    /// Show why a key does nothing here, as an error in the status line.
    Refused(String),
    /// Ask to confirm a mutation (refused when read-only).
    Ask(Mutation),
    /// Run a confirmed mutation.
    Run(Mutation),
    /// Open a form for input.
    Form(super::components::form::Form),
    /// Verify an audit event against the chain (reads only).
    VerifyAudit(String),
    /// Ask a node's agent for its live metrics (for the node's detail).
    AgentMetrics(String),
    /// Find a node's seal token in the public staking status (a public
    /// listing hides it), then open the slash proposal form.
    SlashNode(String),
}
