//! Staking: plan a stake (what will be signed, checked against the pool
//! before any gas is spent), stake as a user or a worker, add stake,
//! refresh, request unstake, withdraw, and the status of an owner's seal
//! tokens read from the chain.

use daas_core::chain::ChainClient;
use daas_core::chain::calls::Called;
use daas_core::clock::format_ms;
use daas_core::package::staking::{PoolParams, SealToken, TokenStatus};
use daas_core::package::{Mist, MoveStruct as _, Role, SealTokenId, Tier};
use daas_core::wallet::Keypair;
use serde::Serialize;
use sui_sdk_types::{Address, Digest};

use super::{Context, OpsError};

/// SUI kept aside for gas when checking that a stake is affordable.
pub const GAS_RESERVE: Mist = Mist::new(100_000_000);

/// How much a user stakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAmount {
    /// Exactly the threshold of this tier.
    Tier(Tier),
    /// This amount (the tier it buys follows).
    Amount(Mist),
}

/// What to stake for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakeKind {
    /// `kubectl` access.
    User(UserAmount),
    /// A worker node; `None` stakes the pool's worker minimum.
    Worker {
        /// The Kubernetes node name.
        node: String,
        /// The stake.
        amount: Option<Mist>,
    },
}

/// A stake checked against the pool and the sender's balance: exactly what
/// [`stake`] will sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StakePlan {
    /// Who signs and pays.
    pub sender: Address,
    /// `user` or `worker`.
    #[serde(serialize_with = "super::json::role")]
    pub role: Role,
    /// The worker's node name.
    pub node: Option<String>,
    /// The stake.
    pub amount: Mist,
    /// The tier it buys.
    #[serde(serialize_with = "super::json::tier")]
    pub tier: Option<Tier>,
    /// The sender's SUI before staking.
    pub balance: Mist,
    /// The Move call.
    pub call: String,
    /// How long the seal token lives unless refreshed (ms).
    pub lifetime_ms: u64,
    /// For a user stake: the sender's active user seal token with the most
    /// stake, which adding stake to could raise instead of minting another.
    pub held: Option<HeldToken>,
}

/// An active user seal token the sender already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldToken {
    /// The token.
    pub seal_token: SealTokenId,
    /// Its stake.
    pub stake: Mist,
    /// The tier it buys.
    #[serde(serialize_with = "super::json::tier")]
    pub tier: Option<Tier>,
}

impl StakePlan {
    /// What will be signed, line by line, for a confirmation.
    pub fn lines(&self) -> Vec<String> {
        let what = match (&self.node, self.tier) {
            (Some(node), _) => format!("worker node `{node}`"),
            (None, Some(tier)) => format!("tier {tier}: {}", tier_powers(tier)),
            (None, None) => "no tier".to_owned(),
        };
        let mut lines = vec![
            format!(
                "stake {} from {} (balance {}) for {what}",
                self.amount, self.sender, self.balance
            ),
            format!("signs {}", self.call),
            format!(
                "the seal token lives {} days unless refreshed",
                self.lifetime_ms / 86_400_000
            ),
        ];
        if let Some(held) = &self.held {
            lines.push(self.held_note(held));
        }
        lines
    }

    fn held_note(&self, held: &HeldToken) -> String {
        let tier = held
            .tier
            .map_or("no tier".to_owned(), |tier| tier.to_string());
        let holding = format!(
            "you already hold seal token {} ({tier}, {})",
            held.seal_token, held.stake
        );
        match self.amount.checked_sub(held.stake) {
            Some(more) if !more.is_zero() => format!(
                "{holding}: adding {more} to it (`stake add`) gives the same stake without a second seal token"
            ),
            _ => format!("{holding}, as much as this stake: this mints a second seal token"),
        }
    }
}

/// What each tier may do (the master's bindings), for previews.
pub fn tier_powers(tier: Tier) -> &'static str {
    match tier {
        Tier::Viewer => "read everything (view)",
        Tier::Developer => "read everything; edit in your own namespace daas-u-<address>",
        Tier::Admin => "administer workloads in every non-system namespace (admin)",
        Tier::Super => "everything (cluster-admin)",
    }
}

/// Checks `kind` against the pool's parameters and the sender's balance,
/// and describes the transaction.
///
/// # Errors
/// [`OpsError::Refused`] for a stake the package would refuse or the
/// sender cannot afford; chain errors.
pub async fn plan(ctx: &Context, sender: Address, kind: &StakeKind) -> Result<StakePlan, OpsError> {
    let chain = ctx.chain()?;
    let pool = chain.stake_pool().await?.value;
    if pool.paused {
        return Err(OpsError::Refused(
            "the stake pool is paused: new stakes are refused".to_owned(),
        ));
    }
    let params = pool.params;
    let (role, node, amount) = match kind {
        StakeKind::User(UserAmount::Tier(tier)) => {
            (Role::User, None, params.tiers.threshold(*tier))
        }
        StakeKind::User(UserAmount::Amount(amount)) => (Role::User, None, *amount),
        StakeKind::Worker { node, amount } => {
            if node.is_empty() {
                return Err(OpsError::Invalid {
                    what: "node name",
                    value: String::new(),
                    reason: "a worker stake needs its node's name".to_owned(),
                });
            }
            (
                Role::Worker,
                Some(node.clone()),
                amount.unwrap_or(params.required_stake(Role::Worker)),
            )
        }
    };
    check_amount(&params, role, amount)?;
    let held = match role {
        Role::User => held_user_token(ctx, sender).await?,
        Role::Worker => None,
    };
    let balance = Mist::new(chain.sui_balance(sender).await?);
    let needed = amount.checked_add(GAS_RESERVE).unwrap_or(Mist::MAX);
    if balance < needed {
        return Err(OpsError::Refused(format!(
            "{sender} has {balance}; staking {amount} needs {needed} with gas: fund it first (the devnet faucet, or a transfer)"
        )));
    }
    let call = format!(
        "{}::staking::stake_and_mint(pool {}, {amount}, role {}, node `{}`)",
        chain.package_id(),
        chain.stake_pool_id(),
        role.as_str(),
        node.as_deref().unwrap_or_default()
    );
    Ok(StakePlan {
        sender,
        role,
        node,
        amount,
        tier: Tier::for_stake(amount, &params.tiers),
        balance,
        call,
        lifetime_ms: params.token_lifetime_ms,
        held,
    })
}

/// `sender`'s active user seal token with the most stake, the oldest of
/// equals.
async fn held_user_token(ctx: &Context, sender: Address) -> Result<Option<HeldToken>, OpsError> {
    let status = status(ctx, sender).await?;
    Ok(active_user_tokens(&status.tokens)
        .rev()
        .max_by_key(|token| token.stake)
        .map(|token| HeldToken {
            seal_token: token.seal_token,
            stake: token.stake,
            tier: token.tier,
        }))
}

fn check_amount(params: &PoolParams, role: Role, amount: Mist) -> Result<(), OpsError> {
    let required = params.required_stake(role);
    if amount < required {
        return Err(OpsError::Refused(format!(
            "a {} stake must be at least {required}; {amount} is too little",
            role.as_str()
        )));
    }
    Ok(())
}

/// A transaction done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// What was done.
    pub action: &'static str,
    /// The seal token acted on.
    pub seal_token: SealTokenId,
    /// The transaction's digest.
    pub digest: Digest,
    /// The stake afterwards, if the call says.
    pub stake: Option<Mist>,
    /// The tier afterwards, if the call says; none for a worker's token
    /// (see [`daas_core::chain::reads::SealTokenState::tier`]).
    #[serde(serialize_with = "super::json::tier")]
    pub tier: Option<Tier>,
    /// When the token expires or unbonding ends (ms), if the call says.
    pub until_ms: Option<u64>,
}

/// Signs and executes `plan` with `signer` (which must be its sender).
///
/// # Errors
/// Read-only session, another signer, or the chain's refusal.
pub async fn stake(ctx: &Context, signer: &Keypair, plan: &StakePlan) -> Result<Receipt, OpsError> {
    ctx.ensure_writable("stake")?;
    if signer.address() != plan.sender {
        return Err(OpsError::Refused(format!(
            "the plan is for {}, not {}",
            plan.sender,
            signer.address()
        )));
    }
    let node = plan.node.as_deref().unwrap_or_default();
    let minted = ctx
        .chain()?
        .stake_and_mint(signer, plan.amount, plan.role, node)
        .await?;
    Ok(Receipt {
        action: "stake",
        seal_token: minted.token,
        digest: minted.outcome.digest,
        stake: Some(minted.event.stake),
        tier: plan.role.access_tier(minted.event.tier),
        until_ms: Some(minted.event.expires_at_ms),
    })
}

/// A seal token's operation: what it does and to which token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAction {
    /// Adds stake.
    Add(Mist),
    /// Extends the expiry.
    Refresh,
    /// Ends access and starts unbonding.
    Unstake,
    /// Returns the stake after unbonding and deletes the token.
    Withdraw,
}

impl TokenAction {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Add(_) => "add stake",
            Self::Refresh => "refresh",
            Self::Unstake => "request unstake",
            Self::Withdraw => "withdraw",
        }
    }

    /// The Move call it makes on `token`, for the confirmation.
    pub fn describe(self, token: SealTokenId) -> String {
        match self {
            Self::Add(amount) => format!("staking::add_stake(token {token}, {amount})"),
            Self::Refresh => format!("staking::refresh(token {token})"),
            Self::Unstake => format!(
                "staking::request_unstake(token {token}): access ends now, the stake unbonds"
            ),
            Self::Withdraw => {
                format!("staking::withdraw(token {token}): the stake returns, the token is deleted")
            }
        }
    }
}

/// The amount of SUI a person typed to add to a seal token: more than
/// zero (the package aborts a zero amount).
///
/// # Errors
/// Why it is not such an amount.
pub fn added_amount(text: &str) -> Result<Mist, String> {
    let amount: Mist = text
        .parse()
        .map_err(|error| format!("`{text}` is not an amount of SUI: {error}"))?;
    positive_addition(amount)
}

/// `amount` if it is more than zero.
fn positive_addition(amount: Mist) -> Result<Mist, String> {
    if amount == Mist::ZERO {
        return Err("the amount to add must be more than 0 SUI".to_owned());
    }
    Ok(amount)
}

/// Runs `action` on `token`, signed by `signer`.
///
/// # Errors
/// Read-only session, or the chain's refusal (e.g. unbonding not over).
pub async fn act(
    ctx: &Context,
    signer: &Keypair,
    token: SealTokenId,
    action: TokenAction,
) -> Result<Receipt, OpsError> {
    ctx.ensure_writable(action.name())?;
    if let TokenAction::Add(amount) = action {
        positive_addition(amount).map_err(OpsError::Refused)?;
    }
    let chain = ctx.chain()?;
    let role = ensure_allowed(&chain, token, action).await?;
    let receipt = |digest, stake, tier: Option<Tier>, until_ms| Receipt {
        action: action.name(),
        seal_token: token,
        digest,
        stake,
        tier: role.access_tier(tier),
        until_ms,
    };
    Ok(match action {
        TokenAction::Add(amount) => {
            let Called { event, outcome } = chain.add_stake(signer, token, amount).await?;
            receipt(outcome.digest, Some(event.stake), event.tier, None)
        }
        TokenAction::Refresh => {
            let Called { event, outcome } = chain.refresh(signer, token).await?;
            receipt(
                outcome.digest,
                Some(event.stake),
                event.tier,
                Some(event.expires_at_ms),
            )
        }
        TokenAction::Unstake => {
            let Called { event, outcome } = chain.request_unstake(signer, token).await?;
            forget_credentials(token);
            receipt(outcome.digest, None, None, Some(event.unbonding_until_ms))
        }
        TokenAction::Withdraw => {
            let Called { event, outcome } = chain.withdraw(signer, token).await?;
            receipt(outcome.digest, Some(event.amount), None, None)
        }
    })
}

/// Refuses, before anything is signed, an action the chain would abort,
/// saying what to do instead; the chain still decides. The token's role
/// when allowed.
async fn ensure_allowed(
    chain: &ChainClient,
    token: SealTokenId,
    action: TokenAction,
) -> Result<Role, OpsError> {
    let now_ms = chain.clock_timestamp_ms().await?;
    let view = view(chain, token, now_ms).await?;
    match view.state.refusal(action, now_ms) {
        Some(why) => Err(OpsError::Refused(format!("seal token {token} {why}"))),
        None => Ok(view.role),
    }
}

/// Forgets the kubectl credentials cached for `token` (and the chain's
/// remembered "allowed"), so the next kubectl command asks the chain and
/// says access ended. Best effort: the master refuses the token anyway.
fn forget_credentials(token: SealTokenId) {
    let Some(dir) = super::credential::default_cache_dir() else {
        return;
    };
    if let Err(error) = super::credential::forget(&dir, token) {
        tracing::warn!(%error, "cannot forget the cached kubectl credentials");
    }
}

/// One seal token of an owner, as the chain has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenView {
    /// The token.
    pub seal_token: SealTokenId,
    /// `user` or `worker`.
    #[serde(serialize_with = "super::json::role")]
    pub role: Role,
    /// The worker's node name.
    pub node: String,
    /// The stake (zero once withdrawn).
    pub stake: Mist,
    /// The tier it buys.
    #[serde(serialize_with = "super::json::tier")]
    pub tier: Option<Tier>,
    /// Whether it grants access now, and if not why.
    pub state: TokenState,
    /// When it expires unless refreshed (ms).
    pub expires_at_ms: u64,
    /// Everything slashed from it.
    pub slashed: Mist,
}

/// Where a seal token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TokenState {
    /// Grants access.
    Active,
    /// Unstake requested; withdrawable from `until_ms`.
    Unbonding {
        /// When (ms).
        until_ms: u64,
    },
    /// Past its expiry.
    Expired {
        /// When (ms).
        at_ms: u64,
    },
    /// Slashed below its role's minimum.
    Understaked {
        /// The least stake of its role.
        required: Mist,
    },
    /// A worker token slashed at least once: it never admits its node
    /// again, whatever stake is added (the worker rule); what is left can
    /// only be unstaked and withdrawn.
    Slashed {
        /// Everything slashed from it.
        slashed: Mist,
    },
    /// No stake record (withdrawn).
    Withdrawn,
}

impl TokenState {
    /// A short description.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Unbonding { .. } => "unbonding",
            Self::Expired { .. } => "expired",
            Self::Understaked { .. } => "understaked",
            Self::Slashed { .. } => "slashed",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Why the package would abort `action` on a token in this state at
    /// `now_ms` (its asserts: no record once withdrawn; nothing but
    /// withdraw while unbonding, and that only once it is over; no refresh
    /// below the role's minimum), or `None` when the chain may take it.
    pub fn refusal(self, action: TokenAction, now_ms: u64) -> Option<String> {
        match (self, action) {
            (Self::Withdrawn, _) => Some("was already withdrawn".to_owned()),
            (Self::Unbonding { until_ms }, TokenAction::Withdraw) => (now_ms < until_ms)
                .then(|| format!("is unbonding until {}; withdraw then", format_ms(until_ms))),
            (Self::Unbonding { until_ms }, _) => Some(format!(
                "is unbonding (its access has ended): it can only be withdrawn, from {}",
                format_ms(until_ms)
            )),
            (_, TokenAction::Withdraw) => Some(
                "was not unstaked: request unstake first, then withdraw once it has unbonded"
                    .to_owned(),
            ),
            (Self::Understaked { required }, TokenAction::Refresh) => Some(format!(
                "is below its role's minimum stake of {required}: add stake first"
            )),
            (Self::Slashed { .. }, TokenAction::Add(_) | TokenAction::Refresh) => Some(
                "is a slashed worker token, which never admits its node again: unstake it, \
                 withdraw what is left, and stake a new one for the node"
                    .to_owned(),
            ),
            (
                Self::Active
                | Self::Expired { .. }
                | Self::Understaked { .. }
                | Self::Slashed { .. },
                _,
            ) => None,
        }
    }
}

/// An owner's seal tokens at the chain's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StakeStatus {
    /// The owner.
    pub owner: Address,
    /// The chain's clock (ms).
    pub chain_time_ms: u64,
    /// The tokens, oldest first.
    pub tokens: Vec<TokenView>,
    /// The pool's parameters (tiers, unbonding, lifetime).
    #[serde(skip)]
    pub params: PoolParams,
}

/// The stake pool's parameters: tier prices, unbonding, lifetime.
///
/// # Errors
/// The chain failed.
pub async fn pool_params(ctx: &Context) -> Result<PoolParams, OpsError> {
    Ok(ctx.chain()?.stake_pool().await?.value.params)
}

/// The seal tokens `owner` holds, with their stake and state.
///
/// # Errors
/// The chain failed.
pub async fn status(ctx: &Context, owner: Address) -> Result<StakeStatus, OpsError> {
    let chain = ctx.chain()?;
    let ids = chain
        .owned_objects_of_type(owner, &SealToken::struct_tag(chain.package_id()))
        .await?;
    let now_ms = chain.clock_timestamp_ms().await?;
    let params = chain.stake_pool().await?.value.params;
    let mut tokens = Vec::with_capacity(ids.len());
    for id in ids {
        tokens.push(view(&chain, SealTokenId::new(id), now_ms).await?);
    }
    tokens.sort_by_key(|t| (t.expires_at_ms, t.seal_token.to_string()));
    Ok(StakeStatus {
        owner,
        chain_time_ms: now_ms,
        tokens,
        params,
    })
}

async fn view(chain: &ChainClient, id: SealTokenId, now_ms: u64) -> Result<TokenView, OpsError> {
    let state = chain.seal_token_state(id).await?;
    let token = &state.token.value;
    let node = String::from_utf8_lossy(&token.node_id).into_owned();
    let Some(record) = &state.record else {
        return Ok(TokenView {
            seal_token: id,
            role: token.role,
            node,
            stake: Mist::new(0),
            tier: None,
            state: TokenState::Withdrawn,
            expires_at_ms: 0,
            slashed: Mist::new(0),
        });
    };
    let token_state = match record.status(now_ms, &state.pool.params) {
        TokenStatus::Unbonding { until_ms } => TokenState::Unbonding { until_ms },
        _ if token.role == Role::Worker && record.was_slashed() => TokenState::Slashed {
            slashed: record.slashed_total,
        },
        TokenStatus::Active => TokenState::Active,
        TokenStatus::Expired { at_ms } => TokenState::Expired { at_ms },
        TokenStatus::UnderStaked { required, .. } => TokenState::Understaked { required },
    };
    Ok(TokenView {
        seal_token: id,
        role: token.role,
        node,
        stake: record.stake,
        tier: state.tier(),
        state: token_state,
        expires_at_ms: record.expires_at_ms,
        slashed: record.slashed_total,
    })
}

/// The wallet's only active user seal token.
///
/// # Errors
/// No wallet, chain errors, or [`OpsError::Refused`] when the wallet has
/// no active user token or several (then one must be named).
pub async fn only_active_user_token(ctx: &Context) -> Result<SealTokenId, OpsError> {
    let owner = super::wallet::address(ctx)?;
    let status = status(ctx, owner).await?;
    let active: Vec<&TokenView> = active_user_tokens(&status.tokens).collect();
    match active.as_slice() {
        [one] => Ok(one.seal_token),
        [] => Err(no_active_user_token(owner)),
        several => Err(OpsError::Refused(format!(
            "{owner} has several active user seal tokens ({}); name one with --seal-token",
            listed(several)
        ))),
    }
}

/// `0x… (tier), 0x… (tier)`: the tokens a user may choose from.
fn listed(tokens: &[&TokenView]) -> String {
    let named: Vec<String> = tokens
        .iter()
        .map(|token| match token.tier {
            Some(tier) => format!("{} ({tier})", token.seal_token),
            None => format!("{} (below every tier)", token.seal_token),
        })
        .collect();
    named.join(", ")
}

/// The wallet's active user seal token that sees the most: the highest
/// tier, the oldest of equals. For the reads of a face that cannot ask
/// which token to use (the TUI's node list and audit log): any of the
/// wallet's tokens will do, and a higher tier sees more.
///
/// # Errors
/// No wallet, chain errors, or [`OpsError::Refused`] when the wallet has
/// no active user token.
pub async fn widest_view_user_token(ctx: &Context) -> Result<SealTokenId, OpsError> {
    let owner = super::wallet::address(ctx)?;
    let status = status(ctx, owner).await?;
    widest_view(&status.tokens).ok_or_else(|| no_active_user_token(owner))
}

/// The seal token to sign for to read node health as the wallet's holder:
/// its widest-viewing active user token, else any other of its tokens
/// (active first): the master shows a signer their own nodes in full
/// whatever the token grants, so a node operator without a user stake
/// still sees theirs.
///
/// # Errors
/// No wallet, chain errors, or [`OpsError::Refused`] when the wallet
/// holds no seal token (it owns no node either).
pub async fn node_viewer_token(ctx: &Context) -> Result<SealTokenId, OpsError> {
    let owner = super::wallet::address(ctx)?;
    let status = status(ctx, owner).await?;
    widest_view(&status.tokens)
        .or_else(|| {
            let active = |t: &&TokenView| t.state == TokenState::Active;
            let any = status.tokens.iter().find(active).or(status.tokens.first());
            any.map(|token| token.seal_token)
        })
        .ok_or_else(|| {
            OpsError::Refused(format!(
                "{owner} holds no seal token, so owns no node: stake first (`daas-console stake --tier viewer`)"
            ))
        })
}

/// The highest-tier active user token of `tokens` (oldest first), the
/// first of equals.
fn widest_view(tokens: &[TokenView]) -> Option<SealTokenId> {
    // `max_by_key` keeps the last of equals: walk newest first.
    active_user_tokens(tokens)
        .rev()
        .max_by_key(|token| token.tier)
        .map(|token| token.seal_token)
}

/// The user tokens of `tokens` that grant access now.
fn active_user_tokens(tokens: &[TokenView]) -> impl DoubleEndedIterator<Item = &TokenView> {
    tokens
        .iter()
        .filter(|t| t.role == Role::User && t.state == TokenState::Active)
}

fn no_active_user_token(owner: Address) -> OpsError {
    OpsError::Refused(format!(
        "{owner} has no active user seal token: stake first (`daas-console stake --tier viewer`)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: u8, role: Role, tier: Option<Tier>, state: TokenState) -> TokenView {
        TokenView {
            seal_token: SealTokenId::from(Address::new([id; 32])),
            role,
            node: String::new(),
            stake: Mist::new(1),
            tier,
            state,
            expires_at_ms: 0,
            slashed: Mist::new(0),
        }
    }

    fn id(id: u8) -> SealTokenId {
        SealTokenId::from(Address::new([id; 32]))
    }

    fn user_plan(amount: u64, held: Option<HeldToken>) -> StakePlan {
        StakePlan {
            sender: Address::new([7; 32]),
            role: Role::User,
            node: None,
            amount: Mist::new(amount),
            tier: Some(Tier::Admin),
            balance: Mist::new(100 * Mist::PER_SUI),
            call: "0xdaa5::staking::stake_and_mint(…)".to_owned(),
            lifetime_ms: 30 * 86_400_000,
            held,
        }
    }

    #[test]
    fn a_plan_says_what_it_signs_and_which_token_stake_could_raise_instead() {
        let plain = user_plan(5 * Mist::PER_SUI, None).lines();
        assert_eq!(plain.len(), 3, "{plain:?}");
        assert!(plain[0].starts_with("stake 5 SUI from 0x0707"), "{plain:?}");
        assert!(plain[0].ends_with(
            "for tier admin: administer workloads in every non-system namespace (admin)"
        ));
        assert_eq!(plain[1], "signs 0xdaa5::staking::stake_and_mint(…)");
        assert_eq!(plain[2], "the seal token lives 30 days unless refreshed");

        let held = |stake| HeldToken {
            seal_token: id(9),
            stake: Mist::new(stake),
            tier: Some(Tier::Developer),
        };
        let lower = user_plan(5 * Mist::PER_SUI, Some(held(2 * Mist::PER_SUI))).lines();
        assert_eq!(
            lower[3],
            format!(
                "you already hold seal token {} (developer, 2 SUI): adding 3 SUI to it (`stake add`) \
                 gives the same stake without a second seal token",
                id(9)
            )
        );
        let same = user_plan(2 * Mist::PER_SUI, Some(held(2 * Mist::PER_SUI))).lines();
        assert!(
            same[3].ends_with("as much as this stake: this mints a second seal token"),
            "{same:?}"
        );
    }

    #[test]
    fn the_widest_view_is_the_highest_active_user_tier_oldest_first() {
        let active = TokenState::Active;
        let tokens = [
            token(1, Role::User, Some(Tier::Developer), active),
            token(2, Role::User, Some(Tier::Admin), active),
            token(3, Role::User, Some(Tier::Admin), active),
            // Higher, but not a user's or not active: never chosen.
            token(4, Role::Worker, Some(Tier::Super), active),
            token(
                5,
                Role::User,
                Some(Tier::Super),
                TokenState::Unbonding { until_ms: 9 },
            ),
            token(6, Role::User, Some(Tier::Super), TokenState::Withdrawn),
        ];
        assert_eq!(widest_view(&tokens), Some(id(2)));
        assert_eq!(widest_view(&tokens[..1]), Some(id(1)));
        assert_eq!(widest_view(&tokens[3..]), None);
        assert_eq!(widest_view(&[]), None);
    }

    #[test]
    fn several_tokens_are_listed_with_their_tiers_to_choose_from() {
        let viewer = token(1, Role::User, Some(Tier::Viewer), TokenState::Active);
        let admin = token(2, Role::User, Some(Tier::Admin), TokenState::Active);
        let text = listed(&[&viewer, &admin]);
        assert_eq!(text, format!("{} (viewer), {} (admin)", id(1), id(2)));
    }

    #[test]
    fn an_added_amount_is_more_than_zero() {
        assert_eq!(added_amount("1.5"), Ok(Mist::new(1_500_000_000)));
        assert!(added_amount("0").unwrap_err().contains("more than 0 SUI"));
        assert!(
            added_amount("lots")
                .unwrap_err()
                .contains("`lots` is not an amount")
        );
    }

    #[test]
    fn each_state_allows_the_actions_the_package_takes_and_says_why_not() {
        use TokenAction::{Add, Refresh, Unstake, Withdraw};
        let actions = [Add(Mist::new(1)), Refresh, Unstake, Withdraw];
        let allowed = |state: TokenState, now_ms| {
            actions
                .iter()
                .filter(|action| state.refusal(**action, now_ms).is_none())
                .map(|action| action.name())
                .collect::<Vec<_>>()
        };
        let live = ["add stake", "refresh", "request unstake"];
        assert_eq!(allowed(TokenState::Active, 5), live);
        assert_eq!(allowed(TokenState::Expired { at_ms: 1 }, 5), live);
        let understaked = TokenState::Understaked {
            required: Mist::new(Mist::PER_SUI),
        };
        assert_eq!(allowed(understaked, 5), ["add stake", "request unstake"]);
        let unbonding = TokenState::Unbonding { until_ms: 10 };
        assert!(allowed(unbonding, 9).is_empty());
        assert_eq!(allowed(unbonding, 10), ["withdraw"]);
        assert!(allowed(TokenState::Withdrawn, 5).is_empty());
        let slashed = TokenState::Slashed {
            slashed: Mist::new(1),
        };
        assert_eq!(allowed(slashed, 5), ["request unstake"]);

        let why = |state: TokenState, action| state.refusal(action, 9).unwrap_or_default();
        assert!(why(slashed, Add(Mist::new(1))).contains("never admits its node again"));
        assert_eq!(
            why(unbonding, Withdraw),
            "is unbonding until 1970-01-01T00:00:00Z; withdraw then"
        );
        assert!(why(unbonding, Refresh).starts_with("is unbonding (its access has ended)"));
        assert!(why(TokenState::Active, Withdraw).starts_with("was not unstaked: request unstake"));
        assert_eq!(
            why(understaked, Refresh),
            "is below its role's minimum stake of 1 SUI: add stake first"
        );
        assert_eq!(
            why(TokenState::Withdrawn, Add(Mist::new(1))),
            "was already withdrawn"
        );
    }
}
