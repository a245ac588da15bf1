//! The one worker rule: may this seal token hold this node, as the chain
//! says now?
//!
//! Admission (a register proof), heartbeats (a heartbeat proof) and the
//! master's reconciler (an admission record) all ask it through a
//! [`WorkerClaim`]: owner, seal token and node name. [`judge_worker`] is a
//! pure function over the decoded objects; [`judge_worker_read`] takes the
//! result of reading them, and [`review_worker`] reads them with the chain
//! client. A claim is allowed when its seal token exists in the configured
//! pool, the token object is owned by the claimed owner, the token's and the
//! stake record's `owner` fields are that owner, both say **worker** and
//! name the claimed node, the record is active (not unbonding, unexpired,
//! at least the worker minimum), and the token was **never slashed**:
//! slashing is punitive, so a slashed worker keeps no node and cannot
//! rejoin whatever stake is left. Each refusal has its own
//! [`WorkerDenyReason`].
//!
//! [`chain_time_ms`] is the time decisions are made at: the `Clock`
//! object `0x6`, or the wall clock if that is later.

use std::fmt;

use sui_sdk_types::Address;

use super::node_name::NodeName;
use super::review::{SealTokenRefusal, check_active, check_owner, decide_read, read_refusal};
use super::worker_proof::VerifiedWorkerProof;
use crate::chain::reads::SealTokenState;
use crate::chain::{ChainClient, ChainError};
use crate::package::staking::{SealToken, StakePool, StakeRecord};
use crate::package::{Mist, Role, SealTokenId};

/// What a worker claims: that `owner`'s seal token holds node `node`. From
/// a verified proof (its signer), or from the master's admission record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerClaim {
    /// The worker seal token.
    pub seal_token: SealTokenId,
    /// The address that must own it.
    pub owner: Address,
    /// The node it must be for.
    pub node: NodeName,
}

impl From<&VerifiedWorkerProof> for WorkerClaim {
    fn from(proof: &VerifiedWorkerProof) -> Self {
        Self {
            seal_token: proof.seal_token(),
            owner: proof.signer(),
            node: proof.node_id().clone(),
        }
    }
}

/// A worker the chain allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedWorker {
    /// The worker seal token.
    pub seal_token: SealTokenId,
    /// Its owner (the claim's owner).
    pub owner: Address,
    /// The node (the token's node id on chain).
    pub node: NodeName,
    /// The stake behind it.
    pub stake: Mist,
    /// When the seal token expires unless refreshed (ms).
    pub expires_at_ms: u64,
}

/// Why a worker was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerDenyReason {
    /// No seal token object with the claimed id exists (never minted, or
    /// withdrawn).
    UnknownSealToken(SealTokenId),
    /// The object with the claimed id is not a `SealToken` of the package.
    NotASealToken(SealTokenId),
    /// The seal token belongs to another stake pool.
    ForeignPool {
        /// The seal token's pool.
        token_pool: Address,
    },
    /// The seal token object is not owned by the claimed owner.
    NotOwnedBySigner {
        /// The claimed owner (the proof's signer).
        signer: Address,
        /// The object's owner, if an address owns it.
        object_owner: Option<Address>,
    },
    /// The token's or record's `owner` field is not the claimed owner.
    OwnerMismatch {
        /// The claimed owner (the proof's signer).
        signer: Address,
        /// The owner found on chain.
        owner: Address,
    },
    /// A user seal token: only worker tokens admit nodes.
    UserToken,
    /// The seal token is for another node.
    NodeIdMismatch {
        /// The node claimed.
        claimed: String,
        /// The node id on chain (lossy UTF-8).
        on_chain: String,
    },
    /// The pool holds no stake record for the seal token (withdrawn).
    NoStakeRecord,
    /// Unstake was requested.
    Unbonding {
        /// When the stake can be withdrawn (ms).
        until_ms: u64,
    },
    /// The seal token expired.
    Expired {
        /// When (ms).
        at_ms: u64,
    },
    /// Below the worker minimum.
    UnderStaked {
        /// The stake left.
        stake: Mist,
        /// The least stake of a worker.
        required: Mist,
    },
    /// Slashed at least once, whatever stake is left.
    Slashed {
        /// How much was slashed in all.
        slashed: Mist,
    },
}

impl From<SealTokenRefusal> for WorkerDenyReason {
    fn from(refusal: SealTokenRefusal) -> Self {
        use SealTokenRefusal as R;
        match refusal {
            R::UnknownSealToken(id) => Self::UnknownSealToken(id),
            R::NotASealToken(id) => Self::NotASealToken(id),
            R::NotOwnedBySigner(signer, object_owner) => Self::NotOwnedBySigner {
                signer,
                object_owner,
            },
            R::OwnerMismatch(signer, owner) => Self::OwnerMismatch { signer, owner },
            R::Unbonding(until_ms) => Self::Unbonding { until_ms },
            R::Expired(at_ms) => Self::Expired { at_ms },
            R::UnderStaked(stake, required) => Self::UnderStaked { stake, required },
        }
    }
}

impl fmt::Display for WorkerDenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSealToken(id) => write!(f, "seal token {id} does not exist"),
            Self::NotASealToken(id) => write!(f, "object {id} is not a seal token"),
            Self::ForeignPool { token_pool } => {
                write!(f, "seal token belongs to another stake pool ({token_pool})")
            }
            Self::NotOwnedBySigner {
                signer,
                object_owner: Some(owner),
            } => write!(
                f,
                "seal token is owned by {owner}, not by the signer {signer}"
            ),
            Self::NotOwnedBySigner { signer, .. } => {
                write!(f, "seal token is not owned by an address (signer {signer})")
            }
            Self::OwnerMismatch { signer, owner } => {
                write!(f, "seal token owner {owner} is not the signer {signer}")
            }
            Self::UserToken => f.write_str("a user seal token cannot admit a worker node"),
            Self::NodeIdMismatch { claimed, on_chain } => write!(
                f,
                "seal token is for node {on_chain:?}, not for node {claimed:?}"
            ),
            Self::NoStakeRecord => f.write_str("no stake record for the seal token (unstaked)"),
            Self::Unbonding { until_ms } => {
                let until = crate::clock::format_ms(*until_ms);
                write!(
                    f,
                    "seal token is unbonding (unstaked; withdrawable from {until})"
                )
            }
            Self::Expired { at_ms } => {
                write!(
                    f,
                    "seal token expired at {}",
                    crate::clock::format_ms(*at_ms)
                )
            }
            Self::UnderStaked { stake, required } => {
                write!(f, "stake {stake} is below the worker minimum {required}")
            }
            Self::Slashed { slashed } => write!(
                f,
                "the worker seal token was slashed ({slashed}); stake a new one to rejoin"
            ),
        }
    }
}

impl std::error::Error for WorkerDenyReason {}

/// Judges `claim` given its seal token (`seal`, whose object is owned by
/// `object_owner`), the stake record, the pool and the chain's time
/// `now_ms`.
///
/// # Errors
/// Why the worker may not hold the node.
pub fn judge_worker(
    claim: &WorkerClaim,
    seal: &SealToken,
    object_owner: Option<Address>,
    record: Option<&StakeRecord>,
    pool: &StakePool,
    now_ms: u64,
) -> Result<AllowedWorker, WorkerDenyReason> {
    if seal.id != claim.seal_token {
        return Err(WorkerDenyReason::UnknownSealToken(claim.seal_token));
    }
    if seal.pool_id != pool.id {
        return Err(WorkerDenyReason::ForeignPool {
            token_pool: seal.pool_id,
        });
    }
    check_owner(claim.owner, object_owner, seal.owner)?;
    check_worker(&claim.node, seal.role, &seal.node_id)?;
    let record = record.ok_or(WorkerDenyReason::NoStakeRecord)?;
    check_owner(claim.owner, object_owner, record.owner)?;
    check_worker(&claim.node, record.role, &record.node_id)?;
    if record.was_slashed() {
        return Err(WorkerDenyReason::Slashed {
            slashed: record.slashed_total,
        });
    }
    check_active(record, now_ms, &pool.params)?;
    Ok(AllowedWorker {
        seal_token: seal.id,
        owner: claim.owner,
        node: claim.node.clone(),
        stake: record.stake,
        expires_at_ms: record.expires_at_ms,
    })
}

fn check_worker(node: &NodeName, role: Role, node_id: &[u8]) -> Result<(), WorkerDenyReason> {
    if role != Role::Worker {
        return Err(WorkerDenyReason::UserToken);
    }
    if node_id != node.as_str().as_bytes() {
        return Err(WorkerDenyReason::NodeIdMismatch {
            claimed: node.to_string(),
            on_chain: String::from_utf8_lossy(node_id).into_owned(),
        });
    }
    Ok(())
}

/// Judges `claim` from the result of reading its seal token: a missing
/// token, or an object that is not a seal token, is a refusal.
///
/// # Errors
/// The outer error when the chain could not be read, or a read failed for
/// an object other than the seal token (fail closed: no verdict); the
/// inner one when the worker is refused.
pub fn judge_worker_read(
    claim: &WorkerClaim,
    state: Result<SealTokenState, ChainError>,
    now_ms: u64,
) -> Result<Result<AllowedWorker, WorkerDenyReason>, ChainError> {
    decide_read(
        claim.seal_token,
        state,
        |seal, object_owner, record, pool| {
            judge_worker(claim, seal, object_owner, record, pool, now_ms)
        },
    )
}

/// What a failed read of seal token `id` definitely says about any claim
/// through it (missing, or not a seal token); `None` when the failure says
/// nothing about the token, so no verdict may be drawn from it.
pub fn worker_read_refusal(id: SealTokenId, error: &ChainError) -> Option<WorkerDenyReason> {
    read_refusal(id, error).map(WorkerDenyReason::from)
}

/// Reads `claim`'s seal token, stake record and pool and judges at
/// `now_ms`.
///
/// # Errors
/// The outer error when the chain cannot be read (fail closed); the inner
/// one when the worker is refused.
pub async fn review_worker(
    client: &ChainClient,
    claim: &WorkerClaim,
    now_ms: u64,
) -> Result<Result<AllowedWorker, WorkerDenyReason>, ChainError> {
    let state = client.seal_token_state(claim.seal_token).await;
    judge_worker_read(claim, state, now_ms)
}

/// The chain's time for stake decisions, in ms since the epoch: the later
/// of the `Clock` object `0x6` and the local wall clock.
///
/// The clock object moves with checkpoints only (on the devnet, with
/// transactions), so it can lag; taking the later of the two can only make
/// an expiry take effect sooner, never admit an expired token.
///
/// # Errors
/// The clock cannot be read or does not decode.
pub async fn chain_time_ms(client: &ChainClient) -> Result<u64, ChainError> {
    let clock = client.clock_timestamp_ms().await?;
    Ok(clock.max(crate::clock::unix_now_ms()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use sui_sdk_types::{Digest, Owner, StructTag};

    use super::*;
    use crate::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
    use crate::chain::RawObject;
    use crate::chain::reads::Versioned;
    use crate::package::MoveTable;
    use crate::package::staking::PoolParams;
    use crate::wallet::{Keypair, Scheme};

    const NOW_MS: u64 = 1_000_000;
    const SUI: u64 = 1_000_000_000;
    const OWNER: Address = Address::new([7; 32]);
    const POOL: Address = Address::new([0xbb; 32]);
    const TOKEN: SealTokenId = SealTokenId::new(Address::new([0xaa; 32]));

    fn claim() -> WorkerClaim {
        WorkerClaim {
            seal_token: TOKEN,
            owner: OWNER,
            node: "worker-1".parse().unwrap(),
        }
    }

    /// An active, never slashed 5 SUI worker token of `OWNER` for
    /// `worker-1`.
    fn state() -> SealTokenState {
        let table = MoveTable {
            id: Address::new([0xee; 32]),
            size: 0,
        };
        SealTokenState {
            token: Versioned {
                value: SealToken {
                    id: TOKEN,
                    pool_id: POOL,
                    owner: OWNER,
                    role: Role::Worker,
                    node_id: b"worker-1".to_vec(),
                    created_at_ms: 1,
                },
                object: RawObject {
                    id: TOKEN.address(),
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
                stake: Mist::new(5 * SUI),
                created_at_ms: 1,
                expires_at_ms: NOW_MS + 1,
                unbonding_until_ms: None,
                slashed_total: Mist::ZERO,
            }),
            pool: StakePool {
                id: POOL,
                params: PoolParams::default(),
                paused: false,
                total_staked: Mist::ZERO,
                treasury: Mist::ZERO,
                records: table,
                proposals: table,
                next_proposal_id: 0,
            },
        }
    }

    fn record(state: &mut SealTokenState) -> &mut StakeRecord {
        state.record.as_mut().unwrap()
    }

    fn not_found(id: Address) -> ChainError {
        ChainError::ObjectNotFound { id }
    }

    type Read = Result<SealTokenState, ChainError>;
    type Change = Box<dyn Fn(&mut Read, &mut WorkerClaim)>;

    /// Applies `change` to the read of the active token and judges.
    fn judged(change: &Change) -> Result<Result<AllowedWorker, WorkerDenyReason>, ChainError> {
        let (mut read, mut claim) = (Ok(state()), claim());
        change(&mut read, &mut claim);
        judge_worker_read(&claim, read, NOW_MS)
    }

    /// Edits the state of a successful read.
    fn on_state(edit: impl Fn(&mut SealTokenState) + 'static) -> Change {
        Box::new(move |read, _| edit(read.as_mut().unwrap()))
    }

    #[test]
    fn an_active_never_slashed_worker_token_for_the_node_holds_it() {
        let allowed = judged(&on_state(|_| {})).unwrap().unwrap();
        assert_eq!(
            allowed,
            AllowedWorker {
                seal_token: TOKEN,
                owner: OWNER,
                node: "worker-1".parse().unwrap(),
                stake: Mist::new(5 * SUI),
                expires_at_ms: NOW_MS + 1,
            }
        );
    }

    /// Every reason, in one table: the change to the active token's read
    /// (or to the claim) and the refusal it must give.
    #[test]
    fn every_reason_refuses() {
        use WorkerDenyReason as R;
        let other = Address::new([9; 32]);
        let cases: Vec<(WorkerDenyReason, Change)> = vec![
            (
                R::UnknownSealToken(TOKEN),
                Box::new(|read, _| *read = Err(not_found(TOKEN.address()))),
            ),
            (
                R::UnknownSealToken(TOKEN),
                on_state(|s| s.token.value.id = SealTokenId::new(Address::new([1; 32]))),
            ),
            (
                R::NotASealToken(TOKEN),
                Box::new(|read, _| {
                    *read = Err(ChainError::WrongObjectType {
                        id: TOKEN.address(),
                        expected: "SealToken".to_owned(),
                        found: "Coin".to_owned(),
                    });
                }),
            ),
            (
                R::ForeignPool { token_pool: other },
                on_state(move |s| s.token.value.pool_id = other),
            ),
            (
                R::NotOwnedBySigner {
                    signer: OWNER,
                    object_owner: Some(other),
                },
                on_state(move |s| s.token.object.owner = Owner::Address(other)),
            ),
            (
                R::NotOwnedBySigner {
                    signer: OWNER,
                    object_owner: None,
                },
                on_state(|s| s.token.object.owner = Owner::Shared(1)),
            ),
            (
                R::NotOwnedBySigner {
                    signer: other,
                    object_owner: Some(OWNER),
                },
                Box::new(move |_, claim| claim.owner = other),
            ),
            (
                R::OwnerMismatch {
                    signer: OWNER,
                    owner: other,
                },
                on_state(move |s| s.token.value.owner = other),
            ),
            (
                R::OwnerMismatch {
                    signer: OWNER,
                    owner: other,
                },
                on_state(move |s| record(s).owner = other),
            ),
            (R::UserToken, on_state(|s| s.token.value.role = Role::User)),
            (R::UserToken, on_state(|s| record(s).role = Role::User)),
            (
                R::NodeIdMismatch {
                    claimed: "worker-1".to_owned(),
                    on_chain: "worker-2".to_owned(),
                },
                on_state(|s| s.token.value.node_id = b"worker-2".to_vec()),
            ),
            (
                R::NodeIdMismatch {
                    claimed: "worker-1".to_owned(),
                    on_chain: "worker-2".to_owned(),
                },
                on_state(|s| record(s).node_id = b"worker-2".to_vec()),
            ),
            (
                R::NodeIdMismatch {
                    claimed: "worker-3".to_owned(),
                    on_chain: "worker-1".to_owned(),
                },
                Box::new(|_, claim| claim.node = "worker-3".parse().unwrap()),
            ),
            (R::NoStakeRecord, on_state(|s| s.record = None)),
            (
                R::Unbonding { until_ms: 7 },
                on_state(|s| record(s).unbonding_until_ms = Some(7)),
            ),
            (
                R::Expired { at_ms: NOW_MS },
                on_state(|s| record(s).expires_at_ms = NOW_MS),
            ),
            (
                R::UnderStaked {
                    stake: Mist::new(4 * SUI),
                    required: Mist::new(5 * SUI),
                },
                on_state(|s| record(s).stake = Mist::new(4 * SUI)),
            ),
            // Punitive: 50 SUI left is far above the worker minimum.
            (
                R::Slashed {
                    slashed: Mist::new(1),
                },
                on_state(|s| {
                    record(s).stake = Mist::new(50 * SUI);
                    record(s).slashed_total = Mist::new(1);
                }),
            ),
        ];
        for (reason, change) in &cases {
            let verdict = judged(change).unwrap();
            assert_eq!(verdict.as_ref().err(), Some(reason), "{reason}");
        }
        let named: Vec<String> = cases.iter().map(|(r, _)| r.to_string()).collect();
        for (text, needle) in named.iter().zip([
            "does not exist",
            "does not exist",
            "is not a seal token",
            "another stake pool",
            "not by the signer",
            "not owned by an address",
            "not by the signer",
            "is not the signer",
            "is not the signer",
            "user seal token",
            "user seal token",
            "is for node",
            "is for node",
            "is for node",
            "no stake record",
            "unbonding",
            "expired",
            "worker minimum",
            "was slashed",
        ]) {
            assert!(text.contains(needle), "{text:?} should say {needle:?}");
        }
    }

    #[test]
    fn reads_that_fail_give_no_verdict() {
        // The chain is unreachable, or another object (the pool, the
        // record table) is missing: nothing is decided either way.
        let rpc = ChainError::InvalidSetting {
            setting: "endpoint",
            reason: "test".to_owned(),
        };
        assert!(judge_worker_read(&claim(), Err(rpc), NOW_MS).is_err());
        let pool_missing = not_found(POOL);
        assert!(judge_worker_read(&claim(), Err(pool_missing), NOW_MS).is_err());
        assert_eq!(worker_read_refusal(TOKEN, &not_found(POOL)), None);
        assert_eq!(
            worker_read_refusal(TOKEN, &not_found(TOKEN.address())),
            Some(WorkerDenyReason::UnknownSealToken(TOKEN))
        );
    }

    #[test]
    fn a_verified_proof_claims_its_signer_seal_token_and_node() {
        let key = Keypair::from_bytes(Scheme::Ed25519, &[3; 32]).unwrap();
        let claims = WorkerClaims::new(
            Purpose::Register,
            TOKEN,
            key.address(),
            "worker-1".parse().unwrap(),
            "aud",
            100,
        )
        .unwrap();
        let proof = WorkerProof::sign(&key, &claims).unwrap();
        let proof = WorkerProof::parse(proof.as_str())
            .unwrap()
            .verify("aud", 100, Duration::from_secs(60), Duration::ZERO)
            .unwrap();
        assert_eq!(
            WorkerClaim::from(&proof),
            WorkerClaim {
                seal_token: TOKEN,
                owner: key.address(),
                node: "worker-1".parse().unwrap(),
            }
        );
    }
}
