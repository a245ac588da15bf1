// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

// One test per row of the "Events" table of contracts/README.md: the call
// that emits the event, and exactly one event of that type. Each test
// carries a `// scenario: module::Event` marker; the devnet test with the
// same marker (contracts/devnet/tests/) runs the same scenario, and
// contracts/devnet/tests/scenarios_parity.rs checks that every row has both.
#[test_only]
module k3s_daas::event_scenarios_tests;

use k3s_daas::enclave::{
    Self,
    EnclaveCap,
    EnclaveConfigCreated,
    EnclaveConfigUpdated,
    EnclaveDestroyed
};
use k3s_daas::gateway::{Self, K8sRequestSubmitted};
use k3s_daas::staking::{
    Self,
    StakePool,
    SealToken,
    AdminCap,
    SlasherCap,
    StakeCreated,
    StakeAdded,
    TokenRefreshed,
    UnstakeRequested,
    Withdrawn,
    SlashProposed,
    SlashApproved,
    SlashRejected,
    ParamsUpdated,
    PauseChanged,
    TreasuryWithdrawn,
    SlasherGranted
};
use sui::clock::{Self, Clock};
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xAD;
const ALICE: address = @0xA11CE;
const REPORTER: address = @0xB0B;

const MIST_PER_SUI: u64 = 1_000_000_000;
const START_MS: u64 = 1_000;
const UNBONDING_MS: u64 = 604_800_000;
const EVIDENCE: vector<u8> = x"00000000000000000000000000000000000000000000000000000000000000ee";
const GOLDEN_PK: vector<u8> = x"ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";

// === Helpers ===

fun setup(): (Scenario, Clock) {
    let mut scenario = ts::begin(ADMIN);
    staking::init_for_testing(scenario.ctx());
    let mut clock = clock::create_for_testing(scenario.ctx());
    clock.set_for_testing(START_MS);
    (scenario, clock)
}

fun finish(scenario: Scenario, clock: Clock) {
    clock.destroy_for_testing();
    scenario.end();
}

/// 48 copies of `byte`: a PCR.
fun pcr(byte: u8): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < 48) {
        v.push_back(byte);
        i = i + 1;
    };
    v
}

/// ALICE stakes `amount` as a user; the next transaction is ALICE's.
fun stake_user(scenario: &mut Scenario, clock: &Clock, amount: u64) {
    scenario.next_tx(ALICE);
    let mut pool = scenario.take_shared<StakePool>();
    let payment = coin::mint_for_testing<SUI>(amount, scenario.ctx());
    staking::stake_and_mint(&mut pool, payment, 1, vector[], clock, scenario.ctx());
    ts::return_shared(pool);
    scenario.next_tx(ALICE);
}

/// REPORTER proposes to slash ALICE's token (proposal 0); the next
/// transaction is ADMIN's.
fun propose_against_alice(scenario: &mut Scenario, clock: &Clock) {
    let token = scenario.take_from_sender<SealToken>();
    let token_id = object::id(&token);
    scenario.return_to_sender(token);
    scenario.next_tx(REPORTER);
    let mut pool = scenario.take_shared<StakePool>();
    staking::propose_slash(&mut pool, token_id, EVIDENCE, b"evicted pods".to_string(), clock, scenario.ctx());
    ts::return_shared(pool);
    scenario.next_tx(ADMIN);
}

// === staking ===

// scenario: staking::StakeCreated
#[test]
fun stake_and_mint_emits_stake_created() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ALICE);
    let mut pool = scenario.take_shared<StakePool>();
    let payment = coin::mint_for_testing<SUI>(2 * MIST_PER_SUI, scenario.ctx());
    staking::stake_and_mint(&mut pool, payment, 1, vector[], &clock, scenario.ctx());
    assert!(event::events_by_type<StakeCreated>().length() == 1, 0);
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::StakeAdded
#[test]
fun add_stake_emits_stake_added() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    staking::add_stake(&mut pool, &token, coin::mint_for_testing<SUI>(MIST_PER_SUI, scenario.ctx()));
    assert!(event::events_by_type<StakeAdded>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    finish(scenario, clock);
}

// scenario: staking::TokenRefreshed
#[test]
fun refresh_emits_token_refreshed() {
    let (mut scenario, mut clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    clock.set_for_testing(START_MS + 1_000);
    staking::refresh(&mut pool, &token, &clock);
    assert!(event::events_by_type<TokenRefreshed>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    finish(scenario, clock);
}

// scenario: staking::UnstakeRequested
#[test]
fun request_unstake_emits_unstake_requested() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    staking::request_unstake(&mut pool, &token, &clock);
    assert!(event::events_by_type<UnstakeRequested>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    finish(scenario, clock);
}

// scenario: staking::Withdrawn
#[test]
fun withdraw_emits_withdrawn() {
    let (mut scenario, mut clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    staking::request_unstake(&mut pool, &token, &clock);
    clock.set_for_testing(START_MS + UNBONDING_MS);
    staking::withdraw(&mut pool, token, &clock, scenario.ctx());
    assert!(event::events_by_type<Withdrawn>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.next_tx(ALICE);
    let payout = scenario.take_from_sender<Coin<SUI>>();
    assert!(payout.value() == MIST_PER_SUI, 1);
    payout.burn_for_testing();
    finish(scenario, clock);
}

// scenario: staking::SlashProposed
#[test]
fun propose_slash_emits_slash_proposed() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    let token = scenario.take_from_sender<SealToken>();
    let token_id = object::id(&token);
    scenario.return_to_sender(token);
    scenario.next_tx(REPORTER);
    let mut pool = scenario.take_shared<StakePool>();
    staking::propose_slash(&mut pool, token_id, EVIDENCE, b"evicted pods".to_string(), &clock, scenario.ctx());
    assert!(event::events_by_type<SlashProposed>().length() == 1, 0);
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::SlashApproved
#[test]
fun approve_slash_emits_slash_approved() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, 5 * MIST_PER_SUI);
    propose_against_alice(&mut scenario, &clock);
    let mut pool = scenario.take_shared<StakePool>();
    let slasher = scenario.take_from_sender<SlasherCap>();
    staking::approve_slash(&mut pool, &slasher, 0, scenario.ctx());
    assert!(event::events_by_type<SlashApproved>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(slasher);
    finish(scenario, clock);
}

// scenario: staking::SlashRejected
#[test]
fun reject_slash_emits_slash_rejected() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    propose_against_alice(&mut scenario, &clock);
    let mut pool = scenario.take_shared<StakePool>();
    let slasher = scenario.take_from_sender<SlasherCap>();
    staking::reject_slash(&mut pool, &slasher, 0, scenario.ctx());
    assert!(event::events_by_type<SlashRejected>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(slasher);
    finish(scenario, clock);
}

// scenario: staking::ParamsUpdated
#[test]
fun set_params_emits_params_updated() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let admin = scenario.take_from_sender<AdminCap>();
    staking::set_params(&mut pool, &admin, 500_000_000, 5_000_000_000, 500_000_000, 2_000_000_000, 5_000_000_000, 10_000_000_000, 2_000, 86_400_000, 2_592_000_000);
    assert!(event::events_by_type<ParamsUpdated>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(admin);
    finish(scenario, clock);
}

// scenario: staking::PauseChanged
#[test]
fun set_paused_emits_pause_changed() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let admin = scenario.take_from_sender<AdminCap>();
    staking::set_paused(&mut pool, &admin, true);
    assert!(event::events_by_type<PauseChanged>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(admin);
    finish(scenario, clock);
}

// scenario: staking::TreasuryWithdrawn
#[test]
fun withdraw_treasury_emits_treasury_withdrawn() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, 5 * MIST_PER_SUI);
    propose_against_alice(&mut scenario, &clock);
    let mut pool = scenario.take_shared<StakePool>();
    let slasher = scenario.take_from_sender<SlasherCap>();
    let admin = scenario.take_from_sender<AdminCap>();
    staking::approve_slash(&mut pool, &slasher, 0, scenario.ctx());
    staking::withdraw_treasury(&mut pool, &admin, 500_000_000, scenario.ctx());
    assert!(event::events_by_type<TreasuryWithdrawn>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(slasher);
    scenario.return_to_sender(admin);
    finish(scenario, clock);
}

// scenario: staking::SlasherGranted
#[test]
fun grant_slasher_emits_slasher_granted() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let pool = scenario.take_shared<StakePool>();
    let admin = scenario.take_from_sender<AdminCap>();
    staking::grant_slasher(&pool, &admin, REPORTER, scenario.ctx());
    assert!(event::events_by_type<SlasherGranted>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(admin);
    scenario.next_tx(REPORTER);
    let granted = scenario.take_from_sender<SlasherCap>();
    scenario.return_to_sender(granted);
    finish(scenario, clock);
}

// === gateway ===

// scenario: gateway::K8sRequestSubmitted
#[test]
fun submit_k8s_request_emits_k8s_request_submitted() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    let pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    gateway::submit_k8s_request(
        &pool,
        &token,
        b"GET".to_string(),
        b"/api/v1/namespaces/default/pods".to_string(),
        b"default".to_string(),
        b"pods".to_string(),
        b"{}",
        &clock,
        scenario.ctx(),
    );
    assert!(event::events_by_type<K8sRequestSubmitted>().length() == 1, 0);
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    finish(scenario, clock);
}

// === enclave ===

// scenario: enclave::EnclaveConfigCreated
#[test]
fun create_config_emits_enclave_config_created() {
    let mut scenario = ts::begin(ADMIN);
    enclave::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<EnclaveCap>();
    enclave::create_config(&cap, b"master".to_string(), pcr(1), pcr(2), pcr(3), scenario.ctx());
    assert!(event::events_by_type<EnclaveConfigCreated>().length() == 1, 0);
    scenario.return_to_sender(cap);
    scenario.end();
}

// scenario: enclave::EnclaveConfigUpdated
#[test]
fun update_pcrs_and_update_name_emit_enclave_config_updated() {
    let mut scenario = ts::begin(ADMIN);
    enclave::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<EnclaveCap>();
    let mut config = enclave::new_config_for_testing(scenario.ctx());
    enclave::update_pcrs(&mut config, &cap, pcr(3), pcr(4), pcr(5));
    enclave::update_name(&mut config, &cap, b"master v2".to_string());
    assert!(event::events_by_type<EnclaveConfigUpdated>().length() == 2, 0);
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    enclave::share_for_testing(config, instance);
    scenario.return_to_sender(cap);
    scenario.end();
}

// scenario: enclave::EnclaveDestroyed
#[test]
fun destroy_old_enclave_emits_enclave_destroyed() {
    let mut scenario = ts::begin(ADMIN);
    enclave::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<EnclaveCap>();
    let mut config = enclave::new_config_for_testing(scenario.ctx());
    let stale = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    enclave::update_pcrs(&mut config, &cap, pcr(3), pcr(4), pcr(5));
    enclave::destroy_old_enclave(stale, &config);
    assert!(event::events_by_type<EnclaveDestroyed>().length() == 1, 0);
    let current = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    enclave::share_for_testing(config, current);
    scenario.return_to_sender(cap);
    scenario.end();
}
