// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

/// Stake-gated access to a K3s cluster.
///
/// A staker locks SUI in the shared `StakePool` and receives a `SealToken`,
/// an owned credential for a worker node (role 0) or a cluster user
/// (role 1). The stake itself stays in the pool, in `records` keyed by the
/// token's id, so that holders of a `SlasherCap` can slash it without the
/// staker's cooperation. The record is authoritative for stake, expiry and
/// unbonding; the token only carries what never changes.
///
/// `contracts/README.md` is the single table of objects, functions, abort
/// codes, events and constants; keep this file in step with it.
module k3s_daas::staking;

use std::string::String;
use sui::balance::{Self, Balance};
use sui::clock::Clock;
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::table::{Self, Table};

// === Abort codes ===

/// The pool is paused.
const EPaused: u64 = 1;
/// Role is neither 0 (worker) nor 1 (user).
const EInvalidRole: u64 = 2;
/// Stake below min_stake.
const EStakeTooLow: u64 = 3;
/// Worker stake below worker_min_stake.
const EWorkerStakeTooLow: u64 = 4;
/// A worker token needs a non-empty node id.
const ENodeIdRequired: u64 = 5;
/// A user token must have an empty node id.
const ENodeIdNotAllowed: u64 = 6;
/// Node id longer than MAX_NODE_ID_LEN bytes.
const ENodeIdTooLong: u64 = 7;
/// No stake record for this seal token in this pool.
const EUnknownToken: u64 = 8;
/// The token or capability belongs to another pool.
const EWrongPool: u64 = 9;
/// A zero amount where a positive one is needed.
const EZeroAmount: u64 = 10;
/// The token is already unbonding.
const EUnbonding: u64 = 11;
/// Withdraw before request_unstake.
const ENotUnbonding: u64 = 12;
/// Withdraw before unbonding_until_ms.
const EUnbondingNotOver: u64 = 13;
/// No slash proposal with this id.
const EUnknownProposal: u64 = 14;
/// Evidence hash is not 32 bytes.
const EEvidenceHashLength: u64 = 15;
/// Reason longer than MAX_REASON_LEN bytes.
const EReasonTooLong: u64 = 16;
/// Pool parameters violate their ordering or bounds.
const EInvalidParams: u64 = 17;
/// Treasury holds less than the amount asked.
const EInsufficientTreasury: u64 = 18;
/// The seal token is not active (unknown, unbonding, expired or under-staked).
const ETokenInactive: u64 = 19;

// === Constants ===

const ROLE_WORKER: u8 = 0;
const ROLE_USER: u8 = 1;

const TIER_NONE: u8 = 0;
const TIER_VIEWER: u8 = 1;
const TIER_DEVELOPER: u8 = 2;
const TIER_ADMIN: u8 = 3;
const TIER_SUPER: u8 = 4;

/// 0.5 SUI.
const DEFAULT_MIN_STAKE: u64 = 500_000_000;
/// 5 SUI.
const DEFAULT_WORKER_MIN_STAKE: u64 = 5_000_000_000;
const DEFAULT_TIER_VIEWER: u64 = 500_000_000;
const DEFAULT_TIER_DEVELOPER: u64 = 2_000_000_000;
const DEFAULT_TIER_ADMIN: u64 = 5_000_000_000;
const DEFAULT_TIER_SUPER: u64 = 10_000_000_000;
/// 10 %.
const DEFAULT_SLASH_RATE_BPS: u64 = 1_000;
const BPS_DENOMINATOR: u64 = 10_000;
/// 7 days.
const DEFAULT_UNBONDING_MS: u64 = 604_800_000;
/// 30 days.
const DEFAULT_TOKEN_LIFETIME_MS: u64 = 2_592_000_000;
/// 365 days.
const MAX_PERIOD_MS: u64 = 31_536_000_000;
const MAX_NODE_ID_LEN: u64 = 253;
const EVIDENCE_HASH_LEN: u64 = 32;
const MAX_REASON_LEN: u64 = 1_024;

// === Objects ===

/// The least stake of each tier, in MIST.
public struct TierThresholds has copy, drop, store {
    viewer: u64,
    developer: u64,
    admin: u64,
    superuser: u64,
}

/// The pool's tunable parameters.
public struct PoolParams has copy, drop, store {
    min_stake: u64,
    worker_min_stake: u64,
    tiers: TierThresholds,
    slash_rate_bps: u64,
    unbonding_ms: u64,
    token_lifetime_ms: u64,
}

/// The shared pool: every stake, the pending slash proposals and the
/// treasury of slashed funds.
public struct StakePool has key {
    id: UID,
    params: PoolParams,
    paused: bool,
    total_staked: u64,
    treasury: Balance<SUI>,
    records: Table<ID, StakeRecord>,
    proposals: Table<u64, SlashProposal>,
    next_proposal_id: u64,
}

/// The stake behind one seal token.
public struct StakeRecord has store {
    owner: address,
    role: u8,
    node_id: vector<u8>,
    stake: Balance<SUI>,
    created_at_ms: u64,
    expires_at_ms: u64,
    unbonding_until_ms: Option<u64>,
    slashed_total: u64,
}

/// A pending request to slash a seal token's stake.
public struct SlashProposal has drop, store {
    token_id: ID,
    reporter: address,
    evidence_hash: vector<u8>,
    reason: String,
    created_at_ms: u64,
}

/// The staker's credential. `key` only: it cannot be transferred by its
/// owner or wrapped, so a token never changes hands.
public struct SealToken has key {
    id: UID,
    pool_id: ID,
    owner: address,
    role: u8,
    node_id: vector<u8>,
    created_at_ms: u64,
}

/// Sets the parameters of one pool and manages its treasury.
public struct AdminCap has key, store {
    id: UID,
    pool_id: ID,
}

/// Approves or rejects slash proposals of one pool.
public struct SlasherCap has key, store {
    id: UID,
    pool_id: ID,
}

// === Events ===

public struct StakeCreated has copy, drop {
    pool_id: ID,
    token_id: ID,
    owner: address,
    role: u8,
    node_id: vector<u8>,
    stake: u64,
    tier: u8,
    created_at_ms: u64,
    expires_at_ms: u64,
}

public struct StakeAdded has copy, drop {
    pool_id: ID,
    token_id: ID,
    owner: address,
    role: u8,
    node_id: vector<u8>,
    added: u64,
    stake: u64,
    tier: u8,
}

public struct TokenRefreshed has copy, drop {
    pool_id: ID,
    token_id: ID,
    owner: address,
    role: u8,
    node_id: vector<u8>,
    stake: u64,
    tier: u8,
    expires_at_ms: u64,
}

public struct UnstakeRequested has copy, drop {
    pool_id: ID,
    token_id: ID,
    owner: address,
    role: u8,
    node_id: vector<u8>,
    stake: u64,
    unbonding_until_ms: u64,
}

public struct Withdrawn has copy, drop {
    pool_id: ID,
    token_id: ID,
    owner: address,
    role: u8,
    node_id: vector<u8>,
    amount: u64,
}

public struct SlashProposed has copy, drop {
    pool_id: ID,
    proposal_id: u64,
    token_id: ID,
    reporter: address,
    evidence_hash: vector<u8>,
    reason: String,
    created_at_ms: u64,
}

public struct SlashApproved has copy, drop {
    pool_id: ID,
    proposal_id: u64,
    token_id: ID,
    owner: address,
    role: u8,
    node_id: vector<u8>,
    slashed: u64,
    stake: u64,
    tier: u8,
    approver: address,
}

public struct SlashRejected has copy, drop {
    pool_id: ID,
    proposal_id: u64,
    token_id: ID,
    rejecter: address,
}

public struct ParamsUpdated has copy, drop {
    pool_id: ID,
    params: PoolParams,
}

public struct PauseChanged has copy, drop {
    pool_id: ID,
    paused: bool,
}

public struct TreasuryWithdrawn has copy, drop {
    pool_id: ID,
    amount: u64,
    recipient: address,
}

public struct SlasherGranted has copy, drop {
    pool_id: ID,
    cap_id: ID,
    recipient: address,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    let pool = new_pool(ctx);
    let pool_id = object::id(&pool);
    transfer::public_transfer(AdminCap { id: object::new(ctx), pool_id }, ctx.sender());
    transfer::public_transfer(SlasherCap { id: object::new(ctx), pool_id }, ctx.sender());
    transfer::share_object(pool);
}

fun new_pool(ctx: &mut TxContext): StakePool {
    StakePool {
        id: object::new(ctx),
        params: default_params(),
        paused: false,
        total_staked: 0,
        treasury: balance::zero(),
        records: table::new(ctx),
        proposals: table::new(ctx),
        next_proposal_id: 0,
    }
}

fun default_params(): PoolParams {
    PoolParams {
        min_stake: DEFAULT_MIN_STAKE,
        worker_min_stake: DEFAULT_WORKER_MIN_STAKE,
        tiers: TierThresholds {
            viewer: DEFAULT_TIER_VIEWER,
            developer: DEFAULT_TIER_DEVELOPER,
            admin: DEFAULT_TIER_ADMIN,
            superuser: DEFAULT_TIER_SUPER,
        },
        slash_rate_bps: DEFAULT_SLASH_RATE_BPS,
        unbonding_ms: DEFAULT_UNBONDING_MS,
        token_lifetime_ms: DEFAULT_TOKEN_LIFETIME_MS,
    }
}

// === Staking ===

/// Locks `payment` as the stake of a new seal token sent to the sender.
entry fun stake_and_mint(
    pool: &mut StakePool,
    payment: Coin<SUI>,
    role: u8,
    node_id: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert!(!pool.paused, EPaused);
    assert!(role == ROLE_WORKER || role == ROLE_USER, EInvalidRole);
    if (role == ROLE_WORKER) {
        assert!(!node_id.is_empty(), ENodeIdRequired);
    } else {
        assert!(node_id.is_empty(), ENodeIdNotAllowed);
    };
    assert!(node_id.length() <= MAX_NODE_ID_LEN, ENodeIdTooLong);
    let stake = payment.value();
    assert!(stake >= pool.params.min_stake, EStakeTooLow);
    assert!(role != ROLE_WORKER || stake >= pool.params.worker_min_stake, EWorkerStakeTooLow);

    let now = clock.timestamp_ms();
    let expires_at_ms = now + pool.params.token_lifetime_ms;
    let owner = ctx.sender();
    let pool_id = object::id(pool);
    let token = SealToken {
        id: object::new(ctx),
        pool_id,
        owner,
        role,
        node_id,
        created_at_ms: now,
    };
    let token_id = object::id(&token);
    pool
        .records
        .add(
            token_id,
            StakeRecord {
                owner,
                role,
                node_id,
                stake: payment.into_balance(),
                created_at_ms: now,
                expires_at_ms,
                unbonding_until_ms: option::none(),
                slashed_total: 0,
            },
        );
    pool.total_staked = pool.total_staked + stake;

    event::emit(StakeCreated {
        pool_id,
        token_id,
        owner,
        role,
        node_id,
        stake,
        tier: tier_for(stake, &pool.params.tiers),
        created_at_ms: now,
        expires_at_ms,
    });
    transfer::transfer(token, owner);
}

/// Adds `payment` to the token's stake.
entry fun add_stake(pool: &mut StakePool, token: &SealToken, payment: Coin<SUI>) {
    assert!(!pool.paused, EPaused);
    let pool_id = object::id(pool);
    assert!(token.pool_id == pool_id, EWrongPool);
    let token_id = object::id(token);
    assert!(pool.records.contains(token_id), EUnknownToken);
    let added = payment.value();
    assert!(added > 0, EZeroAmount);

    let tiers = pool.params.tiers;
    let record = pool.records.borrow_mut(token_id);
    assert!(record.unbonding_until_ms.is_none(), EUnbonding);
    record.stake.join(payment.into_balance());
    let stake = record.stake.value();
    let (owner, role, node_id) = (record.owner, record.role, record.node_id);
    pool.total_staked = pool.total_staked + added;

    event::emit(StakeAdded {
        pool_id,
        token_id,
        owner,
        role,
        node_id,
        added,
        stake,
        tier: tier_for(stake, &tiers),
    });
}

/// Extends the token's expiry to now plus the token lifetime.
entry fun refresh(pool: &mut StakePool, token: &SealToken, clock: &Clock) {
    assert!(!pool.paused, EPaused);
    let pool_id = object::id(pool);
    assert!(token.pool_id == pool_id, EWrongPool);
    let token_id = object::id(token);
    assert!(pool.records.contains(token_id), EUnknownToken);

    let params = pool.params;
    let record = pool.records.borrow_mut(token_id);
    assert!(record.unbonding_until_ms.is_none(), EUnbonding);
    let stake = record.stake.value();
    assert!(stake >= params.min_stake, EStakeTooLow);
    assert!(record.role != ROLE_WORKER || stake >= params.worker_min_stake, EWorkerStakeTooLow);
    let expires_at_ms = clock.timestamp_ms() + params.token_lifetime_ms;
    record.expires_at_ms = expires_at_ms;

    event::emit(TokenRefreshed {
        pool_id,
        token_id,
        owner: record.owner,
        role: record.role,
        node_id: record.node_id,
        stake,
        tier: tier_for(stake, &params.tiers),
        expires_at_ms,
    });
}

/// Ends the token's access at once; its stake becomes withdrawable after
/// the unbonding period.
entry fun request_unstake(pool: &mut StakePool, token: &SealToken, clock: &Clock) {
    let pool_id = object::id(pool);
    assert!(token.pool_id == pool_id, EWrongPool);
    let token_id = object::id(token);
    assert!(pool.records.contains(token_id), EUnknownToken);

    let unbonding_ms = pool.params.unbonding_ms;
    let record = pool.records.borrow_mut(token_id);
    assert!(record.unbonding_until_ms.is_none(), EUnbonding);
    let unbonding_until_ms = clock.timestamp_ms() + unbonding_ms;
    record.unbonding_until_ms = option::some(unbonding_until_ms);

    event::emit(UnstakeRequested {
        pool_id,
        token_id,
        owner: record.owner,
        role: record.role,
        node_id: record.node_id,
        stake: record.stake.value(),
        unbonding_until_ms,
    });
}

/// After unbonding: deletes the token and its record and sends the whole
/// remaining stake to the sender.
entry fun withdraw(pool: &mut StakePool, token: SealToken, clock: &Clock, ctx: &mut TxContext) {
    let pool_id = object::id(pool);
    assert!(token.pool_id == pool_id, EWrongPool);
    let token_id = object::id(&token);
    assert!(pool.records.contains(token_id), EUnknownToken);
    let record = pool.records.borrow(token_id);
    assert!(record.unbonding_until_ms.is_some(), ENotUnbonding);
    assert!(clock.timestamp_ms() >= *record.unbonding_until_ms.borrow(), EUnbondingNotOver);

    let StakeRecord {
        owner,
        role,
        node_id,
        stake,
        created_at_ms: _,
        expires_at_ms: _,
        unbonding_until_ms: _,
        slashed_total: _,
    } = pool.records.remove(token_id);
    let amount = stake.value();
    pool.total_staked = pool.total_staked - amount;

    let SealToken { id, pool_id: _, owner: _, role: _, node_id: _, created_at_ms: _ } = token;
    id.delete();

    event::emit(Withdrawn { pool_id, token_id, owner, role, node_id, amount });
    transfer::public_transfer(coin::from_balance(stake, ctx), ctx.sender());
}

// === Slashing ===

/// Anyone proposes to slash the stake of `token_id`.
entry fun propose_slash(
    pool: &mut StakePool,
    token_id: ID,
    evidence_hash: vector<u8>,
    reason: String,
    clock: &Clock,
    ctx: &TxContext,
) {
    assert!(pool.records.contains(token_id), EUnknownToken);
    assert!(evidence_hash.length() == EVIDENCE_HASH_LEN, EEvidenceHashLength);
    assert!(reason.length() <= MAX_REASON_LEN, EReasonTooLong);

    let proposal_id = pool.next_proposal_id;
    pool.next_proposal_id = proposal_id + 1;
    let reporter = ctx.sender();
    let created_at_ms = clock.timestamp_ms();
    pool
        .proposals
        .add(
            proposal_id,
            SlashProposal { token_id, reporter, evidence_hash, reason, created_at_ms },
        );

    event::emit(SlashProposed {
        pool_id: object::id(pool),
        proposal_id,
        token_id,
        reporter,
        evidence_hash,
        reason,
        created_at_ms,
    });
}

/// Executes a proposal: the record loses `slash_rate_bps` of its current
/// stake (rounded down) to the treasury.
entry fun approve_slash(
    pool: &mut StakePool,
    cap: &SlasherCap,
    proposal_id: u64,
    ctx: &TxContext,
) {
    let pool_id = object::id(pool);
    assert!(cap.pool_id == pool_id, EWrongPool);
    assert!(pool.proposals.contains(proposal_id), EUnknownProposal);
    let token_id = pool.proposals.borrow(proposal_id).token_id;
    assert!(pool.records.contains(token_id), EUnknownToken);
    pool.proposals.remove(proposal_id);

    let params = pool.params;
    let record = pool.records.borrow_mut(token_id);
    let slashed = slash_amount(record.stake.value(), params.slash_rate_bps);
    let taken = record.stake.split(slashed);
    record.slashed_total = record.slashed_total + slashed;
    let stake = record.stake.value();
    let (owner, role, node_id) = (record.owner, record.role, record.node_id);
    pool.treasury.join(taken);
    pool.total_staked = pool.total_staked - slashed;

    event::emit(SlashApproved {
        pool_id,
        proposal_id,
        token_id,
        owner,
        role,
        node_id,
        slashed,
        stake,
        tier: tier_for(stake, &params.tiers),
        approver: ctx.sender(),
    });
}

/// Drops a proposal without slashing.
entry fun reject_slash(pool: &mut StakePool, cap: &SlasherCap, proposal_id: u64, ctx: &TxContext) {
    let pool_id = object::id(pool);
    assert!(cap.pool_id == pool_id, EWrongPool);
    assert!(pool.proposals.contains(proposal_id), EUnknownProposal);
    let proposal = pool.proposals.remove(proposal_id);
    let token_id = proposal.token_id;

    event::emit(SlashRejected { pool_id, proposal_id, token_id, rejecter: ctx.sender() });
}

// === Administration ===

/// Replaces every parameter; later calls use the new values.
entry fun set_params(
    pool: &mut StakePool,
    cap: &AdminCap,
    min_stake: u64,
    worker_min_stake: u64,
    viewer: u64,
    developer: u64,
    admin: u64,
    superuser: u64,
    slash_rate_bps: u64,
    unbonding_ms: u64,
    token_lifetime_ms: u64,
) {
    let pool_id = object::id(pool);
    assert!(cap.pool_id == pool_id, EWrongPool);
    let params = PoolParams {
        min_stake,
        worker_min_stake,
        tiers: TierThresholds { viewer, developer, admin, superuser },
        slash_rate_bps,
        unbonding_ms,
        token_lifetime_ms,
    };
    assert!(params_valid(&params), EInvalidParams);
    pool.params = params;

    event::emit(ParamsUpdated { pool_id, params });
}

/// A paused pool refuses new stakes, top-ups and refreshes.
entry fun set_paused(pool: &mut StakePool, cap: &AdminCap, paused: bool) {
    let pool_id = object::id(pool);
    assert!(cap.pool_id == pool_id, EWrongPool);
    pool.paused = paused;

    event::emit(PauseChanged { pool_id, paused });
}

/// Sends `amount` of slashed funds to the sender.
entry fun withdraw_treasury(
    pool: &mut StakePool,
    cap: &AdminCap,
    amount: u64,
    ctx: &mut TxContext,
) {
    let pool_id = object::id(pool);
    assert!(cap.pool_id == pool_id, EWrongPool);
    assert!(amount > 0, EZeroAmount);
    assert!(pool.treasury.value() >= amount, EInsufficientTreasury);
    let recipient = ctx.sender();
    let payout = coin::take(&mut pool.treasury, amount, ctx);

    event::emit(TreasuryWithdrawn { pool_id, amount, recipient });
    transfer::public_transfer(payout, recipient);
}

/// Mints a `SlasherCap` for the pool to `recipient`.
entry fun grant_slasher(
    pool: &StakePool,
    cap: &AdminCap,
    recipient: address,
    ctx: &mut TxContext,
) {
    let pool_id = object::id(pool);
    assert!(cap.pool_id == pool_id, EWrongPool);
    let slasher = SlasherCap { id: object::new(ctx), pool_id };
    let cap_id = object::id(&slasher);

    event::emit(SlasherGranted { pool_id, cap_id, recipient });
    transfer::public_transfer(slasher, recipient);
}

// === Reads for the other modules and for clients ===

/// The tier `stake` buys: the highest tier whose threshold is at most
/// `stake`, or `TIER_NONE`.
public fun tier_for(stake: u64, tiers: &TierThresholds): u8 {
    if (stake >= tiers.superuser) TIER_SUPER
    else if (stake >= tiers.admin) TIER_ADMIN
    else if (stake >= tiers.developer) TIER_DEVELOPER
    else if (stake >= tiers.viewer) TIER_VIEWER
    else TIER_NONE
}

/// `stake * rate_bps / 10_000`, rounded down, without overflow.
public fun slash_amount(stake: u64, rate_bps: u64): u64 {
    ((stake as u128) * (rate_bps as u128) / (BPS_DENOMINATOR as u128)) as u64
}

/// Whether the token `token_id` grants access at `now_ms`: its record
/// exists, it is not unbonding, it is unexpired and its stake meets its
/// role's minimum.
public fun is_active(pool: &StakePool, token_id: ID, now_ms: u64): bool {
    if (!pool.records.contains(token_id)) return false;
    let record = pool.records.borrow(token_id);
    let stake = record.stake.value();
    record.unbonding_until_ms.is_none()
        && now_ms < record.expires_at_ms
        && stake >= pool.params.min_stake
        && (record.role != ROLE_WORKER || stake >= pool.params.worker_min_stake)
}

/// The tier of an active token of this pool; aborts `ETokenInactive`
/// otherwise.
public fun active_tier(pool: &StakePool, token: &SealToken, clock: &Clock): u8 {
    let token_id = object::id(token);
    assert!(
        token.pool_id == object::id(pool) && is_active(pool, token_id, clock.timestamp_ms()),
        ETokenInactive,
    );
    tier_for(pool.records.borrow(token_id).stake.value(), &pool.params.tiers)
}

/// The pool's current parameters.
public fun params(pool: &StakePool): PoolParams {
    pool.params
}

/// The tier thresholds of `params`.
public fun tiers(params: &PoolParams): TierThresholds {
    params.tiers
}

/// The stake behind `token_id` (aborts `EUnknownToken` without a record).
public fun stake_of(pool: &StakePool, token_id: ID): u64 {
    assert!(pool.records.contains(token_id), EUnknownToken);
    pool.records.borrow(token_id).stake.value()
}

/// Slashed funds held by the pool.
public fun treasury_value(pool: &StakePool): u64 {
    pool.treasury.value()
}

/// Sum of every record's stake.
public fun total_staked(pool: &StakePool): u64 {
    pool.total_staked
}

/// The token's owner.
public fun token_owner(token: &SealToken): address {
    token.owner
}

/// The token's role.
public fun token_role(token: &SealToken): u8 {
    token.role
}

/// The token's node id (empty for a user).
public fun token_node_id(token: &SealToken): vector<u8> {
    token.node_id
}

fun params_valid(p: &PoolParams): bool {
    let t = &p.tiers;
    p.min_stake > 0
        && p.min_stake <= t.viewer
        && t.viewer < t.developer
        && t.developer < t.admin
        && t.admin < t.superuser
        && p.min_stake <= p.worker_min_stake
        && p.slash_rate_bps <= BPS_DENOMINATOR
        && p.token_lifetime_ms > 0
        && p.token_lifetime_ms <= MAX_PERIOD_MS
        && p.unbonding_ms <= MAX_PERIOD_MS
}

// === Test-only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx);
}
