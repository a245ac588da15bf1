//! The worker decision: may the signer of a [`VerifiedWorkerProof`] run a
//! node under its seal token, as the chain says now?
//!
//! [`decide_worker`] is a pure function over the decoded objects;
//! [`review_worker`] reads them with the chain client. A worker is allowed
//! when its seal token exists in the configured pool, is a **worker**
//! token whose `node_id` is the proof's node, its object is owned by the
//! signer, the token's and the stake record's owner are the signer, and the
//! record is active (not unbonding, unexpired, at least the worker minimum).
//!
//! [`chain_time_ms`] is the time decisions are made at: the `Clock`
//! object `0x6`, or the wall clock if that is later.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use sui_sdk_types::Address;

use super::review::{SealTokenRefusal, check_active, check_owner, decide_read};
use super::worker_proof::VerifiedWorkerProof;
use crate::chain::{ChainClient, ChainError};
use crate::package::staking::{SealToken, StakePool, StakeRecord};
use crate::package::{Mist, Role, SealTokenId};

/// A worker the chain allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedWorker {
    /// The worker seal token.
    pub seal_token: SealTokenId,
    /// Its owner (the proof's signer).
    pub owner: Address,
    /// The node id on chain (the node name).
    pub node_id: String,
    /// The stake behind it.
    pub stake: Mist,
    /// When the seal token expires unless refreshed (ms).
    pub expires_at_ms: u64,
}

/// Why a worker was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerDenyReason {
    /// No seal token object with the proof's id exists.
    UnknownSealToken(SealTokenId),
    /// The object with the proof's id is not a `SealToken` of the package.
    NotASealToken(SealTokenId),
    /// The seal token belongs to another stake pool.
    ForeignPool {
        /// The seal token's pool.
        token_pool: Address,
    },
    /// The seal token object is not owned by the proof's signer.
    NotOwnedBySigner {
        /// The signer.
        signer: Address,
        /// The object's owner, if an address owns it.
        object_owner: Option<Address>,
    },
    /// The token's or record's `owner` field is not the signer.
    OwnerMismatch {
        /// The signer.
        signer: Address,
        /// The owner found on chain.
        owner: Address,
    },
    /// A user seal token: only worker tokens admit nodes.
    UserToken,
    /// The seal token is for another node.
    NodeIdMismatch {
        /// The node of the proof.
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
    /// Slashed below the worker minimum.
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
                write!(f, "seal token is unbonding (unstaked; until {until_ms} ms)")
            }
            Self::Expired { at_ms } => write!(f, "seal token expired at {at_ms} ms"),
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

/// Decides about `proof` given its seal token (`seal`, whose object is
/// owned by `object_owner`), the stake record, the pool and the chain's
/// time `now_ms`.
///
/// # Errors
/// Why the worker is refused.
pub fn decide_worker(
    proof: &VerifiedWorkerProof,
    seal: &SealToken,
    object_owner: Option<Address>,
    record: Option<&StakeRecord>,
    pool: &StakePool,
    now_ms: u64,
) -> Result<AllowedWorker, WorkerDenyReason> {
    let signer = proof.signer();
    if seal.id != proof.seal_token() {
        return Err(WorkerDenyReason::UnknownSealToken(proof.seal_token()));
    }
    if seal.pool_id != pool.id {
        return Err(WorkerDenyReason::ForeignPool {
            token_pool: seal.pool_id,
        });
    }
    check_owner(signer, object_owner, seal.owner)?;
    check_worker(proof, seal.role, &seal.node_id)?;
    let record = record.ok_or(WorkerDenyReason::NoStakeRecord)?;
    check_owner(signer, object_owner, record.owner)?;
    check_worker(proof, record.role, &record.node_id)?;
    // Slashing is punitive: the reconciler removes a slashed worker's node
    // whatever stake is left, so admission must not let it back in.
    if record.slashed_total > Mist::ZERO {
        return Err(WorkerDenyReason::Slashed {
            slashed: record.slashed_total,
        });
    }
    check_active(record, now_ms, &pool.params)?;
    Ok(AllowedWorker {
        seal_token: seal.id,
        owner: signer,
        node_id: proof.node_id().to_owned(),
        stake: record.stake,
        expires_at_ms: record.expires_at_ms,
    })
}

fn check_worker(
    proof: &VerifiedWorkerProof,
    role: Role,
    node_id: &[u8],
) -> Result<(), WorkerDenyReason> {
    if role != Role::Worker {
        return Err(WorkerDenyReason::UserToken);
    }
    if node_id != proof.node_id().as_bytes() {
        return Err(WorkerDenyReason::NodeIdMismatch {
            claimed: proof.node_id().to_owned(),
            on_chain: String::from_utf8_lossy(node_id).into_owned(),
        });
    }
    Ok(())
}

/// Reads `proof`'s seal token, stake record and pool and decides at
/// `now_ms`. A missing object or one that is not a seal token is a denial.
///
/// # Errors
/// The outer error when the chain cannot be read (fail closed); the inner
/// one when the worker is refused.
pub async fn review_worker(
    client: &ChainClient,
    proof: &VerifiedWorkerProof,
    now_ms: u64,
) -> Result<Result<AllowedWorker, WorkerDenyReason>, ChainError> {
    let id = proof.seal_token();
    let state = client.seal_token_state(id).await;
    decide_read(id, state, |seal, object_owner, record, pool| {
        decide_worker(proof, seal, object_owner, record, pool, now_ms)
    })
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
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Ok(clock.max(wall))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
    use crate::package::MoveTable;
    use crate::package::staking::PoolParams;
    use crate::wallet::{Keypair, Scheme};

    const NOW_MS: u64 = 1_000_000;

    fn addr(byte: u8) -> Address {
        Address::new([byte; 32])
    }

    struct Case {
        key: Keypair,
        seal: SealToken,
        owner: Option<Address>,
        record: Option<StakeRecord>,
        pool: StakePool,
    }

    impl Case {
        fn new() -> Self {
            let key = Keypair::from_bytes(Scheme::Ed25519, &[3; 32]).unwrap();
            let me = key.address();
            let table = MoveTable {
                id: addr(0xee),
                size: 0,
            };
            Self {
                seal: SealToken {
                    id: SealTokenId::new(addr(0xaa)),
                    pool_id: addr(0xbb),
                    owner: me,
                    role: Role::Worker,
                    node_id: b"worker-1".to_vec(),
                    created_at_ms: 1,
                },
                owner: Some(me),
                record: Some(StakeRecord {
                    owner: me,
                    role: Role::Worker,
                    node_id: b"worker-1".to_vec(),
                    stake: Mist::new(5_000_000_000),
                    created_at_ms: 1,
                    expires_at_ms: NOW_MS + 1,
                    unbonding_until_ms: None,
                    slashed_total: Mist::ZERO,
                }),
                pool: StakePool {
                    id: addr(0xbb),
                    params: PoolParams::default(),
                    paused: false,
                    total_staked: Mist::ZERO,
                    treasury: Mist::ZERO,
                    records: table,
                    proposals: table,
                    next_proposal_id: 0,
                },
                key,
            }
        }

        fn decide(&self, node: &str) -> Result<AllowedWorker, WorkerDenyReason> {
            let claims = WorkerClaims::new(
                Purpose::Register,
                self.seal.id,
                self.key.address(),
                node,
                "aud",
                100,
            )
            .unwrap();
            let proof = WorkerProof::sign(&self.key, &claims).unwrap();
            let proof = WorkerProof::parse(proof.as_str())
                .unwrap()
                .verify("aud", 100, Duration::from_secs(60), Duration::ZERO)
                .unwrap();
            decide_worker(
                &proof,
                &self.seal,
                self.owner,
                self.record.as_ref(),
                &self.pool,
                NOW_MS,
            )
        }

        fn record(&mut self) -> &mut StakeRecord {
            self.record.as_mut().unwrap()
        }
    }

    #[test]
    fn an_active_worker_token_for_the_node_is_allowed() {
        let case = Case::new();
        let allowed = case.decide("worker-1").unwrap();
        assert_eq!(allowed.owner, case.key.address());
        assert_eq!(allowed.node_id, "worker-1");
        assert_eq!(allowed.stake, Mist::new(5_000_000_000));
    }

    #[test]
    fn every_refusal_names_its_reason() {
        let case = Case::new();
        let error = case.decide("worker-2").unwrap_err();
        assert!(
            error.to_string().contains("for node \"worker-1\""),
            "{error}"
        );

        let mut case = Case::new();
        case.seal.role = Role::User;
        assert_eq!(case.decide("worker-1"), Err(WorkerDenyReason::UserToken));

        let mut case = Case::new();
        case.owner = Some(addr(9));
        assert!(matches!(
            case.decide("worker-1"),
            Err(WorkerDenyReason::NotOwnedBySigner { .. })
        ));

        let mut case = Case::new();
        case.record().owner = addr(9);
        assert!(matches!(
            case.decide("worker-1"),
            Err(WorkerDenyReason::OwnerMismatch { .. })
        ));

        let mut case = Case::new();
        case.seal.pool_id = addr(1);
        assert!(matches!(
            case.decide("worker-1"),
            Err(WorkerDenyReason::ForeignPool { .. })
        ));

        let mut case = Case::new();
        case.record = None;
        assert_eq!(
            case.decide("worker-1"),
            Err(WorkerDenyReason::NoStakeRecord)
        );

        let mut case = Case::new();
        case.record().unbonding_until_ms = Some(7);
        assert_eq!(
            case.decide("worker-1"),
            Err(WorkerDenyReason::Unbonding { until_ms: 7 })
        );

        let mut case = Case::new();
        case.record().expires_at_ms = NOW_MS;
        assert_eq!(
            case.decide("worker-1"),
            Err(WorkerDenyReason::Expired { at_ms: NOW_MS })
        );

        let mut case = Case::new();
        case.record().stake = Mist::new(4_500_000_000);
        let error = case.decide("worker-1").unwrap_err();
        assert!(matches!(error, WorkerDenyReason::UnderStaked { .. }));
        assert!(error.to_string().contains("worker minimum"), "{error}");

        // Slashed once, with plenty left: still refused.
        let mut case = Case::new();
        case.record().stake = Mist::new(50_000_000_000);
        case.record().slashed_total = Mist::new(1);
        let error = case.decide("worker-1").unwrap_err();
        assert_eq!(
            error,
            WorkerDenyReason::Slashed {
                slashed: Mist::new(1)
            }
        );
        assert!(error.to_string().contains("slashed"), "{error}");
    }
}
