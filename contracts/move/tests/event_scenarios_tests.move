// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

// One test per row of the "Events" table of contracts/README.md: the call
// that emits the event, and exactly one event of that type. Each test
// carries a `// scenario: module::Event` marker; the devnet test with the
// same marker (contracts/devnet/tests/) runs the same scenario, and
// contracts/devnet/tests/scenarios_parity.rs checks that every row has both.
#[test_only]
module k3s_daas::event_scenarios_tests;

use k3s_daas::audit::{Self, AuditLog, AuditLogCreated, CheckpointAnchored};
use k3s_daas::enclave::{
    Self,
    EnclaveCap,
    EnclaveConfigCreated,
    EnclaveConfigUpdated,
    EnclaveDestroyed
};
use k3s_daas::gateway::{Self, K8sRequest, K8sRequestSubmitted, K8sResultRecorded};
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
const ROOT: vector<u8> = x"7777777777777777777777777777777777777777777777777777777777777777";
const RESULT_HASH: vector<u8> = x"0909090909090909090909090909090909090909090909090909090909090909";

// Object ids the test scenario derives (the transaction hash of
// transaction n is the BCS of n padded to 32 bytes; an object's id is
// derive_id(transaction hash, ids created so far in the transaction)) and
// the signatures of the enclave key of secret [7; 32] (GOLDEN_PK) over
// them, at SIGNED_AT_MS. `move_scenario_vectors` in
// contracts/devnet/tests/scenarios_parity.rs recomputes them.
// The enclave is the second object of transaction 0 (after its config),
// the audit log bound to it the third.
const ENCLAVE_ID: address = @0xa4137e2ed945e7f4e8c307001c32e97472fb3eebb8f7b4ab7534b447d22da89b;
const LOG_ID: address = @0x5ef2fcf809fb9535ea0aeaea421f683026f06c34569aafc42bcde652ef6dd270;
// A request is the first object of transaction 2.
const REQUEST_ID: address = @0xdba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97;
const SIGNED_AT_MS: u64 = 1744038900000;
// Over AuditCheckpointPayload { LOG_ID, tree_size: 10, root: 32 bytes 0x77 }.
const CHECKPOINT_SIG: vector<u8> = x"5c043a7b12a1b47bb25b889b84ffb6aa0580232921ee41028f59c13c2d042b76ebc7413f0282e87d4af723b4c5ad65de9f793ee8e6710f42e1f93681e2e78702";
// Over AuditLogPayload { ENCLAVE_ID }.
const LOG_SIG: vector<u8> = x"7e8e5654aa33d93e78da343ecc239e8c80eea6176c5e347d374542d7e4899b8346f46a8da9a736a2450b8e20357cd1d08be31fa8f5bb122bce04ac842bd46d05";
// Over K8sResultPayload { REQUEST_ID, status_code: 200, result_hash: 32 bytes 0x09 }.
const RESULT_SIG: vector<u8> = x"0711721b4c1bb12109d5117556d809b3837554454f8f7118f1056733e02484c9c1e1af550dba3da8995b0635ba2d14a938ca29d0e34906222dfc5539258bbd05";

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

// scenario: gateway::K8sResultRecorded
#[test]
fun record_k8s_result_emits_k8s_result_recorded() {
    let (mut scenario, clock) = setup();
    stake_user(&mut scenario, &clock, MIST_PER_SUI);
    // Transaction 2: the request is its first object.
    let pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    gateway::submit_k8s_request(
        &pool,
        &token,
        b"GET".to_string(),
        b"/api/v1/pods".to_string(),
        b"default".to_string(),
        b"pods".to_string(),
        b"{}",
        &clock,
        scenario.ctx(),
    );
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    scenario.next_tx(ALICE);
    let mut request = scenario.take_shared<K8sRequest>();
    assert!(object::id_to_address(&object::id(&request)) == REQUEST_ID, 0);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    gateway::record_k8s_result(&mut request, &instance, &config, 200, RESULT_HASH, SIGNED_AT_MS, RESULT_SIG, &clock);
    assert!(event::events_by_type<K8sResultRecorded>().length() == 1, 1);
    assert!(gateway::result(&request).is_some(), 2);
    ts::return_shared(request);
    enclave::share_for_testing(config, instance);
    finish(scenario, clock);
}

// === audit ===

// scenario: audit::AuditLogCreated
#[test]
fun create_log_emits_audit_log_created() {
    let mut scenario = ts::begin(ADMIN);
    // Transaction 0: the enclave is its second object.
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    assert!(object::id_to_address(&object::id(&instance)) == ENCLAVE_ID, 0);
    let clock = clock::create_for_testing(scenario.ctx());
    audit::create_log(&instance, &config, SIGNED_AT_MS, LOG_SIG, &clock, scenario.ctx());
    assert!(event::events_by_type<AuditLogCreated>().length() == 1, 1);
    scenario.next_tx(ADMIN);
    let log = scenario.take_shared<AuditLog>();
    assert!(log.enclave_id() == object::id(&instance), 2);
    assert!(log.tree_size() == 0, 3);
    ts::return_shared(log);
    enclave::share_for_testing(config, instance);
    finish(scenario, clock);
}

// scenario: audit::CheckpointAnchored
#[test]
fun anchor_checkpoint_emits_checkpoint_anchored() {
    let mut scenario = ts::begin(ADMIN);
    // Transaction 0: the log is its third object.
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    audit::new_log_for_testing(object::id(&instance), scenario.ctx());
    let clock = clock::create_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let mut log = scenario.take_shared<AuditLog>();
    assert!(object::id_to_address(&object::id(&log)) == LOG_ID, 0);
    audit::anchor_checkpoint(&mut log, &instance, &config, 10, ROOT, SIGNED_AT_MS, CHECKPOINT_SIG, &clock);
    assert!(event::events_by_type<CheckpointAnchored>().length() == 1, 1);
    assert!(log.tree_size() == 10, 2);
    ts::return_shared(log);
    enclave::share_for_testing(config, instance);
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
