//! What a chain event means for the master: which cached decisions every
//! replica drops, and what the leader does to worker nodes.

use daas_core::package::staking::Role;
use daas_core::package::{PackageEvent, SealTokenId};
use sui_sdk_types::Address;

/// What every replica's caches must forget after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalidate {
    /// Decisions about this seal token (its stake, expiry, unbonding or
    /// existence changed).
    Token(SealTokenId),
    /// Every decision (the pool's thresholds changed).
    All,
    /// Nothing (proposals, rejections, audit, enclave and gateway events).
    Nothing,
}

/// Why the leader takes a worker's nodes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// `request_unstake`: the token is inactive from now on.
    Unstaked,
    /// `withdraw`: the token is gone.
    Withdrawn,
    /// An approved slash. Slashing is punitive: the node goes even when
    /// the stake left still covers the worker minimum.
    Slashed,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unstaked => "unstake requested",
            Self::Withdrawn => "stake withdrawn",
            Self::Slashed => "slashed",
        })
    }
}

/// What the leader does after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaderAction {
    /// Revoke every node and bootstrap token of this worker token.
    Revoke(SealTokenId, Cause),
    /// Re-check every node against the chain (thresholds changed, so
    /// workers may now be under-staked).
    Recheck,
    /// Nothing to do for nodes.
    Nothing,
}

/// The cache invalidation an event calls for.
pub(crate) fn invalidation(event: &PackageEvent) -> Invalidate {
    if let PackageEvent::ParamsUpdated(_) = event {
        return Invalidate::All;
    }
    event
        .affected_token()
        .map_or(Invalidate::Nothing, Invalidate::Token)
}

/// What the leader does after `event`, for the stake pool `pool`. Events of
/// user tokens and of other pools leave nodes alone.
pub(crate) fn leader_action(event: &PackageEvent, pool: Address) -> LeaderAction {
    let worker = |event_pool: Address, role: Role, token: SealTokenId, cause: Cause| {
        if event_pool == pool && role == Role::Worker {
            LeaderAction::Revoke(token, cause)
        } else {
            LeaderAction::Nothing
        }
    };
    match event {
        PackageEvent::UnstakeRequested(e) => worker(e.pool_id, e.role, e.token_id, Cause::Unstaked),
        PackageEvent::Withdrawn(e) => worker(e.pool_id, e.role, e.token_id, Cause::Withdrawn),
        PackageEvent::SlashApproved(e) => worker(e.pool_id, e.role, e.token_id, Cause::Slashed),
        PackageEvent::ParamsUpdated(e) if e.pool_id == pool => LeaderAction::Recheck,
        _ => LeaderAction::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daas_core::package::Mist;
    use daas_core::package::staking::{
        ParamsUpdated, PoolParams, SlashApproved, SlashRejected, StakeAdded, UnstakeRequested,
        Withdrawn,
    };

    const POOL: Address = Address::new([1; 32]);
    const TOKEN: SealTokenId = SealTokenId::new(Address::new([2; 32]));

    fn unstake(role: Role, pool: Address) -> PackageEvent {
        PackageEvent::from(UnstakeRequested {
            pool_id: pool,
            token_id: TOKEN,
            owner: Address::new([3; 32]),
            role,
            node_id: b"n".to_vec(),
            stake: Mist::new(5),
            unbonding_until_ms: 9,
        })
    }

    fn slashed(role: Role) -> PackageEvent {
        PackageEvent::from(SlashApproved {
            pool_id: POOL,
            proposal_id: 0,
            token_id: TOKEN,
            owner: Address::new([3; 32]),
            role,
            node_id: b"n".to_vec(),
            slashed: Mist::new(1),
            stake: Mist::new(9_000_000_000),
            tier: None,
            approver: Address::new([4; 32]),
        })
    }

    #[test]
    fn worker_unstake_withdraw_and_slash_revoke() {
        assert_eq!(
            leader_action(&unstake(Role::Worker, POOL), POOL),
            LeaderAction::Revoke(TOKEN, Cause::Unstaked)
        );
        let withdrawn = PackageEvent::from(Withdrawn {
            pool_id: POOL,
            token_id: TOKEN,
            owner: Address::new([3; 32]),
            role: Role::Worker,
            node_id: b"n".to_vec(),
            amount: Mist::new(1),
        });
        assert_eq!(
            leader_action(&withdrawn, POOL),
            LeaderAction::Revoke(TOKEN, Cause::Withdrawn)
        );
        // Punitive: the stake left (9 SUI) is above the worker minimum.
        assert_eq!(
            leader_action(&slashed(Role::Worker), POOL),
            LeaderAction::Revoke(TOKEN, Cause::Slashed)
        );
    }

    #[test]
    fn users_and_other_pools_leave_nodes_alone_but_caches_drop() {
        assert_eq!(
            leader_action(&unstake(Role::User, POOL), POOL),
            LeaderAction::Nothing
        );
        assert_eq!(
            leader_action(&unstake(Role::Worker, Address::new([9; 32])), POOL),
            LeaderAction::Nothing
        );
        assert_eq!(
            leader_action(&slashed(Role::User), POOL),
            LeaderAction::Nothing
        );
        assert_eq!(
            invalidation(&unstake(Role::User, POOL)),
            Invalidate::Token(TOKEN)
        );
        assert_eq!(
            invalidation(&slashed(Role::Worker)),
            Invalidate::Token(TOKEN)
        );
    }

    #[test]
    fn params_drop_everything_and_recheck_nodes() {
        let event = PackageEvent::from(ParamsUpdated {
            pool_id: POOL,
            params: PoolParams::default(),
        });
        assert_eq!(invalidation(&event), Invalidate::All);
        assert_eq!(leader_action(&event, POOL), LeaderAction::Recheck);
    }

    #[test]
    fn top_ups_rejections_change_no_node() {
        let added = PackageEvent::from(StakeAdded {
            pool_id: POOL,
            token_id: TOKEN,
            owner: Address::new([3; 32]),
            role: Role::Worker,
            node_id: b"n".to_vec(),
            added: Mist::new(1),
            stake: Mist::new(2),
            tier: None,
        });
        assert_eq!(invalidation(&added), Invalidate::Token(TOKEN));
        assert_eq!(leader_action(&added, POOL), LeaderAction::Nothing);
        let rejected = PackageEvent::from(SlashRejected {
            pool_id: POOL,
            proposal_id: 1,
            token_id: TOKEN,
            rejecter: Address::new([4; 32]),
        });
        assert_eq!(invalidation(&rejected), Invalidate::Nothing);
        assert_eq!(leader_action(&rejected, POOL), LeaderAction::Nothing);
    }
}
