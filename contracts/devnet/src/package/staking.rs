//! `k3s_daas::staking`, executed natively (`contracts/README.md`, staking
//! rows).

use daas_core::package::staking::{
    self as s, AdminCap, EVIDENCE_HASH_LEN, MAX_NODE_ID_LEN, MAX_REASON_LEN, ParamsUpdated,
    PauseChanged, PoolParams, Role, SealToken, SealTokenId, SlashApproved, SlashProposal,
    SlashProposed, SlashRejected, SlasherCap, SlasherGranted, StakeAdded, StakeCreated, StakePool,
    StakeRecord, StakingAbort, Tier, TierThresholds, TokenRefreshed, TokenStatus,
    TreasuryWithdrawn, UnstakeRequested, Withdrawn,
};
use daas_core::package::{
    ADMIN_CAP_ID, Mist, MoveTable, SLASH_PROPOSALS_TABLE_ID, SLASHER_CAP_ID, STAKE_POOL_ID,
    STAKE_RECORDS_TABLE_ID,
};
use sui_sdk_types::{Address, Owner, TypeTag};

use super::{
    Args, CallArg, CallError, Table, clock, create, emit, id_type, new_object, package_type, read,
    send_coin, take_coin, write,
};
use crate::genesis::GENESIS_VERSION;
use crate::object::MoveObject;
use crate::working_set::CallContext;

fn abort(a: StakingAbort) -> CallError {
    CallError::from(daas_core::package::PackageAbort::from(a))
}

fn records(pool: &StakePool) -> Table {
    Table {
        id: pool.records.id,
        key: id_type(),
        value: package_type::<StakeRecord>(),
    }
}

fn proposals(pool: &StakePool) -> Table {
    Table {
        id: pool.proposals.id,
        key: TypeTag::U64,
        value: package_type::<SlashProposal>(),
    }
}

/// The init objects: the shared pool, the admin's and slasher's caps.
pub(super) fn genesis(admin: Address, slasher: Address) -> Vec<MoveObject> {
    let pool = StakePool {
        id: STAKE_POOL_ID,
        params: PoolParams::default(),
        paused: false,
        total_staked: Mist::ZERO,
        treasury: Mist::ZERO,
        records: MoveTable {
            id: STAKE_RECORDS_TABLE_ID,
            size: 0,
        },
        proposals: MoveTable {
            id: SLASH_PROPOSALS_TABLE_ID,
            size: 0,
        },
        next_proposal_id: 0,
    };
    let admin_cap = AdminCap {
        id: ADMIN_CAP_ID,
        pool_id: STAKE_POOL_ID,
    };
    let slasher_cap = SlasherCap {
        id: SLASHER_CAP_ID,
        pool_id: STAKE_POOL_ID,
    };
    [
        new_object(&pool, Owner::Shared(GENESIS_VERSION)),
        new_object(&admin_cap, Owner::Address(admin)),
        new_object(&slasher_cap, Owner::Address(slasher)),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect()
}

pub(super) fn call(
    ctx: &mut CallContext<'_>,
    function: &str,
    args: &Args<'_>,
) -> Result<Vec<CallArg>, CallError> {
    use s::function as f;
    match function {
        f::STAKE_AND_MINT => stake_and_mint(ctx, args),
        f::ADD_STAKE => add_stake(ctx, args),
        f::REFRESH => refresh(ctx, args),
        f::REQUEST_UNSTAKE => request_unstake(ctx, args),
        f::WITHDRAW => withdraw(ctx, args),
        f::PROPOSE_SLASH => propose_slash(ctx, args),
        f::APPROVE_SLASH => approve_slash(ctx, args),
        f::REJECT_SLASH => reject_slash(ctx, args),
        f::SET_PARAMS => set_params(ctx, args),
        f::SET_PAUSED => set_paused(ctx, args),
        f::WITHDRAW_TREASURY => withdraw_treasury(ctx, args),
        f::GRANT_SLASHER => grant_slasher(ctx, args),
        _ => Err(CallError::Invariant(
            "call to an unresolved staking function",
        )),
    }?;
    Ok(Vec::new())
}

fn tier(stake: Mist, tiers: &TierThresholds) -> Option<Tier> {
    Tier::for_stake(stake, tiers)
}

/// Checks the stake against the role's minimum, in the abort order of the
/// table (`EStakeTooLow`, then `EWorkerStakeTooLow`).
fn check_minimum(params: &PoolParams, role: Role, stake: Mist) -> Result<(), CallError> {
    if stake < params.min_stake {
        return Err(abort(StakingAbort::StakeTooLow));
    }
    if role == Role::Worker && stake < params.worker_min_stake {
        return Err(abort(StakingAbort::WorkerStakeTooLow));
    }
    Ok(())
}

fn stake_and_mint(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(5)?;
    let (pool_id, mut pool) = read::<StakePool>(ctx, args, 0)?;
    let role: u8 = args.pure(2)?;
    let node_id: Vec<u8> = args.pure(3)?;
    let now = clock(ctx, args, 4)?;
    let payment = Mist::new(take_coin(ctx, args, 1)?);
    if pool.paused {
        return Err(abort(StakingAbort::Paused));
    }
    let role = Role::try_from(role).map_err(|_| abort(StakingAbort::InvalidRole))?;
    match role {
        Role::Worker if node_id.is_empty() => return Err(abort(StakingAbort::NodeIdRequired)),
        Role::User if !node_id.is_empty() => return Err(abort(StakingAbort::NodeIdNotAllowed)),
        _ => {}
    }
    if node_id.len() as u64 > MAX_NODE_ID_LEN {
        return Err(abort(StakingAbort::NodeIdTooLong));
    }
    check_minimum(&pool.params, role, payment)?;

    let sender = ctx.sender();
    let token_id = SealTokenId::new(ctx.new_id());
    let expires_at_ms = now.saturating_add(pool.params.token_lifetime_ms);
    let record = StakeRecord {
        owner: sender,
        role,
        node_id: node_id.clone(),
        stake: payment,
        created_at_ms: now,
        expires_at_ms,
        unbonding_until_ms: None,
        slashed_total: Mist::ZERO,
    };
    if records(&pool).set(ctx, &token_id, &record)? {
        pool.records.size += 1;
    }
    pool.total_staked = pool
        .total_staked
        .checked_add(payment)
        .ok_or(CallError::Invariant("total stake overflow"))?;
    write(ctx, &pool_id, &pool)?;
    let token = SealToken {
        id: token_id,
        pool_id,
        owner: sender,
        role,
        node_id: node_id.clone(),
        created_at_ms: now,
    };
    create(ctx, &token, Owner::Address(sender))?;
    emit(
        ctx,
        &StakeCreated {
            pool_id,
            token_id,
            owner: sender,
            role,
            node_id,
            stake: payment,
            tier: tier(payment, &pool.params.tiers),
            created_at_ms: now,
            expires_at_ms,
        },
    )
}

/// Reads the pool (argument 0) and the token (argument 1), checks that the
/// token is of this pool and has a record; returns all three.
fn pool_token_record(
    ctx: &mut CallContext<'_>,
    args: &Args<'_>,
) -> Result<(Address, StakePool, SealToken, StakeRecord), CallError> {
    let (pool_id, pool) = read::<StakePool>(ctx, args, 0)?;
    let (_, token) = read::<SealToken>(ctx, args, 1)?;
    if token.pool_id != pool_id {
        return Err(abort(StakingAbort::WrongPool));
    }
    let record: StakeRecord = records(&pool)
        .get(ctx, &token.id)?
        .ok_or_else(|| abort(StakingAbort::UnknownToken))?;
    Ok((pool_id, pool, token, record))
}

fn add_stake(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let (_, pool) = read::<StakePool>(ctx, args, 0)?;
    if pool.paused {
        return Err(abort(StakingAbort::Paused));
    }
    let (pool_id, mut pool, token, mut record) = pool_token_record(ctx, args)?;
    let added = Mist::new(take_coin(ctx, args, 2)?);
    if added.is_zero() {
        return Err(abort(StakingAbort::ZeroAmount));
    }
    if record.unbonding_until_ms.is_some() {
        return Err(abort(StakingAbort::Unbonding));
    }
    record.stake = record
        .stake
        .checked_add(added)
        .ok_or(CallError::Invariant("stake overflow"))?;
    pool.total_staked = pool
        .total_staked
        .checked_add(added)
        .ok_or(CallError::Invariant("total stake overflow"))?;
    records(&pool).set(ctx, &token.id, &record)?;
    write(ctx, &pool_id, &pool)?;
    emit(
        ctx,
        &StakeAdded {
            pool_id,
            token_id: token.id,
            owner: record.owner,
            role: record.role,
            node_id: record.node_id.clone(),
            added,
            stake: record.stake,
            tier: tier(record.stake, &pool.params.tiers),
        },
    )
}

fn refresh(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let now = clock(ctx, args, 2)?;
    let (_, pool) = read::<StakePool>(ctx, args, 0)?;
    if pool.paused {
        return Err(abort(StakingAbort::Paused));
    }
    let (pool_id, pool, token, mut record) = pool_token_record(ctx, args)?;
    if record.unbonding_until_ms.is_some() {
        return Err(abort(StakingAbort::Unbonding));
    }
    check_minimum(&pool.params, record.role, record.stake)?;
    record.expires_at_ms = now.saturating_add(pool.params.token_lifetime_ms);
    records(&pool).set(ctx, &token.id, &record)?;
    emit(
        ctx,
        &TokenRefreshed {
            pool_id,
            token_id: token.id,
            owner: record.owner,
            role: record.role,
            node_id: record.node_id.clone(),
            stake: record.stake,
            tier: tier(record.stake, &pool.params.tiers),
            expires_at_ms: record.expires_at_ms,
        },
    )
}

fn request_unstake(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let now = clock(ctx, args, 2)?;
    let (pool_id, pool, token, mut record) = pool_token_record(ctx, args)?;
    if record.unbonding_until_ms.is_some() {
        return Err(abort(StakingAbort::Unbonding));
    }
    let until = now.saturating_add(pool.params.unbonding_ms);
    record.unbonding_until_ms = Some(until);
    records(&pool).set(ctx, &token.id, &record)?;
    emit(
        ctx,
        &UnstakeRequested {
            pool_id,
            token_id: token.id,
            owner: record.owner,
            role: record.role,
            node_id: record.node_id.clone(),
            stake: record.stake,
            unbonding_until_ms: until,
        },
    )
}

fn withdraw(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let now = clock(ctx, args, 2)?;
    let (pool_id, mut pool, token, record) = pool_token_record(ctx, args)?;
    let Some(until) = record.unbonding_until_ms else {
        return Err(abort(StakingAbort::NotUnbonding));
    };
    if now < until {
        return Err(abort(StakingAbort::UnbondingNotOver));
    }
    if records(&pool).remove(ctx, &token.id)? {
        pool.records.size = pool.records.size.saturating_sub(1);
    }
    pool.total_staked = pool
        .total_staked
        .checked_sub(record.stake)
        .ok_or(CallError::Invariant("total stake underflow"))?;
    write(ctx, &pool_id, &pool)?;
    let token_object = args.object(1)?;
    ctx.delete(&token_object)?;
    let sender = ctx.sender();
    send_coin(ctx, record.stake.get(), sender)?;
    emit(
        ctx,
        &Withdrawn {
            pool_id,
            token_id: token.id,
            owner: record.owner,
            role: record.role,
            node_id: record.node_id,
            amount: record.stake,
        },
    )
}

fn propose_slash(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(5)?;
    let (pool_id, mut pool) = read::<StakePool>(ctx, args, 0)?;
    let token_id: SealTokenId = args.pure(1)?;
    let evidence_hash: Vec<u8> = args.pure(2)?;
    let reason = args.string(3)?;
    let now = clock(ctx, args, 4)?;
    if records(&pool)
        .get::<_, StakeRecord>(ctx, &token_id)?
        .is_none()
    {
        return Err(abort(StakingAbort::UnknownToken));
    }
    if evidence_hash.len() as u64 != EVIDENCE_HASH_LEN {
        return Err(abort(StakingAbort::EvidenceHashLength));
    }
    if reason.len() as u64 > MAX_REASON_LEN {
        return Err(abort(StakingAbort::ReasonTooLong));
    }
    let proposal_id = pool.next_proposal_id;
    let reporter = ctx.sender();
    let proposal = SlashProposal {
        token_id,
        reporter,
        evidence_hash: evidence_hash.clone(),
        reason: reason.clone(),
        created_at_ms: now,
    };
    if proposals(&pool).set(ctx, &proposal_id, &proposal)? {
        pool.proposals.size += 1;
    }
    pool.next_proposal_id += 1;
    write(ctx, &pool_id, &pool)?;
    emit(
        ctx,
        &SlashProposed {
            pool_id,
            proposal_id,
            token_id,
            reporter,
            evidence_hash,
            reason,
            created_at_ms: now,
        },
    )
}

/// Reads the pool (argument 0) and a capability (argument 1) of type `C`
/// whose `pool_id` must be the pool's.
fn pool_with_cap<C>(
    ctx: &mut CallContext<'_>,
    args: &Args<'_>,
    cap_pool: impl Fn(&C) -> Address,
) -> Result<(Address, StakePool, C), CallError>
where
    C: daas_core::package::MoveStruct + serde::de::DeserializeOwned,
{
    let (pool_id, pool) = read::<StakePool>(ctx, args, 0)?;
    let (_, cap) = read::<C>(ctx, args, 1)?;
    if cap_pool(&cap) != pool_id {
        return Err(abort(StakingAbort::WrongPool));
    }
    Ok((pool_id, pool, cap))
}

fn take_proposal(
    ctx: &mut CallContext<'_>,
    pool: &mut StakePool,
    proposal_id: u64,
) -> Result<SlashProposal, CallError> {
    let table = proposals(pool);
    let proposal: SlashProposal = table
        .get(ctx, &proposal_id)?
        .ok_or_else(|| abort(StakingAbort::UnknownProposal))?;
    if table.remove(ctx, &proposal_id)? {
        pool.proposals.size = pool.proposals.size.saturating_sub(1);
    }
    Ok(proposal)
}

fn approve_slash(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let (pool_id, mut pool, _) = pool_with_cap::<SlasherCap>(ctx, args, |c| c.pool_id)?;
    let proposal_id: u64 = args.pure(2)?;
    let proposal = take_proposal(ctx, &mut pool, proposal_id)?;
    let table = records(&pool);
    let mut record: StakeRecord = table
        .get(ctx, &proposal.token_id)?
        .ok_or_else(|| abort(StakingAbort::UnknownToken))?;
    let slashed = pool.params.slash_amount(record.stake);
    record.stake = record
        .stake
        .checked_sub(slashed)
        .ok_or(CallError::Invariant("slash exceeds stake"))?;
    record.slashed_total = record
        .slashed_total
        .checked_add(slashed)
        .unwrap_or(Mist::MAX);
    pool.treasury = pool
        .treasury
        .checked_add(slashed)
        .ok_or(CallError::Invariant("treasury overflow"))?;
    pool.total_staked = pool.total_staked.checked_sub(slashed).unwrap_or(Mist::ZERO);
    table.set(ctx, &proposal.token_id, &record)?;
    write(ctx, &pool_id, &pool)?;
    let approver = ctx.sender();
    emit(
        ctx,
        &SlashApproved {
            pool_id,
            proposal_id,
            token_id: proposal.token_id,
            owner: record.owner,
            role: record.role,
            node_id: record.node_id.clone(),
            slashed,
            stake: record.stake,
            tier: tier(record.stake, &pool.params.tiers),
            approver,
        },
    )
}

fn reject_slash(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let (pool_id, mut pool, _) = pool_with_cap::<SlasherCap>(ctx, args, |c| c.pool_id)?;
    let proposal_id: u64 = args.pure(2)?;
    let proposal = take_proposal(ctx, &mut pool, proposal_id)?;
    write(ctx, &pool_id, &pool)?;
    let rejecter = ctx.sender();
    emit(
        ctx,
        &SlashRejected {
            pool_id,
            proposal_id,
            token_id: proposal.token_id,
            rejecter,
        },
    )
}

fn set_params(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(11)?;
    let (pool_id, mut pool, _) = pool_with_cap::<AdminCap>(ctx, args, |c| c.pool_id)?;
    let mut v = [0u64; 9];
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = args.pure(i + 2)?;
    }
    let params = PoolParams {
        min_stake: Mist::new(v[0]),
        worker_min_stake: Mist::new(v[1]),
        tiers: TierThresholds {
            viewer: Mist::new(v[2]),
            developer: Mist::new(v[3]),
            admin: Mist::new(v[4]),
            superuser: Mist::new(v[5]),
        },
        slash_rate_bps: v[6],
        unbonding_ms: v[7],
        token_lifetime_ms: v[8],
    };
    params
        .validate()
        .map_err(|_| abort(StakingAbort::InvalidParams))?;
    pool.params = params;
    write(ctx, &pool_id, &pool)?;
    emit(ctx, &ParamsUpdated { pool_id, params })
}

fn set_paused(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let (pool_id, mut pool, _) = pool_with_cap::<AdminCap>(ctx, args, |c| c.pool_id)?;
    let paused: bool = args.pure(2)?;
    pool.paused = paused;
    write(ctx, &pool_id, &pool)?;
    emit(ctx, &PauseChanged { pool_id, paused })
}

fn withdraw_treasury(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let (pool_id, mut pool, _) = pool_with_cap::<AdminCap>(ctx, args, |c| c.pool_id)?;
    let amount = Mist::new(args.pure(2)?);
    if amount.is_zero() {
        return Err(abort(StakingAbort::ZeroAmount));
    }
    pool.treasury = pool
        .treasury
        .checked_sub(amount)
        .ok_or_else(|| abort(StakingAbort::InsufficientTreasury))?;
    write(ctx, &pool_id, &pool)?;
    let recipient = ctx.sender();
    send_coin(ctx, amount.get(), recipient)?;
    emit(
        ctx,
        &TreasuryWithdrawn {
            pool_id,
            amount,
            recipient,
        },
    )
}

fn grant_slasher(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let (pool_id, _, _) = pool_with_cap::<AdminCap>(ctx, args, |c| c.pool_id)?;
    let recipient: Address = args.pure(2)?;
    let cap_id = ctx.new_id();
    create(
        ctx,
        &SlasherCap {
            id: cap_id,
            pool_id,
        },
        Owner::Address(recipient),
    )?;
    emit(
        ctx,
        &SlasherGranted {
            pool_id,
            cap_id,
            recipient,
        },
    )
}

/// `staking::assert_active`: the token (argument `token`) of the pool
/// (argument `pool`) must be active at `now`; returns the record and the
/// tier of its stake. Aborts `ETokenInactive` otherwise.
pub(super) fn assert_active(
    ctx: &mut CallContext<'_>,
    args: &Args<'_>,
    pool: usize,
    token: usize,
    now: u64,
) -> Result<(Address, Address, StakeRecord, Option<Tier>), CallError> {
    let (pool_id, pool) = read::<StakePool>(ctx, args, pool)?;
    let (token_object, token) = read::<SealToken>(ctx, args, token)?;
    if token.pool_id != pool_id {
        return Err(abort(StakingAbort::TokenInactive));
    }
    let record: StakeRecord = records(&pool)
        .get(ctx, &token.id)?
        .ok_or_else(|| abort(StakingAbort::TokenInactive))?;
    if record.status(now, &pool.params) != TokenStatus::Active {
        return Err(abort(StakingAbort::TokenInactive));
    }
    let tier = record.tier(&pool.params);
    Ok((pool_id, token_object, record, tier))
}
