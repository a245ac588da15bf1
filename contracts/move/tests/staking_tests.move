// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module k3s_daas::staking_tests;

use k3s_daas::staking::{Self, StakePool, SealToken, AdminCap, SlasherCap};
use sui::clock::{Self, Clock};
use sui::coin::{Self, Coin};
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xAD;
const ALICE: address = @0xA11CE;
const REPORTER: address = @0xB0B;

const MIST_PER_SUI: u64 = 1_000_000_000;
const START_MS: u64 = 1_000;
const UNBONDING_MS: u64 = 604_800_000;

fun setup(): (Scenario, Clock) {
    let mut scenario = ts::begin(ADMIN);
    staking::init_for_testing(scenario.ctx());
    let mut clock = clock::create_for_testing(scenario.ctx());
    clock.set_for_testing(START_MS);
    (scenario, clock)
}

fun stake(scenario: &mut Scenario, clock: &Clock, who: address, amount: u64, role: u8, node_id: vector<u8>) {
    scenario.next_tx(who);
    let mut pool = scenario.take_shared<StakePool>();
    let payment = coin::mint_for_testing<SUI>(amount, scenario.ctx());
    staking::stake_and_mint(&mut pool, payment, role, node_id, clock, scenario.ctx());
    ts::return_shared(pool);
}

fun finish(scenario: Scenario, clock: Clock) {
    clock.destroy_for_testing();
    scenario.end();
}

#[test]
fun user_stakes_unstakes_and_withdraws_everything() {
    let (mut scenario, mut clock) = setup();
    stake(&mut scenario, &clock, ALICE, 2 * MIST_PER_SUI, 1, vector[]);

    scenario.next_tx(ALICE);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    let token_id = object::id(&token);
    assert!(staking::is_active(&pool, token_id, START_MS), 0);
    assert!(staking::active_tier(&pool, &token, &clock) == 2, 1);
    assert!(staking::total_staked(&pool) == 2 * MIST_PER_SUI, 2);

    staking::add_stake(&mut pool, &token, coin::mint_for_testing<SUI>(3 * MIST_PER_SUI, scenario.ctx()));
    assert!(staking::stake_of(&pool, token_id) == 5 * MIST_PER_SUI, 3);
    assert!(staking::active_tier(&pool, &token, &clock) == 3, 4);

    staking::request_unstake(&mut pool, &token, &clock);
    assert!(!staking::is_active(&pool, token_id, START_MS), 5);
    clock.set_for_testing(START_MS + UNBONDING_MS);
    staking::withdraw(&mut pool, token, &clock, scenario.ctx());
    assert!(staking::total_staked(&pool) == 0, 6);
    ts::return_shared(pool);

    scenario.next_tx(ALICE);
    let payout = scenario.take_from_sender<Coin<SUI>>();
    assert!(payout.value() == 5 * MIST_PER_SUI, 7);
    payout.burn_for_testing();
    finish(scenario, clock);
}

#[test]
fun token_expires_and_refresh_renews_it() {
    let (mut scenario, mut clock) = setup();
    stake(&mut scenario, &clock, ALICE, MIST_PER_SUI, 1, vector[]);

    scenario.next_tx(ALICE);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    let lifetime = 2_592_000_000;
    clock.set_for_testing(START_MS + lifetime);
    assert!(!staking::is_active(&pool, object::id(&token), clock.timestamp_ms()), 0);
    staking::refresh(&mut pool, &token, &clock);
    assert!(staking::is_active(&pool, object::id(&token), clock.timestamp_ms()), 1);
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    finish(scenario, clock);
}

#[test]
fun approved_slash_moves_stake_to_treasury_and_deactivates_worker() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, ALICE, 5 * MIST_PER_SUI, 0, b"worker-001");

    scenario.next_tx(ALICE);
    let token = scenario.take_from_sender<SealToken>();
    let token_id = object::id(&token);
    scenario.return_to_sender(token);

    scenario.next_tx(REPORTER);
    let mut pool = scenario.take_shared<StakePool>();
    staking::propose_slash(&mut pool, token_id, x"00000000000000000000000000000000000000000000000000000000000000ee", b"evicted pods".to_string(), &clock, scenario.ctx());
    ts::return_shared(pool);

    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let slasher = scenario.take_from_sender<SlasherCap>();
    staking::approve_slash(&mut pool, &slasher, 0, scenario.ctx());
    assert!(staking::stake_of(&pool, token_id) == 4_500_000_000, 0);
    assert!(staking::treasury_value(&pool) == 500_000_000, 1);
    assert!(staking::total_staked(&pool) == 4_500_000_000, 2);
    assert!(!staking::is_active(&pool, token_id, START_MS), 3);

    let admin = scenario.take_from_sender<AdminCap>();
    staking::withdraw_treasury(&mut pool, &admin, 500_000_000, scenario.ctx());
    assert!(staking::treasury_value(&pool) == 0, 4);
    ts::return_shared(pool);
    scenario.return_to_sender(slasher);
    scenario.return_to_sender(admin);
    finish(scenario, clock);
}

#[test]
fun tiers_follow_thresholds() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ALICE);
    let pool = scenario.take_shared<StakePool>();
    let params = staking::params(&pool);
    let tiers = params.tiers();
    assert!(staking::tier_for(MIST_PER_SUI / 2 - 1, &tiers) == 0, 0);
    assert!(staking::tier_for(MIST_PER_SUI / 2, &tiers) == 1, 1);
    assert!(staking::tier_for(2 * MIST_PER_SUI, &tiers) == 2, 2);
    assert!(staking::tier_for(5 * MIST_PER_SUI - 1, &tiers) == 2, 3);
    assert!(staking::tier_for(5 * MIST_PER_SUI, &tiers) == 3, 4);
    assert!(staking::tier_for(10 * MIST_PER_SUI, &tiers) == 4, 5);
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::EWorkerStakeTooLow
#[test, expected_failure(abort_code = 4, location = k3s_daas::staking)]
fun worker_needs_five_sui() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, ALICE, 4 * MIST_PER_SUI, 0, b"worker-001");
    finish(scenario, clock);
}

// scenario: staking::EStakeTooLow
#[test, expected_failure(abort_code = 3, location = k3s_daas::staking)]
fun user_needs_half_a_sui() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, ALICE, MIST_PER_SUI / 2 - 1, 1, vector[]);
    finish(scenario, clock);
}

// scenario: staking::ENodeIdRequired
#[test, expected_failure(abort_code = 5, location = k3s_daas::staking)]
fun worker_needs_node_id() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, ALICE, 5 * MIST_PER_SUI, 0, vector[]);
    finish(scenario, clock);
}

// scenario: staking::EInvalidRole
#[test, expected_failure(abort_code = 2, location = k3s_daas::staking)]
fun unknown_role_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, ALICE, 5 * MIST_PER_SUI, 2, vector[]);
    finish(scenario, clock);
}

// scenario: staking::EUnbondingNotOver
#[test, expected_failure(abort_code = 13, location = k3s_daas::staking)]
fun withdraw_waits_for_unbonding() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, ALICE, MIST_PER_SUI, 1, vector[]);
    scenario.next_tx(ALICE);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    staking::request_unstake(&mut pool, &token, &clock);
    staking::withdraw(&mut pool, token, &clock, scenario.ctx());
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::EInvalidParams
#[test, expected_failure(abort_code = 17, location = k3s_daas::staking)]
fun params_must_be_ordered() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let admin = scenario.take_from_sender<AdminCap>();
    // developer threshold above admin threshold
    staking::set_params(&mut pool, &admin, 500_000_000, 5_000_000_000, 500_000_000, 6_000_000_000, 5_000_000_000, 10_000_000_000, 1_000, 0, 2_592_000_000);
    ts::return_shared(pool);
    scenario.return_to_sender(admin);
    finish(scenario, clock);
}

// scenario: staking::EPaused
#[test, expected_failure(abort_code = 1, location = k3s_daas::staking)]
fun paused_pool_refuses_stakes() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let admin = scenario.take_from_sender<AdminCap>();
    staking::set_paused(&mut pool, &admin, true);
    ts::return_shared(pool);
    scenario.return_to_sender(admin);
    stake(&mut scenario, &clock, ALICE, MIST_PER_SUI, 1, vector[]);
    finish(scenario, clock);
}
