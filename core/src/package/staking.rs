//! `k3s_daas::staking`: the shared `StakePool`, seal tokens, stake records,
//! slashing by proposal, roles and tiers.
//!
//! The stake of a seal token lives in the pool, in `StakePool.records`
//! keyed by the token's object id, so slashing needs no cooperation of the
//! token's owner. The [`StakeRecord`] is authoritative for stake, expiry and
//! unbonding; the owned [`SealToken`] holds only what never changes.

use std::fmt;
use std::str::FromStr;

use sui_sdk_types::{Address, AddressParseError, Identifier, StructTag, TypeTag};

use super::{Mist, MoveTable};

/// `ROLE_WORKER`: seal token of a worker node.
pub const ROLE_WORKER: u8 = 0;
/// `ROLE_USER`: seal token of a cluster user.
pub const ROLE_USER: u8 = 1;
/// `TIER_NONE`: stake below the viewer threshold.
pub const TIER_NONE: u8 = 0;
/// `TIER_VIEWER`.
pub const TIER_VIEWER: u8 = 1;
/// `TIER_DEVELOPER`.
pub const TIER_DEVELOPER: u8 = 2;
/// `TIER_ADMIN`.
pub const TIER_ADMIN: u8 = 3;
/// `TIER_SUPER`.
pub const TIER_SUPER: u8 = 4;
/// `DEFAULT_MIN_STAKE`: 0.5 SUI, the least stake of any token.
pub const DEFAULT_MIN_STAKE: Mist = Mist::new(500_000_000);
/// `DEFAULT_WORKER_MIN_STAKE`: 5 SUI, the least stake of a worker token.
pub const DEFAULT_WORKER_MIN_STAKE: Mist = Mist::new(5_000_000_000);
/// `DEFAULT_TIER_VIEWER`: 0.5 SUI.
pub const DEFAULT_TIER_VIEWER: Mist = Mist::new(500_000_000);
/// `DEFAULT_TIER_DEVELOPER`: 2 SUI.
pub const DEFAULT_TIER_DEVELOPER: Mist = Mist::new(2_000_000_000);
/// `DEFAULT_TIER_ADMIN`: 5 SUI.
pub const DEFAULT_TIER_ADMIN: Mist = Mist::new(5_000_000_000);
/// `DEFAULT_TIER_SUPER`: 10 SUI.
pub const DEFAULT_TIER_SUPER: Mist = Mist::new(10_000_000_000);
/// `DEFAULT_SLASH_RATE_BPS`: 10 % of the current stake per approved slash.
pub const DEFAULT_SLASH_RATE_BPS: u64 = 1_000;
/// `BPS_DENOMINATOR`: 100 % in basis points.
pub const BPS_DENOMINATOR: u64 = 10_000;
/// `DEFAULT_UNBONDING_MS`: 7 days.
pub const DEFAULT_UNBONDING_MS: u64 = 7 * 24 * 60 * 60 * 1_000;
/// `DEFAULT_TOKEN_LIFETIME_MS`: 30 days.
pub const DEFAULT_TOKEN_LIFETIME_MS: u64 = 30 * 24 * 60 * 60 * 1_000;
/// `MAX_PERIOD_MS`: 365 days, bound of `unbonding_ms` and `token_lifetime_ms`.
pub const MAX_PERIOD_MS: u64 = 365 * 24 * 60 * 60 * 1_000;
/// `MAX_NODE_ID_LEN`: bytes of a Kubernetes node name.
pub const MAX_NODE_ID_LEN: u64 = 253;
/// `EVIDENCE_HASH_LEN`: bytes of a slash evidence hash.
pub const EVIDENCE_HASH_LEN: u64 = 32;
/// `MAX_REASON_LEN`: bytes of a slash reason.
pub const MAX_REASON_LEN: u64 = 1_024;

/// The module's Move constants by name, as `u64`, for table checks.
pub const MOVE_CONSTANTS: &[(&str, u64)] = &[
    ("ROLE_WORKER", ROLE_WORKER as u64),
    ("ROLE_USER", ROLE_USER as u64),
    ("TIER_NONE", TIER_NONE as u64),
    ("TIER_VIEWER", TIER_VIEWER as u64),
    ("TIER_DEVELOPER", TIER_DEVELOPER as u64),
    ("TIER_ADMIN", TIER_ADMIN as u64),
    ("TIER_SUPER", TIER_SUPER as u64),
    ("DEFAULT_MIN_STAKE", DEFAULT_MIN_STAKE.get()),
    ("DEFAULT_WORKER_MIN_STAKE", DEFAULT_WORKER_MIN_STAKE.get()),
    ("DEFAULT_TIER_VIEWER", DEFAULT_TIER_VIEWER.get()),
    ("DEFAULT_TIER_DEVELOPER", DEFAULT_TIER_DEVELOPER.get()),
    ("DEFAULT_TIER_ADMIN", DEFAULT_TIER_ADMIN.get()),
    ("DEFAULT_TIER_SUPER", DEFAULT_TIER_SUPER.get()),
    ("DEFAULT_SLASH_RATE_BPS", DEFAULT_SLASH_RATE_BPS),
    ("BPS_DENOMINATOR", BPS_DENOMINATOR),
    ("DEFAULT_UNBONDING_MS", DEFAULT_UNBONDING_MS),
    ("DEFAULT_TOKEN_LIFETIME_MS", DEFAULT_TOKEN_LIFETIME_MS),
    ("MAX_PERIOD_MS", MAX_PERIOD_MS),
    ("MAX_NODE_ID_LEN", MAX_NODE_ID_LEN),
    ("EVIDENCE_HASH_LEN", EVIDENCE_HASH_LEN),
    ("MAX_REASON_LEN", MAX_REASON_LEN),
];

/// Entry function names of `k3s_daas::staking`.
pub mod function {
    /// `stake_and_mint(pool, payment, role, node_id, clock)`.
    pub const STAKE_AND_MINT: &str = "stake_and_mint";
    /// `add_stake(pool, token, payment)`.
    pub const ADD_STAKE: &str = "add_stake";
    /// `refresh(pool, token, clock)`.
    pub const REFRESH: &str = "refresh";
    /// `request_unstake(pool, token, clock)`.
    pub const REQUEST_UNSTAKE: &str = "request_unstake";
    /// `withdraw(pool, token, clock)`.
    pub const WITHDRAW: &str = "withdraw";
    /// `propose_slash(pool, token_id, evidence_hash, reason, clock)`.
    pub const PROPOSE_SLASH: &str = "propose_slash";
    /// `approve_slash(pool, cap, proposal_id)`.
    pub const APPROVE_SLASH: &str = "approve_slash";
    /// `reject_slash(pool, cap, proposal_id)`.
    pub const REJECT_SLASH: &str = "reject_slash";
    /// `set_params(pool, cap, min_stake, worker_min_stake, viewer, developer,
    /// admin, superuser, slash_rate_bps, unbonding_ms, token_lifetime_ms)`.
    pub const SET_PARAMS: &str = "set_params";
    /// `set_paused(pool, cap, paused)`.
    pub const SET_PAUSED: &str = "set_paused";
    /// `withdraw_treasury(pool, cap, amount)`.
    pub const WITHDRAW_TREASURY: &str = "withdraw_treasury";
    /// `grant_slasher(pool, cap, recipient)`.
    pub const GRANT_SLASHER: &str = "grant_slasher";
    /// Every entry function of the module, in table order.
    pub const ALL: &[&str] = &[
        STAKE_AND_MINT,
        ADD_STAKE,
        REFRESH,
        REQUEST_UNSTAKE,
        WITHDRAW,
        PROPOSE_SLASH,
        APPROVE_SLASH,
        REJECT_SLASH,
        SET_PARAMS,
        SET_PAUSED,
        WITHDRAW_TREASURY,
        GRANT_SLASHER,
    ];
}

abort_codes! {
    /// Abort codes of `k3s_daas::staking`.
    "staking" => StakingAbort {
        /// `EPaused`.
        Paused = 1, "EPaused", "the pool is paused";
        /// `EInvalidRole`.
        InvalidRole = 2, "EInvalidRole", "role is neither 0 (worker) nor 1 (user)";
        /// `EStakeTooLow`.
        StakeTooLow = 3, "EStakeTooLow", "stake below min_stake";
        /// `EWorkerStakeTooLow`.
        WorkerStakeTooLow = 4, "EWorkerStakeTooLow", "worker stake below worker_min_stake";
        /// `ENodeIdRequired`.
        NodeIdRequired = 5, "ENodeIdRequired", "a worker token needs a non-empty node id";
        /// `ENodeIdNotAllowed`.
        NodeIdNotAllowed = 6, "ENodeIdNotAllowed", "a user token must have an empty node id";
        /// `ENodeIdTooLong`.
        NodeIdTooLong = 7, "ENodeIdTooLong", "node id longer than MAX_NODE_ID_LEN bytes";
        /// `EUnknownToken`.
        UnknownToken = 8, "EUnknownToken", "no stake record for this seal token in this pool";
        /// `EWrongPool`.
        WrongPool = 9, "EWrongPool", "the token or capability belongs to another pool";
        /// `EZeroAmount`.
        ZeroAmount = 10, "EZeroAmount", "a zero amount where a positive one is needed";
        /// `EUnbonding`.
        Unbonding = 11, "EUnbonding", "the token is already unbonding";
        /// `ENotUnbonding`.
        NotUnbonding = 12, "ENotUnbonding", "withdraw before request_unstake";
        /// `EUnbondingNotOver`.
        UnbondingNotOver = 13, "EUnbondingNotOver", "withdraw before unbonding_until_ms";
        /// `EUnknownProposal`.
        UnknownProposal = 14, "EUnknownProposal", "no slash proposal with this id";
        /// `EEvidenceHashLength`.
        EvidenceHashLength = 15, "EEvidenceHashLength", "evidence hash is not 32 bytes";
        /// `EReasonTooLong`.
        ReasonTooLong = 16, "EReasonTooLong", "reason longer than MAX_REASON_LEN bytes";
        /// `EInvalidParams`.
        InvalidParams = 17, "EInvalidParams", "pool parameters violate their ordering or bounds";
        /// `EInsufficientTreasury`.
        InsufficientTreasury = 18, "EInsufficientTreasury", "treasury holds less than the amount asked";
        /// `ETokenInactive`.
        TokenInactive = 19, "ETokenInactive", "the seal token is not active (unknown, unbonding, expired or under-staked)";
    }
}

/// What a seal token is for. On chain a `u8`: worker 0, user 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Role {
    /// A worker node; its token carries the node id.
    Worker,
    /// A cluster user (`kubectl` access by tier).
    User,
}

/// A `u8` that is not a [`Role`] or [`Tier`] code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} code {code} is not defined by k3s_daas::staking")]
pub struct InvalidCode {
    /// `role` or `tier`.
    pub what: &'static str,
    /// The code found.
    pub code: u8,
}

impl Role {
    /// The on-chain code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Worker => ROLE_WORKER,
            Self::User => ROLE_USER,
        }
    }

    /// `worker` or `user`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::User => "user",
        }
    }

    /// The access tier a stake of this role buys, given the `tier` its
    /// amount reaches (the package's `tier_for`, which its events carry
    /// for every role): a user's, never a worker's, whose stake admits a
    /// node and grants no `kubectl` access.
    pub fn access_tier(self, tier: Option<Tier>) -> Option<Tier> {
        tier.filter(|_| self == Self::User)
    }
}

impl From<Role> for u8 {
    fn from(role: Role) -> Self {
        role.code()
    }
}

impl TryFrom<u8> for Role {
    type Error = InvalidCode;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        match code {
            ROLE_WORKER => Ok(Self::Worker),
            ROLE_USER => Ok(Self::User),
            code => Err(InvalidCode { what: "role", code }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The access a stake buys, lowest first. On chain a `u8` 1..=4, with
/// `0` (`TIER_NONE`) meaning "below every threshold", which Rust spells
/// `Option::<Tier>::None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Read-only (`view`).
    Viewer,
    /// Edit in the user's own namespace (`edit`).
    Developer,
    /// Namespace admin (`admin`).
    Admin,
    /// Cluster admin (`cluster-admin`).
    Super,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Developer, Self::Admin, Self::Super];

    /// The tier a stake buys under `thresholds`: the highest tier whose
    /// threshold is at most `stake`, or `None` below the viewer threshold.
    /// Same as Move `staking::tier_for`.
    pub fn for_stake(stake: Mist, thresholds: &TierThresholds) -> Option<Self> {
        Self::ALL
            .iter()
            .rev()
            .copied()
            .find(|tier| stake >= thresholds.threshold(*tier))
    }

    /// The on-chain code (1..=4).
    pub const fn code(self) -> u8 {
        match self {
            Self::Viewer => TIER_VIEWER,
            Self::Developer => TIER_DEVELOPER,
            Self::Admin => TIER_ADMIN,
            Self::Super => TIER_SUPER,
        }
    }

    /// The on-chain code of an optional tier (`TIER_NONE` for `None`).
    pub const fn code_of(tier: Option<Self>) -> u8 {
        match tier {
            Some(t) => t.code(),
            None => TIER_NONE,
        }
    }

    /// The optional tier of an on-chain code.
    ///
    /// # Errors
    /// [`InvalidCode`] for a code above `TIER_SUPER`.
    pub const fn from_code(code: u8) -> Result<Option<Self>, InvalidCode> {
        match code {
            TIER_NONE => Ok(None),
            TIER_VIEWER => Ok(Some(Self::Viewer)),
            TIER_DEVELOPER => Ok(Some(Self::Developer)),
            TIER_ADMIN => Ok(Some(Self::Admin)),
            TIER_SUPER => Ok(Some(Self::Super)),
            code => Err(InvalidCode { what: "tier", code }),
        }
    }

    /// `viewer`, `developer`, `admin` or `super`: also the tier's
    /// Kubernetes group suffix.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Developer => "developer",
            Self::Admin => "admin",
            Self::Super => "super",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`Tier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier `{0}`: expected viewer, developer, admin or super")]
pub struct UnknownTier(pub String);

impl std::str::FromStr for Tier {
    type Err = UnknownTier;

    /// Parses [`Tier::as_str`], ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|tier| tier.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownTier(s.to_owned()))
    }
}

/// Serde for an `Option<Tier>` stored as a Move `u8` tier code.
pub mod tier_code {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Tier;

    /// Writes the tier code.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(tier: &Option<Tier>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(Tier::code_of(*tier))
    }

    /// Reads a tier code, refusing codes above `TIER_SUPER`.
    ///
    /// # Errors
    /// Those of the deserializer, and an unknown code.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tier>, D::Error> {
        let code = u8::deserialize(d)?;
        Tier::from_code(code).map_err(serde::de::Error::custom)
    }
}

/// The object id of a seal token, which is also the key of its stake
/// record in the pool. Wire form: a 32-byte address; text form `0x` + hex.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SealTokenId(Address);

impl SealTokenId {
    /// The token with this object id.
    pub const fn new(id: Address) -> Self {
        Self(id)
    }

    /// The object id.
    pub const fn address(self) -> Address {
        self.0
    }
}

impl From<Address> for SealTokenId {
    fn from(id: Address) -> Self {
        Self(id)
    }
}

impl From<SealTokenId> for Address {
    fn from(id: SealTokenId) -> Self {
        id.0
    }
}

impl fmt::Display for SealTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for SealTokenId {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

move_struct! {
    /// `TierThresholds`: the least stake of each tier.
    #[derive(Copy)]
    "staking"::TierThresholds {
        /// Least stake of [`Tier::Viewer`].
        viewer: Mist => "u64",
        /// Least stake of [`Tier::Developer`].
        developer: Mist => "u64",
        /// Least stake of [`Tier::Admin`].
        admin: Mist => "u64",
        /// Least stake of [`Tier::Super`].
        superuser: Mist => "u64",
    }
}

impl TierThresholds {
    /// The least stake of `tier`.
    pub const fn threshold(&self, tier: Tier) -> Mist {
        match tier {
            Tier::Viewer => self.viewer,
            Tier::Developer => self.developer,
            Tier::Admin => self.admin,
            Tier::Super => self.superuser,
        }
    }
}

impl Default for TierThresholds {
    /// 0.5 / 2 / 5 / 10 SUI.
    fn default() -> Self {
        Self {
            viewer: DEFAULT_TIER_VIEWER,
            developer: DEFAULT_TIER_DEVELOPER,
            admin: DEFAULT_TIER_ADMIN,
            superuser: DEFAULT_TIER_SUPER,
        }
    }
}

move_struct! {
    /// `PoolParams`: the pool's tunable parameters, set by `set_params`.
    #[derive(Copy)]
    "staking"::PoolParams {
        /// Least stake of any token.
        min_stake: Mist => "u64",
        /// Least stake of a worker token.
        worker_min_stake: Mist => "u64",
        /// Tier thresholds.
        tiers: TierThresholds => "TierThresholds",
        /// Share of the stake taken by an approved slash, in basis points.
        slash_rate_bps: u64 => "u64",
        /// Time from `request_unstake` until `withdraw` is allowed.
        unbonding_ms: u64 => "u64",
        /// Validity of a token from minting or refreshing.
        token_lifetime_ms: u64 => "u64",
    }
}

/// Why [`PoolParams`] were refused (Move: `EInvalidParams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidParams {
    /// `min_stake` is zero.
    #[error("min_stake must be positive")]
    ZeroMinStake,
    /// Not `min_stake <= viewer < developer < admin < superuser`.
    #[error("tier thresholds must satisfy min_stake <= viewer < developer < admin < superuser")]
    TierOrder,
    /// `worker_min_stake < min_stake`.
    #[error("worker_min_stake must be at least min_stake")]
    WorkerBelowMin,
    /// `slash_rate_bps > 10_000`.
    #[error("slash_rate_bps must be at most 10000")]
    SlashRate,
    /// `token_lifetime_ms` is zero or above `MAX_PERIOD_MS`.
    #[error("token_lifetime_ms must be in 1..=MAX_PERIOD_MS")]
    TokenLifetime,
    /// `unbonding_ms` above `MAX_PERIOD_MS`.
    #[error("unbonding_ms must be at most MAX_PERIOD_MS")]
    Unbonding,
}

impl Default for PoolParams {
    /// The parameters a new pool starts with (the `DEFAULT_*` constants).
    fn default() -> Self {
        Self {
            min_stake: DEFAULT_MIN_STAKE,
            worker_min_stake: DEFAULT_WORKER_MIN_STAKE,
            tiers: TierThresholds::default(),
            slash_rate_bps: DEFAULT_SLASH_RATE_BPS,
            unbonding_ms: DEFAULT_UNBONDING_MS,
            token_lifetime_ms: DEFAULT_TOKEN_LIFETIME_MS,
        }
    }
}

impl PoolParams {
    /// Checks the bounds `set_params` enforces.
    ///
    /// # Errors
    /// The first violated rule, in the order of [`InvalidParams`].
    pub fn validate(&self) -> Result<(), InvalidParams> {
        let t = &self.tiers;
        if self.min_stake.is_zero() {
            return Err(InvalidParams::ZeroMinStake);
        }
        if !(self.min_stake <= t.viewer
            && t.viewer < t.developer
            && t.developer < t.admin
            && t.admin < t.superuser)
        {
            return Err(InvalidParams::TierOrder);
        }
        if self.worker_min_stake < self.min_stake {
            return Err(InvalidParams::WorkerBelowMin);
        }
        if self.slash_rate_bps > BPS_DENOMINATOR {
            return Err(InvalidParams::SlashRate);
        }
        if self.token_lifetime_ms == 0 || self.token_lifetime_ms > MAX_PERIOD_MS {
            return Err(InvalidParams::TokenLifetime);
        }
        if self.unbonding_ms > MAX_PERIOD_MS {
            return Err(InvalidParams::Unbonding);
        }
        Ok(())
    }

    /// The least stake a token of `role` must keep to be active.
    pub fn required_stake(&self, role: Role) -> Mist {
        match role {
            Role::Worker => self.worker_min_stake.max(self.min_stake),
            Role::User => self.min_stake,
        }
    }

    /// The slash an approval takes from `stake` at the current rate.
    pub fn slash_amount(&self, stake: Mist) -> Mist {
        stake.basis_points(self.slash_rate_bps)
    }
}

move_struct! {
    /// `StakePool`: the shared pool holding every stake and the treasury.
    "staking"::StakePool {
        /// The pool's object id.
        id: Address => "UID",
        /// Current parameters.
        params: PoolParams => "PoolParams",
        /// Whether new stakes, top-ups and refreshes are refused.
        paused: bool => "bool",
        /// Sum of the stake of every record.
        total_staked: Mist => "u64",
        /// Slashed funds (`Balance<SUI>`).
        treasury: Mist => "Balance<SUI>",
        /// Stake records keyed by seal token id.
        records: MoveTable => "Table<ID, StakeRecord>",
        /// Pending slash proposals keyed by proposal id.
        proposals: MoveTable => "Table<u64, SlashProposal>",
        /// The id the next proposal gets.
        next_proposal_id: u64 => "u64",
    }
}

move_struct! {
    /// `StakeRecord`: the stake behind one seal token, kept in the pool.
    "staking"::StakeRecord {
        /// The staker (the token's owner).
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Kubernetes node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// The stake (`Balance<SUI>`).
        stake: Mist => "Balance<SUI>",
        /// When the token was minted.
        created_at_ms: u64 => "u64",
        /// When the token stops being valid unless refreshed.
        expires_at_ms: u64 => "u64",
        /// Set by `request_unstake`: when `withdraw` becomes possible.
        unbonding_until_ms: Option<u64> => "Option<u64>",
        /// Everything slashed from this record so far.
        slashed_total: Mist => "u64",
    }
}

/// Whether a seal token currently grants access, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Active: not unbonding, unexpired, staked enough.
    Active,
    /// `request_unstake` was called; withdrawable from `until_ms`.
    Unbonding {
        /// When `withdraw` becomes possible.
        until_ms: u64,
    },
    /// Past its expiry.
    Expired {
        /// When it expired.
        at_ms: u64,
    },
    /// Slashed below the least stake of its role.
    UnderStaked {
        /// The stake left.
        stake: Mist,
        /// The least stake of its role.
        required: Mist,
    },
}

impl StakeRecord {
    /// The token's status at `now_ms` under `params`; Move
    /// `staking::is_active` is `status(..) == Active`.
    pub fn status(&self, now_ms: u64, params: &PoolParams) -> TokenStatus {
        let required = params.required_stake(self.role);
        if let Some(until_ms) = self.unbonding_until_ms {
            TokenStatus::Unbonding { until_ms }
        } else if now_ms >= self.expires_at_ms {
            TokenStatus::Expired {
                at_ms: self.expires_at_ms,
            }
        } else if self.stake < required {
            TokenStatus::UnderStaked {
                stake: self.stake,
                required,
            }
        } else {
            TokenStatus::Active
        }
    }

    /// The tier the record's stake buys under `params`.
    pub fn tier(&self, params: &PoolParams) -> Option<Tier> {
        Tier::for_stake(self.stake, &params.tiers)
    }

    /// Whether anything was ever slashed from it: a worker's token then
    /// never admits its node again (the worker rule).
    pub fn was_slashed(&self) -> bool {
        self.slashed_total > Mist::ZERO
    }
}

/// The object id of the dynamic field holding `token`'s stake record in the
/// pool whose `records` table has UID `records_table`.
pub fn stake_record_field_id(records_table: Address, token: SealTokenId) -> Address {
    let key_type = TypeTag::Struct(Box::new(StructTag::new(
        Address::TWO,
        Identifier::from_static("object"),
        Identifier::from_static("ID"),
        Vec::new(),
    )));
    records_table.derive_dynamic_child_id(&key_type, token.address().as_bytes())
}

/// The object id of the dynamic field holding slash proposal `proposal_id`
/// in the pool whose `proposals` table has UID `proposals_table`.
pub fn slash_proposal_field_id(proposals_table: Address, proposal_id: u64) -> Address {
    proposals_table.derive_dynamic_child_id(&TypeTag::U64, &proposal_id.to_le_bytes())
}

move_struct! {
    /// `SlashProposal`: a pending request to slash a seal token's stake.
    "staking"::SlashProposal {
        /// The token whose stake would be slashed.
        token_id: SealTokenId => "ID",
        /// Who proposed it.
        reporter: Address => "address",
        /// 32-byte hash of the evidence kept off chain.
        evidence_hash: Vec<u8> => "vector<u8>",
        /// Why, in words.
        reason: String => "String",
        /// When it was proposed.
        created_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// `SealToken`: the staker's owned credential (`key` only: it cannot be
    /// transferred or wrapped). Stake, expiry and unbonding are in its
    /// [`StakeRecord`].
    "staking"::SealToken {
        /// The token's object id (the [`SealTokenId`]).
        id: SealTokenId => "UID",
        /// The pool holding its stake.
        pool_id: Address => "ID",
        /// The staker.
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Kubernetes node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// When it was minted.
        created_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// `AdminCap`: sets the pool's parameters and manages its treasury.
    "staking"::AdminCap {
        /// The cap's object id.
        id: Address => "UID",
        /// The pool it governs.
        pool_id: Address => "ID",
    }
}

move_struct! {
    /// `SlasherCap`: approves or rejects slash proposals of one pool.
    "staking"::SlasherCap {
        /// The cap's object id.
        id: Address => "UID",
        /// The pool it governs.
        pool_id: Address => "ID",
    }
}

move_struct! {
    /// Event `StakeCreated`: `stake_and_mint` minted a token.
    "staking"::StakeCreated {
        /// The pool.
        pool_id: Address => "ID",
        /// The new token.
        token_id: SealTokenId => "ID",
        /// The staker.
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// The stake.
        stake: Mist => "u64",
        /// The tier it buys.
        #[serde(with = "tier_code")]
        tier: Option<Tier> => "u8",
        /// When it was minted.
        created_at_ms: u64 => "u64",
        /// When it expires.
        expires_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// Event `StakeAdded`: `add_stake` topped a token up.
    "staking"::StakeAdded {
        /// The pool.
        pool_id: Address => "ID",
        /// The token.
        token_id: SealTokenId => "ID",
        /// The staker.
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// The amount added.
        added: Mist => "u64",
        /// The stake afterwards.
        stake: Mist => "u64",
        /// The tier it buys now.
        #[serde(with = "tier_code")]
        tier: Option<Tier> => "u8",
    }
}

move_struct! {
    /// Event `TokenRefreshed`: `refresh` extended a token's expiry.
    "staking"::TokenRefreshed {
        /// The pool.
        pool_id: Address => "ID",
        /// The token.
        token_id: SealTokenId => "ID",
        /// The staker.
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// The stake.
        stake: Mist => "u64",
        /// The tier it buys.
        #[serde(with = "tier_code")]
        tier: Option<Tier> => "u8",
        /// The new expiry.
        expires_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// Event `UnstakeRequested`: the token is inactive from now on.
    "staking"::UnstakeRequested {
        /// The pool.
        pool_id: Address => "ID",
        /// The token.
        token_id: SealTokenId => "ID",
        /// The staker.
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// The stake.
        stake: Mist => "u64",
        /// When `withdraw` becomes possible.
        unbonding_until_ms: u64 => "u64",
    }
}

move_struct! {
    /// Event `Withdrawn`: the token was deleted and its stake paid out.
    "staking"::Withdrawn {
        /// The pool.
        pool_id: Address => "ID",
        /// The deleted token.
        token_id: SealTokenId => "ID",
        /// The staker.
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// The amount paid out.
        amount: Mist => "u64",
    }
}

move_struct! {
    /// Event `SlashProposed`.
    "staking"::SlashProposed {
        /// The pool.
        pool_id: Address => "ID",
        /// The proposal's id.
        proposal_id: u64 => "u64",
        /// The token to slash.
        token_id: SealTokenId => "ID",
        /// Who proposed it.
        reporter: Address => "address",
        /// 32-byte evidence hash.
        evidence_hash: Vec<u8> => "vector<u8>",
        /// Why.
        reason: String => "String",
        /// When.
        created_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// Event `SlashApproved`: the slash was executed.
    "staking"::SlashApproved {
        /// The pool.
        pool_id: Address => "ID",
        /// The proposal's id.
        proposal_id: u64 => "u64",
        /// The slashed token.
        token_id: SealTokenId => "ID",
        /// The staker.
        owner: Address => "address",
        /// Worker or user.
        role: Role => "u8",
        /// Node name of a worker; empty for a user.
        node_id: Vec<u8> => "vector<u8>",
        /// The amount moved to the treasury.
        slashed: Mist => "u64",
        /// The stake left.
        stake: Mist => "u64",
        /// The tier the stake left buys.
        #[serde(with = "tier_code")]
        tier: Option<Tier> => "u8",
        /// The `SlasherCap` holder who approved.
        approver: Address => "address",
    }
}

move_struct! {
    /// Event `SlashRejected`.
    "staking"::SlashRejected {
        /// The pool.
        pool_id: Address => "ID",
        /// The proposal's id.
        proposal_id: u64 => "u64",
        /// The token it targeted.
        token_id: SealTokenId => "ID",
        /// The `SlasherCap` holder who rejected.
        rejecter: Address => "address",
    }
}

move_struct! {
    /// Event `ParamsUpdated`.
    "staking"::ParamsUpdated {
        /// The pool.
        pool_id: Address => "ID",
        /// The new parameters.
        params: PoolParams => "PoolParams",
    }
}

move_struct! {
    /// Event `PauseChanged`.
    "staking"::PauseChanged {
        /// The pool.
        pool_id: Address => "ID",
        /// Whether it is paused now.
        paused: bool => "bool",
    }
}

move_struct! {
    /// Event `TreasuryWithdrawn`.
    "staking"::TreasuryWithdrawn {
        /// The pool.
        pool_id: Address => "ID",
        /// The amount paid out.
        amount: Mist => "u64",
        /// Who received it.
        recipient: Address => "address",
    }
}

move_struct! {
    /// Event `SlasherGranted`: a new `SlasherCap` was minted.
    "staking"::SlasherGranted {
        /// The pool.
        pool_id: Address => "ID",
        /// The new cap.
        cap_id: Address => "ID",
        /// Who received it.
        recipient: Address => "address",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::MoveStruct;

    fn addr(byte: u8) -> Address {
        Address::new([byte; 32])
    }

    fn hex32(byte: u8) -> String {
        format!("{byte:02x}").repeat(32)
    }

    #[test]
    fn tier_for_stake_follows_thresholds() {
        let t = TierThresholds::default();
        let sui = |s: &str| s.parse::<Mist>().unwrap();
        assert_eq!(Tier::for_stake(sui("0.499999999"), &t), None);
        assert_eq!(Tier::for_stake(sui("0.5"), &t), Some(Tier::Viewer));
        assert_eq!(Tier::for_stake(sui("1.999999999"), &t), Some(Tier::Viewer));
        assert_eq!(Tier::for_stake(sui("2"), &t), Some(Tier::Developer));
        assert_eq!(Tier::for_stake(sui("5"), &t), Some(Tier::Admin));
        assert_eq!(Tier::for_stake(sui("9.9"), &t), Some(Tier::Admin));
        assert_eq!(Tier::for_stake(sui("10"), &t), Some(Tier::Super));
        assert_eq!(Tier::for_stake(Mist::MAX, &t), Some(Tier::Super));
        assert!(Tier::Viewer < Tier::Super);
    }

    #[test]
    fn tier_names_parse_and_unknown_names_are_named() {
        for tier in Tier::ALL {
            assert_eq!(tier.as_str().parse::<Tier>(), Ok(tier));
        }
        assert_eq!(" Admin ".parse::<Tier>(), Ok(Tier::Admin));
        let error = "root".parse::<Tier>().unwrap_err().to_string();
        assert!(
            error.contains("`root`") && error.contains("viewer"),
            "{error}"
        );
    }

    #[test]
    fn tier_and_role_codes_round_trip_and_refuse_unknown() {
        for tier in Tier::ALL {
            assert_eq!(Tier::from_code(tier.code()), Ok(Some(tier)));
        }
        assert_eq!(Tier::from_code(TIER_NONE), Ok(None));
        assert!(Tier::from_code(5).is_err());
        assert_eq!(Role::try_from(0), Ok(Role::Worker));
        assert_eq!(Role::try_from(1), Ok(Role::User));
        assert!(Role::try_from(2).is_err());
        assert!(bcs::from_bytes::<Role>(&[2]).is_err());
        assert_eq!(bcs::to_bytes(&Role::User).unwrap(), vec![1]);
    }

    #[test]
    fn default_params_are_valid_and_bounds_are_enforced() {
        let p = PoolParams::default();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.required_stake(Role::User), Mist::new(500_000_000));
        assert_eq!(p.required_stake(Role::Worker), Mist::new(5_000_000_000));
        assert_eq!(
            p.slash_amount(Mist::new(5_000_000_000)),
            Mist::new(500_000_000)
        );

        let mut bad = p;
        bad.min_stake = Mist::ZERO;
        assert_eq!(bad.validate(), Err(InvalidParams::ZeroMinStake));
        let mut bad = p;
        bad.tiers.developer = bad.tiers.admin;
        assert_eq!(bad.validate(), Err(InvalidParams::TierOrder));
        let mut bad = p;
        bad.min_stake = Mist::new(600_000_000);
        assert_eq!(bad.validate(), Err(InvalidParams::TierOrder));
        let mut bad = p;
        bad.worker_min_stake = Mist::new(1);
        assert_eq!(bad.validate(), Err(InvalidParams::WorkerBelowMin));
        let mut bad = p;
        bad.slash_rate_bps = 10_001;
        assert_eq!(bad.validate(), Err(InvalidParams::SlashRate));
        let mut bad = p;
        bad.token_lifetime_ms = 0;
        assert_eq!(bad.validate(), Err(InvalidParams::TokenLifetime));
        let mut bad = p;
        bad.unbonding_ms = MAX_PERIOD_MS + 1;
        assert_eq!(bad.validate(), Err(InvalidParams::Unbonding));
        let mut short = p;
        short.unbonding_ms = 0;
        assert_eq!(short.validate(), Ok(()));
    }

    fn record() -> StakeRecord {
        StakeRecord {
            owner: addr(0x11),
            role: Role::Worker,
            node_id: b"worker-001".to_vec(),
            stake: Mist::new(5_000_000_000),
            created_at_ms: 1_744_038_900_000,
            expires_at_ms: 1_746_630_900_000,
            unbonding_until_ms: None,
            slashed_total: Mist::ZERO,
        }
    }

    #[test]
    fn record_status_explains_inactivity() {
        let p = PoolParams::default();
        let mut r = record();
        assert_eq!(r.status(r.created_at_ms, &p), TokenStatus::Active);
        assert_eq!(r.tier(&p), Some(Tier::Admin));
        assert_eq!(
            r.status(r.expires_at_ms, &p),
            TokenStatus::Expired {
                at_ms: r.expires_at_ms
            }
        );
        r.stake = Mist::new(4_500_000_000);
        assert_eq!(
            r.status(r.created_at_ms, &p),
            TokenStatus::UnderStaked {
                stake: r.stake,
                required: p.worker_min_stake
            }
        );
        r.unbonding_until_ms = Some(7);
        assert_eq!(
            r.status(r.created_at_ms, &p),
            TokenStatus::Unbonding { until_ms: 7 }
        );
    }

    // Golden vectors: hand-computed BCS that the Move package produces for
    // the same values (`bcs::to_bytes` in Move).

    #[test]
    fn golden_stake_record() {
        let r = record();
        let expected = format!(
            "{owner}{role}{node_len}{node}{stake}{created}{expires}{unbonding}{slashed}",
            owner = hex32(0x11),
            role = "00",
            node_len = "0a",
            node = "776f726b65722d303031",
            stake = "00f2052a01000000",
            created = "20b1d11096010000",
            expires = "207950ab96010000",
            unbonding = "00",
            slashed = "0000000000000000",
        );
        let bytes = bcs::to_bytes(&r).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<StakeRecord>(&bytes).unwrap(), r);

        let mut unbonding = r;
        unbonding.unbonding_until_ms = Some(1);
        let bytes = bcs::to_bytes(&unbonding).unwrap();
        assert!(hex::encode(&bytes).ends_with(concat!(
            "01",               // Some
            "0100000000000000", // unbonding_until_ms 1
            "0000000000000000", // slashed_total 0
        )));
        assert_eq!(bcs::from_bytes::<StakeRecord>(&bytes).unwrap(), unbonding);
    }

    #[test]
    fn golden_pool_params() {
        let p = PoolParams::default();
        let expected = concat!(
            "0065cd1d00000000", // min_stake 0.5 SUI
            "00f2052a01000000", // worker_min_stake 5 SUI
            "0065cd1d00000000", // viewer 0.5 SUI
            "0094357700000000", // developer 2 SUI
            "00f2052a01000000", // admin 5 SUI
            "00e40b5402000000", // superuser 10 SUI
            "e803000000000000", // slash_rate_bps 1000
            "00840c2400000000", // unbonding_ms 7 days
            "00c87e9a00000000", // token_lifetime_ms 30 days
        );
        let bytes = bcs::to_bytes(&p).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<PoolParams>(&bytes).unwrap(), p);
    }

    #[test]
    fn golden_seal_token() {
        let token = SealToken {
            id: SealTokenId::new(addr(0xaa)),
            pool_id: addr(0xbb),
            owner: addr(0x11),
            role: Role::User,
            node_id: Vec::new(),
            created_at_ms: 1_744_038_900_000,
        };
        let expected = format!(
            "{}{}{}0100{}",
            hex32(0xaa),
            hex32(0xbb),
            hex32(0x11),
            "20b1d11096010000"
        );
        let bytes = bcs::to_bytes(&token).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<SealToken>(&bytes).unwrap(), token);
    }

    #[test]
    fn golden_stake_pool() {
        let pool = StakePool {
            id: addr(0x01),
            params: PoolParams::default(),
            paused: false,
            total_staked: Mist::new(5_000_000_000),
            treasury: Mist::new(1),
            records: MoveTable {
                id: addr(0x02),
                size: 1,
            },
            proposals: MoveTable {
                id: addr(0x03),
                size: 0,
            },
            next_proposal_id: 7,
        };
        let expected = format!(
            "{}{}00{}{}{}{}{}{}{}",
            hex32(0x01),
            hex::encode(bcs::to_bytes(&PoolParams::default()).unwrap()),
            "00f2052a01000000",
            "0100000000000000",
            hex32(0x02),
            "0100000000000000",
            hex32(0x03),
            "0000000000000000",
            "0700000000000000",
        );
        let bytes = bcs::to_bytes(&pool).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<StakePool>(&bytes).unwrap(), pool);
    }

    #[test]
    fn golden_slash_proposal_and_caps() {
        let proposal = SlashProposal {
            token_id: SealTokenId::new(addr(0xaa)),
            reporter: addr(0x22),
            evidence_hash: vec![0xee; 32],
            reason: "double sign".to_owned(),
            created_at_ms: 1,
        };
        let expected = format!(
            "{}{}20{}0b{}{}",
            hex32(0xaa),
            hex32(0x22),
            hex32(0xee),
            "646f75626c65207369676e",
            "0100000000000000"
        );
        let bytes = bcs::to_bytes(&proposal).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<SlashProposal>(&bytes).unwrap(), proposal);

        let cap = SlasherCap {
            id: addr(0x05),
            pool_id: addr(0x01),
        };
        let bytes = bcs::to_bytes(&cap).unwrap();
        assert_eq!(
            hex::encode(&bytes),
            format!("{}{}", hex32(0x05), hex32(0x01))
        );
        assert_eq!(bcs::from_bytes::<SlasherCap>(&bytes).unwrap(), cap);
        let admin = AdminCap {
            id: addr(0x04),
            pool_id: addr(0x01),
        };
        assert_eq!(
            bcs::from_bytes::<AdminCap>(&bcs::to_bytes(&admin).unwrap()).unwrap(),
            admin
        );
    }

    #[test]
    fn golden_events() {
        let created = StakeCreated {
            pool_id: addr(0x01),
            token_id: SealTokenId::new(addr(0xaa)),
            owner: addr(0x11),
            role: Role::User,
            node_id: Vec::new(),
            stake: Mist::new(2_000_000_000),
            tier: Some(Tier::Developer),
            created_at_ms: 1_744_038_900_000,
            expires_at_ms: 1_746_630_900_000,
        };
        let expected = format!(
            "{}{}{}0100{}02{}{}",
            hex32(0x01),
            hex32(0xaa),
            hex32(0x11),
            "0094357700000000",
            "20b1d11096010000",
            "207950ab96010000"
        );
        let bytes = bcs::to_bytes(&created).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<StakeCreated>(&bytes).unwrap(), created);

        let approved = SlashApproved {
            pool_id: addr(0x01),
            proposal_id: 3,
            token_id: SealTokenId::new(addr(0xaa)),
            owner: addr(0x11),
            role: Role::Worker,
            node_id: b"n1".to_vec(),
            slashed: Mist::new(500_000_000),
            stake: Mist::new(4_500_000_000),
            tier: Some(Tier::Developer),
            approver: addr(0x33),
        };
        let expected = format!(
            "{}0300000000000000{}{}00026e31{}{}02{}",
            hex32(0x01),
            hex32(0xaa),
            hex32(0x11),
            "0065cd1d00000000",
            "008d380c01000000",
            hex32(0x33)
        );
        let bytes = bcs::to_bytes(&approved).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<SlashApproved>(&bytes).unwrap(), approved);

        // An unknown tier code in an event is refused, not mapped.
        let mut bad = bytes.clone();
        let tier_at = bad.len() - 33;
        bad[tier_at] = 9;
        assert!(bcs::from_bytes::<SlashApproved>(&bad).is_err());
        let mut none = bytes;
        none[tier_at] = 0;
        assert_eq!(bcs::from_bytes::<SlashApproved>(&none).unwrap().tier, None);
    }

    #[test]
    fn struct_tags_name_the_package() {
        let tag = StakeCreated::struct_tag(crate::package::PACKAGE_ID);
        assert_eq!(
            tag.to_string(),
            "0x000000000000000000000000000000000000000000000000000000000000daa5::staking::StakeCreated"
        );
        assert!(StakeCreated::matches(&tag, crate::package::PACKAGE_ID));
        assert!(!StakeAdded::matches(&tag, crate::package::PACKAGE_ID));
        assert!(!StakeCreated::matches(&tag, Address::TWO));
    }

    #[test]
    fn record_field_ids_are_derived_per_key() {
        let table = crate::package::STAKE_RECORDS_TABLE_ID;
        let a = stake_record_field_id(table, SealTokenId::new(addr(1)));
        let b = stake_record_field_id(table, SealTokenId::new(addr(2)));
        assert_ne!(a, b);
        assert_eq!(a, stake_record_field_id(table, SealTokenId::new(addr(1))));
        assert_ne!(
            slash_proposal_field_id(table, 0),
            slash_proposal_field_id(table, 1)
        );
    }
}
