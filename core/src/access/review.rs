//! The access decision: given a [`VerifiedToken`] and the on-chain state of
//! its seal token, who is the user and which groups do they get?
//!
//! [`decide`] is a pure function over the decoded objects, so every case is
//! testable without a chain; [`review`] reads the objects with the chain
//! client and calls it. The master's TokenReview handler turns the
//! [`Decision`] into a response ([`super::tokenreview`]).
//!
//! A user is allowed when (contracts/README.md, "A token is active"): the
//! seal token exists in the configured pool, is a user token, its object is
//! owned by the token's signer, the stake record's owner is the signer, it is
//! not unbonding, not expired, and its stake is at least the pool's
//! `min_stake` and buys a tier. The user is `sui:<address>` with the groups
//! `k3s-daas:<tier>` and `k3s-daas:users`.

use std::collections::BTreeMap;
use std::fmt;

use sui_sdk_types::Address;

use super::token::VerifiedToken;
use crate::chain::reads::SealTokenState;
use crate::chain::{ChainClient, ChainError};
use crate::package::staking::{PoolParams, SealToken, StakePool, StakeRecord, TokenStatus};
use crate::package::{Mist, Role, SealTokenId, Tier};

/// Prefix of every user name: `sui:<address>`.
pub const USERNAME_PREFIX: &str = "sui:";
/// Prefix of every user's own namespace: `daas-u-<hex>`.
pub const USER_NAMESPACE_PREFIX: &str = "daas-u-";
/// How many hex digits of the address name the user's own namespace: 64
/// bits, so nobody can grind an address that lands in someone else's.
pub const USER_NAMESPACE_HEX_DIGITS: usize = 16;
/// Prefix of the tier groups: `k3s-daas:viewer` … `k3s-daas:super`.
pub const GROUP_PREFIX: &str = "k3s-daas:";
/// The group every authenticated K3s-DaaS user is in.
pub const USERS_GROUP: &str = "k3s-daas:users";
/// `extra` key holding the seal token id.
pub const EXTRA_SEAL_TOKEN: &str = "k3s-daas.io/seal-token-id";
/// `extra` key holding the stake in MIST.
pub const EXTRA_STAKE_MIST: &str = "k3s-daas.io/stake-mist";
/// `extra` key holding the tier name.
pub const EXTRA_TIER: &str = "k3s-daas.io/tier";
/// `extra` key holding, for a user authenticated by an opaque seal token,
/// that token's id (its SHA-256 in hex), so the master can refuse the
/// token's requests once it is revoked.
pub const EXTRA_OPAQUE_TOKEN: &str = "k3s-daas.io/opaque-token-id";

/// The user's own namespace, where the developer tier writes: `daas-u-`
/// and the first 16 hex digits of the address.
pub fn user_namespace(address: Address) -> String {
    let bytes = &address.as_bytes()[..USER_NAMESPACE_HEX_DIGITS / 2];
    format!("{USER_NAMESPACE_PREFIX}{}", hex::encode(bytes))
}

/// The outcome of an access review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The user is authenticated as [`Grant`] says.
    Allowed(Grant),
    /// The user is not authenticated, for this reason.
    Denied(DenyReason),
}

impl Decision {
    /// Whether the decision allows access.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

/// Who an allowed user is, in Kubernetes terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `sui:<address>`.
    pub username: String,
    /// `k3s-daas:<tier>` and `k3s-daas:users`.
    pub groups: Vec<String>,
    /// Extra attributes: seal token id, stake in MIST, tier.
    pub extra: BTreeMap<String, Vec<String>>,
    /// The user's address.
    pub address: Address,
    /// The tier the stake buys.
    pub tier: Tier,
    /// The seal token granting the access.
    pub seal_token: SealTokenId,
    /// The stake behind it.
    pub stake: Mist,
    /// When the seal token expires on chain (ms since the epoch).
    pub seal_expires_at_ms: u64,
}

impl Grant {
    fn new(address: Address, tier: Tier, seal_token: SealTokenId, record: &StakeRecord) -> Self {
        let extra = BTreeMap::from([
            (EXTRA_SEAL_TOKEN.to_owned(), vec![seal_token.to_string()]),
            (
                EXTRA_STAKE_MIST.to_owned(),
                vec![record.stake.get().to_string()],
            ),
            (EXTRA_TIER.to_owned(), vec![tier.as_str().to_owned()]),
        ]);
        Self {
            username: format!("{USERNAME_PREFIX}{address}"),
            groups: vec![tier_group(tier), USERS_GROUP.to_owned()],
            extra,
            address,
            tier,
            seal_token,
            stake: record.stake,
            seal_expires_at_ms: record.expires_at_ms,
        }
    }
}

impl Grant {
    /// The grant with its tier lowered to `tier` if that is lower (groups
    /// and the tier extra follow): a user never acts above `tier`.
    #[must_use]
    pub fn capped_at(mut self, tier: Tier) -> Self {
        if tier < self.tier {
            self.tier = tier;
            self.groups = vec![tier_group(tier), USERS_GROUP.to_owned()];
            self.extra
                .insert(EXTRA_TIER.to_owned(), vec![tier.as_str().to_owned()]);
        }
        self
    }
}

/// The group of a tier: `k3s-daas:<tier>`.
pub fn tier_group(tier: Tier) -> String {
    format!("{GROUP_PREFIX}{tier}")
}

/// Why a user was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// No seal token object with the token's id exists (never minted, or
    /// withdrawn).
    UnknownSealToken(SealTokenId),
    /// The object with the token's id is not a `SealToken` of the package.
    NotASealToken(SealTokenId),
    /// The object read is not the seal token the access token names.
    SealTokenMismatch {
        /// The id in the access token.
        claimed: SealTokenId,
        /// The id of the object read.
        found: SealTokenId,
    },
    /// The seal token belongs to another stake pool.
    ForeignPool {
        /// The seal token's pool.
        token_pool: Address,
        /// The configured pool.
        pool: Address,
    },
    /// The seal token object is not owned by the access token's signer.
    NotOwnedBySigner {
        /// The signer.
        signer: Address,
        /// The object's owner, if an address owns it.
        object_owner: Option<Address>,
    },
    /// The seal token's `owner` field or its stake record's owner is not
    /// the signer.
    OwnerMismatch {
        /// The signer.
        signer: Address,
        /// The owner found on chain.
        owner: Address,
    },
    /// A worker seal token: only user tokens authenticate users.
    WorkerToken,
    /// The pool holds no stake record for the seal token.
    NoStakeRecord,
    /// Unstake was requested; access ended.
    Unbonding {
        /// When the stake can be withdrawn (ms).
        until_ms: u64,
    },
    /// The seal token expired on chain.
    SealTokenExpired {
        /// When it expired (ms).
        at_ms: u64,
    },
    /// The stake is below the pool's minimum (after a slash, say).
    UnderStaked {
        /// The stake left.
        stake: Mist,
        /// The least stake required.
        required: Mist,
    },
    /// The stake buys no tier.
    NoTier {
        /// The stake.
        stake: Mist,
    },
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSealToken(id) => write!(f, "seal token {id} does not exist"),
            Self::NotASealToken(id) => write!(f, "object {id} is not a seal token"),
            Self::SealTokenMismatch { claimed, found } => {
                write!(f, "read seal token {found} for claimed {claimed}")
            }
            Self::ForeignPool { token_pool, pool } => {
                write!(f, "seal token belongs to pool {token_pool}, not {pool}")
            }
            Self::NotOwnedBySigner {
                signer,
                object_owner: Some(owner),
            } => write!(
                f,
                "seal token is owned by {owner}, not by the signer {signer}"
            ),
            Self::NotOwnedBySigner {
                signer,
                object_owner: None,
            } => write!(f, "seal token is not owned by an address (signer {signer})"),
            Self::OwnerMismatch { signer, owner } => {
                write!(f, "seal token owner {owner} is not the signer {signer}")
            }
            Self::WorkerToken => f.write_str("a worker seal token cannot authenticate a user"),
            Self::NoStakeRecord => f.write_str("no stake record for the seal token"),
            Self::Unbonding { until_ms } => {
                let until = crate::clock::format_ms(*until_ms);
                write!(f, "seal token is unbonding (withdrawable from {until})")
            }
            Self::SealTokenExpired { at_ms } => {
                write!(
                    f,
                    "seal token expired at {}",
                    crate::clock::format_ms(*at_ms)
                )
            }
            Self::UnderStaked { stake, required } => {
                write!(f, "stake {stake} is below the required {required}")
            }
            Self::NoTier { stake } => write!(f, "stake {stake} buys no tier"),
        }
    }
}

/// Who claims access through which seal token: the signer of a verified
/// access token, or the owner an opaque seal token was issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claimant {
    /// The seal token claimed.
    pub seal_token: SealTokenId,
    /// The address that must own it.
    pub owner: Address,
}

impl From<&VerifiedToken> for Claimant {
    fn from(token: &VerifiedToken) -> Self {
        Self {
            seal_token: token.seal_token(),
            owner: token.signer(),
        }
    }
}

/// Decides about `token` given its seal token object (`seal`, with the
/// address that owns the object, `object_owner`), the stake record (`None`
/// if the pool has none), the pool, and the chain's time `now_ms`.
pub fn decide(
    token: &VerifiedToken,
    seal: &SealToken,
    object_owner: Option<Address>,
    record: Option<&StakeRecord>,
    pool: &StakePool,
    now_ms: u64,
) -> Decision {
    decide_claimant(
        &Claimant::from(token),
        seal,
        object_owner,
        record,
        pool,
        now_ms,
    )
}

/// [`decide`] for a [`Claimant`] (an opaque seal token's owner, or the
/// signer of an access token).
pub fn decide_claimant(
    claimant: &Claimant,
    seal: &SealToken,
    object_owner: Option<Address>,
    record: Option<&StakeRecord>,
    pool: &StakePool,
    now_ms: u64,
) -> Decision {
    check(claimant, seal, object_owner, record, pool, now_ms)
        .map_or_else(Decision::Denied, Decision::Allowed)
}

fn check(
    claimant: &Claimant,
    seal: &SealToken,
    object_owner: Option<Address>,
    record: Option<&StakeRecord>,
    pool: &StakePool,
    now_ms: u64,
) -> Result<Grant, DenyReason> {
    let signer = claimant.owner;
    if seal.id != claimant.seal_token {
        return Err(DenyReason::SealTokenMismatch {
            claimed: claimant.seal_token,
            found: seal.id,
        });
    }
    if seal.pool_id != pool.id {
        return Err(DenyReason::ForeignPool {
            token_pool: seal.pool_id,
            pool: pool.id,
        });
    }
    check_owner(signer, object_owner, seal.owner)?;
    if seal.role != Role::User {
        return Err(DenyReason::WorkerToken);
    }
    let record = record.ok_or(DenyReason::NoStakeRecord)?;
    check_owner(signer, object_owner, record.owner)?;
    if record.role != Role::User {
        return Err(DenyReason::WorkerToken);
    }
    check_active(record, now_ms, &pool.params)?;
    let tier = record.tier(&pool.params).ok_or(DenyReason::NoTier {
        stake: record.stake,
    })?;
    Ok(Grant::new(signer, tier, seal.id, record))
}

/// The chain could not be read; the master must fail closed (answer an
/// error, never allow).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// Reading the seal token, its record or the pool failed.
    #[error("cannot read seal token {seal_token} from the chain: {source}")]
    Chain {
        /// The seal token asked about.
        seal_token: SealTokenId,
        /// The chain client's error.
        #[source]
        source: ChainError,
    },
}

/// Reads `token`'s seal token, its stake record and the pool with `client`
/// and [`decide`]s at `now_ms` (the chain's time, ms since the epoch).
///
/// A seal token that does not exist is a denial, not an error.
///
/// # Errors
/// [`ReviewError::Chain`] when the chain cannot be read.
pub async fn review(
    client: &ChainClient,
    token: &VerifiedToken,
    now_ms: u64,
) -> Result<Decision, ReviewError> {
    review_claimant(client, &Claimant::from(token), now_ms).await
}

/// [`review`] for a [`Claimant`].
///
/// # Errors
/// [`ReviewError::Chain`] when the chain cannot be read.
pub async fn review_claimant(
    client: &ChainClient,
    claimant: &Claimant,
    now_ms: u64,
) -> Result<Decision, ReviewError> {
    let state = client.seal_token_state(claimant.seal_token).await;
    decision_of(claimant, state, now_ms)
}

/// Decides from the result of reading the claimant's seal token (see
/// [`decide_read`]).
fn decision_of(
    claimant: &Claimant,
    state: Result<SealTokenState, ChainError>,
    now_ms: u64,
) -> Result<Decision, ReviewError> {
    let seal_token = claimant.seal_token;
    decide_read(seal_token, state, |seal, object_owner, record, pool| {
        check(claimant, seal, object_owner, record, pool, now_ms)
    })
    .map(|outcome| outcome.map_or_else(Decision::Denied, Decision::Allowed))
    .map_err(|source| ReviewError::Chain { seal_token, source })
}

/// A decision and the time it was made at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedDecision {
    /// The decision.
    pub decision: Decision,
    /// The time it was decided at (ms since the epoch): the later of the
    /// chain's clock and `wall_now_ms`.
    pub now_ms: u64,
}

/// [`review_claimant`] at the chain's time: reads the Clock object `0x6`
/// alongside the seal token and decides at the later of the chain's clock
/// and `wall_now_ms`. Taking the later time fails closed: time only ever
/// ends access (expiry), never grants it.
///
/// # Errors
/// [`ReviewError::Chain`] when the chain (or its clock) cannot be read.
pub async fn review_at_chain_time(
    client: &ChainClient,
    claimant: &Claimant,
    wall_now_ms: u64,
) -> Result<TimedDecision, ReviewError> {
    let (clock, state) = tokio::join!(
        client.clock_timestamp_ms(),
        client.seal_token_state(claimant.seal_token)
    );
    let chain_ms = clock.map_err(|source| ReviewError::Chain {
        seal_token: claimant.seal_token,
        source,
    })?;
    let now_ms = chain_ms.max(wall_now_ms);
    let decision = decision_of(claimant, state, now_ms)?;
    Ok(TimedDecision { decision, now_ms })
}

/// A refusal that the user decision and the worker decision
/// ([`super::worker`]) reach alike; each turns it into the variant of the
/// same name in its own deny reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SealTokenRefusal {
    /// No object has the seal token's id.
    UnknownSealToken(SealTokenId),
    /// The object with the id is not a seal token.
    NotASealToken(SealTokenId),
    /// The object is not owned by the signer: (signer, object owner).
    NotOwnedBySigner(Address, Option<Address>),
    /// An `owner` field on chain is not the signer: (signer, owner).
    OwnerMismatch(Address, Address),
    /// The stake record is unbonding until (ms).
    Unbonding(u64),
    /// The seal token expired at (ms).
    Expired(u64),
    /// The stake is below its role's minimum: (stake, required).
    UnderStaked(Mist, Mist),
}

impl From<SealTokenRefusal> for DenyReason {
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
            R::Expired(at_ms) => Self::SealTokenExpired { at_ms },
            R::UnderStaked(stake, required) => Self::UnderStaked { stake, required },
        }
    }
}

/// Checks that the seal token object is owned by `signer` and that an
/// `owner` field found on chain (the token's or its stake record's) is
/// `signer`.
pub(super) fn check_owner(
    signer: Address,
    object_owner: Option<Address>,
    owner: Address,
) -> Result<(), SealTokenRefusal> {
    if object_owner != Some(signer) {
        return Err(SealTokenRefusal::NotOwnedBySigner(signer, object_owner));
    }
    if owner != signer {
        return Err(SealTokenRefusal::OwnerMismatch(signer, owner));
    }
    Ok(())
}

/// Checks that `record` is active at `now_ms` under `params`: not
/// unbonding, not expired, staked at least its role's minimum.
pub(super) fn check_active(
    record: &StakeRecord,
    now_ms: u64,
    params: &PoolParams,
) -> Result<(), SealTokenRefusal> {
    match record.status(now_ms, params) {
        TokenStatus::Active => Ok(()),
        TokenStatus::Unbonding { until_ms } => Err(SealTokenRefusal::Unbonding(until_ms)),
        TokenStatus::Expired { at_ms } => Err(SealTokenRefusal::Expired(at_ms)),
        TokenStatus::UnderStaked { stake, required } => {
            Err(SealTokenRefusal::UnderStaked(stake, required))
        }
    }
}

/// Decides with `decide` (over the seal token, its object's owner, its
/// stake record and the pool) from the result of reading seal token `id`:
/// the token missing, or an object `id` that is not a seal token, is a
/// refusal.
///
/// # Errors
/// The outer error when the chain could not be read, including when
/// another object of the read (the pool) is missing or of another type:
/// that says nothing about the token (fail closed).
pub(super) fn decide_read<T, R, D>(
    id: SealTokenId,
    state: Result<SealTokenState, ChainError>,
    decide: D,
) -> Result<Result<T, R>, ChainError>
where
    D: FnOnce(&SealToken, Option<Address>, Option<&StakeRecord>, &StakePool) -> Result<T, R>,
    R: From<SealTokenRefusal>,
{
    match state {
        Ok(state) => Ok(decide(
            &state.token.value,
            state.object_owner(),
            state.record.as_ref(),
            &state.pool,
        )),
        Err(error) => match read_refusal(id, &error) {
            Some(refusal) => Ok(Err(refusal.into())),
            None => Err(error),
        },
    }
}

/// What a failed read of seal token `id` definitely says: the token is
/// missing, or the object `id` is not a seal token. `None` when the
/// failure says nothing about the token (the chain is unreachable, or
/// another object of the read is missing).
pub(super) fn read_refusal(id: SealTokenId, error: &ChainError) -> Option<SealTokenRefusal> {
    match error {
        ChainError::ObjectNotFound { id: missing } if *missing == id.address() => {
            Some(SealTokenRefusal::UnknownSealToken(id))
        }
        ChainError::WrongObjectType { id: found, .. } if *found == id.address() => {
            Some(SealTokenRefusal::NotASealToken(id))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Role;

    #[test]
    fn user_namespace_is_a_dns_label_from_the_address() {
        let namespace = user_namespace(Address::new([0x1f; 32]));
        assert_eq!(namespace, "daas-u-1f1f1f1f1f1f1f1f");
        assert!(namespace.len() <= 63);
    }

    fn grant(tier: Tier) -> Grant {
        let record = StakeRecord {
            owner: Address::new([0x11; 32]),
            role: Role::User,
            node_id: Vec::new(),
            stake: Mist::new(2_000_000_000),
            created_at_ms: 0,
            expires_at_ms: 10,
            unbonding_until_ms: None,
            slashed_total: Mist::new(0),
        };
        Grant::new(
            record.owner,
            tier,
            SealTokenId::new(Address::new([0xaa; 32])),
            &record,
        )
    }

    #[test]
    fn a_cap_lowers_the_tier_its_group_and_extra_but_never_raises() {
        let capped = grant(Tier::Admin).capped_at(Tier::Viewer);
        assert_eq!(capped.tier, Tier::Viewer);
        assert_eq!(capped.groups, ["k3s-daas:viewer", USERS_GROUP]);
        assert_eq!(capped.extra[EXTRA_TIER], ["viewer"]);
        assert_eq!(
            grant(Tier::Developer).capped_at(Tier::Super),
            grant(Tier::Developer)
        );
        assert_eq!(
            grant(Tier::Developer).capped_at(Tier::Developer),
            grant(Tier::Developer)
        );
    }
}
