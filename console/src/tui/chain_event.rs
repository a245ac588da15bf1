//! One line for each event of the `k3s_daas` package, as the Overview's
//! "Recent chain events" shows it: who did what to which seal token, node
//! or enclave. Text written on chain by others (slash reasons, request
//! paths, node and config names) stays on its line, escaped.

use daas_core::package::{PackageEvent, Role, Tier};

use super::components::short;
use daas_core::escape::single_line;

/// One line for `event`.
pub fn describe(event: &PackageEvent) -> String {
    match event {
        PackageEvent::StakeCreated(e) => format!(
            "{} staked {} ({})",
            abbreviated(&e.owner),
            e.stake,
            holder(e.role, &e.node_id, e.tier)
        ),
        PackageEvent::StakeAdded(e) => format!(
            "{} added {} ({}, now {})",
            abbreviated(&e.owner),
            e.added,
            holder(e.role, &e.node_id, e.tier),
            e.stake
        ),
        PackageEvent::TokenRefreshed(e) => format!(
            "{} refreshed seal token {} ({})",
            abbreviated(&e.owner),
            abbreviated(&e.token_id),
            holder(e.role, &e.node_id, e.tier)
        ),
        PackageEvent::UnstakeRequested(e) => format!(
            "{} unstaked {} ({}): access ends, unbonding",
            abbreviated(&e.owner),
            e.stake,
            holder(e.role, &e.node_id, None)
        ),
        PackageEvent::Withdrawn(e) => format!(
            "{} withdrew {} ({})",
            abbreviated(&e.owner),
            e.amount,
            holder(e.role, &e.node_id, None)
        ),
        PackageEvent::SlashProposed(e) => format!(
            "slash #{} proposed against seal token {} by {}: {}",
            e.proposal_id,
            abbreviated(&e.token_id),
            abbreviated(&e.reporter),
            single_line(&e.reason)
        ),
        PackageEvent::SlashApproved(e) => format!(
            "slash #{} approved: {} slashed from {} ({})",
            e.proposal_id,
            e.slashed,
            abbreviated(&e.owner),
            holder(e.role, &e.node_id, e.tier)
        ),
        PackageEvent::SlashRejected(e) => {
            format!(
                "slash #{} rejected by {}",
                e.proposal_id,
                abbreviated(&e.rejecter)
            )
        }
        PackageEvent::ParamsUpdated(_) => "staking parameters updated".to_owned(),
        PackageEvent::PauseChanged(e) if e.paused => "staking paused".to_owned(),
        PackageEvent::PauseChanged(_) => "staking resumed".to_owned(),
        PackageEvent::TreasuryWithdrawn(e) => {
            format!(
                "treasury: {} withdrawn to {}",
                e.amount,
                abbreviated(&e.recipient)
            )
        }
        PackageEvent::SlasherGranted(e) => {
            format!("SlasherCap granted to {}", abbreviated(&e.recipient))
        }
        PackageEvent::K8sRequestSubmitted(e) => format!(
            "gateway request {} {} by {}",
            e.method,
            single_line(&e.path),
            abbreviated(&e.sender)
        ),
        PackageEvent::K8sResultRecorded(e) => format!(
            "gateway result {} for request {}",
            e.status_code,
            abbreviated(&e.request_id)
        ),
        PackageEvent::AuditLogCreated(e) => {
            format!("audit log {} created", abbreviated(&e.log_id))
        }
        PackageEvent::CheckpointAnchored(e) => format!(
            "audit log anchored at {} event(s), root {}",
            e.tree_size,
            short(&hex::encode(&e.root))
        ),
        PackageEvent::EnclaveConfigCreated(e) => format!(
            "enclave config \"{}\" created (version {})",
            single_line(&e.name),
            e.version
        ),
        PackageEvent::EnclaveConfigUpdated(e) => format!(
            "enclave config \"{}\" expects new PCRs (version {})",
            single_line(&e.name),
            e.version
        ),
        PackageEvent::EnclaveRegistered(e) => format!(
            "enclave {} registered (config version {})",
            abbreviated(&e.enclave_id),
            e.config_version
        ),
        PackageEvent::EnclaveDestroyed(e) => {
            format!("enclave {} destroyed", abbreviated(&e.enclave_id))
        }
        // The enum is non-exhaustive: an event added to the package later.
        other => other.name().to_owned(),
    }
}

/// An address or object id as `0xabab…abab`.
fn abbreviated(id: &impl ToString) -> String {
    short(&id.to_string())
}

/// What a seal token holds: a worker's node, or a user's tier.
fn holder(role: Role, node_id: &[u8], tier: Option<Tier>) -> String {
    match (role, tier) {
        (Role::Worker, _) => format!("node `{}`", single_line(&String::from_utf8_lossy(node_id))),
        (Role::User, Some(tier)) => format!("{tier} tier"),
        (Role::User, None) => "user".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daas_core::package::staking::{SlashProposed, StakeCreated};
    use daas_core::package::{Mist, SealTokenId};
    use sui_sdk_types::Address;

    fn created(role: Role, node: &str, tier: Option<Tier>) -> PackageEvent {
        StakeCreated {
            pool_id: Address::new([1; 32]),
            token_id: SealTokenId::new(Address::new([2; 32])),
            owner: Address::new([0xab; 32]),
            role,
            node_id: node.as_bytes().to_vec(),
            stake: Mist::new(5_000_000_000),
            tier,
            created_at_ms: 0,
            expires_at_ms: 0,
        }
        .into()
    }

    #[test]
    fn a_stake_names_its_owner_and_what_it_holds() {
        assert_eq!(
            describe(&created(Role::Worker, "w-1", None)),
            "0xabab…abab staked 5 SUI (node `w-1`)"
        );
        assert_eq!(
            describe(&created(Role::User, "", Some(Tier::Admin))),
            "0xabab…abab staked 5 SUI (admin tier)"
        );
    }

    #[test]
    fn text_written_on_chain_by_others_stays_on_its_line() {
        let proposed = SlashProposed {
            pool_id: Address::new([1; 32]),
            proposal_id: 7,
            token_id: SealTokenId::new(Address::new([2; 32])),
            reporter: Address::new([3; 32]),
            evidence_hash: Vec::new(),
            reason: "late\n\u{1b}]52;c;eA==\u{7}".to_owned(),
            created_at_ms: 0,
        };
        let line = describe(&proposed.into());
        assert!(
            line.ends_with(": late\\u000a\\u001b]52;c;eA==\\u0007"),
            "{line}"
        );
        let node = describe(&created(Role::Worker, "w\u{202e}1", None));
        assert!(node.contains("node `w\\u202e1`"), "{node}");
    }
}
