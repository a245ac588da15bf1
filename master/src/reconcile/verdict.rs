//! Whether a worker's node (or bootstrap token) may stay, judged from a
//! definite answer of the chain.

use daas_core::chain::reads::SealTokenState;
use daas_core::package::staking::{Role, TokenStatus};
use daas_core::package::{Mist, SealTokenId};
use sui_sdk_types::Address;

/// What one of the master's objects (a labelled Node, a bootstrap token
/// Secret) says about the worker it admitted, from its annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The seal token it was admitted with.
    pub(crate) seal_token: SealTokenId,
    /// The owner recorded at admission, if the annotation parses.
    pub(crate) owner: Option<Address>,
    /// The node name (the worker's node id on chain).
    pub(crate) node: String,
}

/// Why a worker loses its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The seal token object does not exist (withdrawn, or never did).
    Missing,
    /// The pool holds no stake record for it.
    NoStakeRecord,
    /// The token belongs to another pool.
    WrongPool,
    /// Token object owner, stake record owner and the admitted owner differ.
    OwnerMismatch,
    /// The token is a user token.
    NotWorker,
    /// The token names another node.
    NodeMismatch,
    /// `request_unstake` was called.
    Unbonding,
    /// Past its expiry.
    Expired,
    /// Stake below the worker minimum.
    UnderStaked {
        /// Stake left.
        stake: Mist,
        /// Worker minimum.
        required: Mist,
    },
    /// Slashed at least once: slashing is punitive, so a slashed worker
    /// token keeps no node even when the stake left covers the minimum.
    Slashed,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("seal token missing on chain"),
            Self::NoStakeRecord => f.write_str("no stake record"),
            Self::WrongPool => f.write_str("seal token of another pool"),
            Self::OwnerMismatch => f.write_str("owner changed"),
            Self::NotWorker => f.write_str("not a worker token"),
            Self::NodeMismatch => f.write_str("seal token names another node"),
            Self::Unbonding => f.write_str("unbonding"),
            Self::Expired => f.write_str("expired"),
            Self::UnderStaked { stake, required } => {
                write!(f, "under-staked ({stake} of {required})")
            }
            Self::Slashed => f.write_str("slashed"),
        }
    }
}

/// The decision about one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The worker may stay.
    Keep,
    /// The worker must go.
    Revoke(Reason),
}

/// Judges `claim` against the chain's `state` of its seal token at chain
/// time `now_ms`.
pub(crate) fn judge(state: &SealTokenState, claim: &Claim, now_ms: u64) -> Verdict {
    match failure(state, claim, now_ms) {
        Some(reason) => Verdict::Revoke(reason),
        None => Verdict::Keep,
    }
}

fn failure(state: &SealTokenState, claim: &Claim, now_ms: u64) -> Option<Reason> {
    let Some(record) = &state.record else {
        return Some(Reason::NoStakeRecord);
    };
    if state.token.value.pool_id != state.pool.id {
        return Some(Reason::WrongPool);
    }
    if state.object_owner() != Some(record.owner) || claim.owner != Some(record.owner) {
        return Some(Reason::OwnerMismatch);
    }
    if record.role != Role::Worker {
        return Some(Reason::NotWorker);
    }
    if record.node_id != claim.node.as_bytes() {
        return Some(Reason::NodeMismatch);
    }
    match record.status(now_ms, &state.pool.params) {
        TokenStatus::Active => {}
        TokenStatus::Unbonding { .. } => return Some(Reason::Unbonding),
        TokenStatus::Expired { .. } => return Some(Reason::Expired),
        TokenStatus::UnderStaked { stake, required } => {
            return Some(Reason::UnderStaked { stake, required });
        }
    }
    (record.slashed_total > Mist::new(0)).then_some(Reason::Slashed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use daas_core::chain::RawObject;
    use daas_core::chain::reads::Versioned;
    use daas_core::package::MoveTable;
    use daas_core::package::staking::PoolParams;
    use daas_core::package::staking::{SealToken, StakePool, StakeRecord};
    use sui_sdk_types::{Digest, Owner, StructTag};

    const OWNER: Address = Address::new([7; 32]);
    const POOL: Address = Address::new([1; 32]);
    const SUI: u64 = 1_000_000_000;

    fn state() -> SealTokenState {
        let id = SealTokenId::new(Address::new([2; 32]));
        let table = MoveTable {
            id: Address::new([5; 32]),
            size: 0,
        };
        SealTokenState {
            token: Versioned {
                value: SealToken {
                    id,
                    pool_id: POOL,
                    owner: OWNER,
                    role: Role::Worker,
                    node_id: b"worker-1".to_vec(),
                    created_at_ms: 0,
                },
                object: RawObject {
                    id: id.address(),
                    version: 1,
                    digest: Digest::ZERO,
                    owner: Owner::Address(OWNER),
                    object_type: StructTag::gas_coin(),
                    contents: Vec::new(),
                },
            },
            record: Some(StakeRecord {
                owner: OWNER,
                role: Role::Worker,
                node_id: b"worker-1".to_vec(),
                stake: Mist::new(10 * SUI),
                created_at_ms: 0,
                expires_at_ms: 1_000,
                unbonding_until_ms: None,
                slashed_total: Mist::new(0),
            }),
            pool: StakePool {
                id: POOL,
                params: PoolParams::default(),
                paused: false,
                total_staked: Mist::new(10 * SUI),
                treasury: Mist::new(0),
                records: table,
                proposals: table,
                next_proposal_id: 0,
            },
        }
    }

    fn claim() -> Claim {
        Claim {
            seal_token: SealTokenId::new(Address::new([2; 32])),
            owner: Some(OWNER),
            node: "worker-1".to_owned(),
        }
    }

    fn verdict_after(change: impl FnOnce(&mut SealTokenState, &mut Claim)) -> Verdict {
        let (mut state, mut claim) = (state(), claim());
        change(&mut state, &mut claim);
        judge(&state, &claim, 500)
    }

    type Change = Box<dyn FnOnce(&mut SealTokenState, &mut Claim)>;

    fn record(state: &mut SealTokenState) -> &mut StakeRecord {
        state.record.as_mut().unwrap()
    }

    #[test]
    fn an_active_unslashed_worker_token_keeps_its_node() {
        assert_eq!(verdict_after(|_, _| {}), Verdict::Keep);
    }

    #[test]
    fn every_reason_revokes() {
        use Reason::*;
        let cases: Vec<(Reason, Change)> = vec![
            (NoStakeRecord, Box::new(|s, _| s.record = None)),
            (
                WrongPool,
                Box::new(|s, _| s.pool.id = Address::new([9; 32])),
            ),
            (
                OwnerMismatch,
                Box::new(|s, _| s.token.object.owner = Owner::Shared(1)),
            ),
            (OwnerMismatch, Box::new(|_, c| c.owner = None)),
            (
                OwnerMismatch,
                Box::new(|_, c| c.owner = Some(Address::new([8; 32]))),
            ),
            (NotWorker, Box::new(|s, _| record(s).role = Role::User)),
            (
                NodeMismatch,
                Box::new(|_, c| c.node = "worker-2".to_owned()),
            ),
            (
                Unbonding,
                Box::new(|s, _| record(s).unbonding_until_ms = Some(9)),
            ),
            (Expired, Box::new(|s, _| record(s).expires_at_ms = 500)),
            (
                UnderStaked {
                    stake: Mist::new(SUI),
                    required: Mist::new(5 * SUI),
                },
                Box::new(|s, _| record(s).stake = Mist::new(SUI)),
            ),
            // Punitive: 9 SUI left is above the 5 SUI worker minimum.
            (
                Slashed,
                Box::new(|s, _| {
                    record(s).stake = Mist::new(9 * SUI);
                    record(s).slashed_total = Mist::new(SUI);
                }),
            ),
        ];
        for (reason, change) in cases {
            assert_eq!(verdict_after(change), Verdict::Revoke(reason), "{reason}");
        }
    }
}
