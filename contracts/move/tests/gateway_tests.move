// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module k3s_daas::gateway_tests;

use k3s_daas::enclave;
use k3s_daas::gateway::{Self, K8sRequest};
use k3s_daas::staking::{Self, StakePool, SealToken};
use sui::clock::{Self, Clock};
use sui::coin;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xAD;
const ALICE: address = @0xA11CE;
const OPERATOR: address = @0x0E;

// The key of secret [7; 32] (see enclave_tests.move); the first object of
// test_scenario's third transaction (the request submitted after
// `setup_with_user_token`); and the enclave signature over
// K8sResultPayload { REQUEST_ID, 201, RESULT_HASH } at 1744038900000 (shared
// with `golden_signed_result_shared_with_move` in core/src/package/gateway.rs).
const GOLDEN_PK: vector<u8> = x"ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const REQUEST_ID: address = @0xdba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97;
const RESULT_HASH: vector<u8> = x"9999999999999999999999999999999999999999999999999999999999999999";
const SIGNED_RESULT: vector<u8> = x"f375e835ea612747b4ebbfc5f4b149a63e9751dcb47dbc7bac8d9764dc95d21d68ed27d7ca300bedae07ef75de64a2b2a362fcc39d33dff2cc2757b2f0291b08";

fun setup_with_user_token(): (Scenario, Clock) {
    let mut scenario = ts::begin(ADMIN);
    staking::init_for_testing(scenario.ctx());
    let mut clock = clock::create_for_testing(scenario.ctx());
    clock.set_for_testing(1_000);
    scenario.next_tx(ALICE);
    let mut pool = scenario.take_shared<StakePool>();
    let payment = coin::mint_for_testing<SUI>(2_000_000_000, scenario.ctx());
    staking::stake_and_mint(&mut pool, payment, 1, vector[], &clock, scenario.ctx());
    ts::return_shared(pool);
    scenario.next_tx(ALICE);
    (scenario, clock)
}

fun submit(scenario: &mut Scenario, clock: &Clock, method: vector<u8>, path: vector<u8>) {
    let pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    gateway::submit_k8s_request(
        &pool,
        &token,
        method.to_string(),
        path.to_string(),
        b"default".to_string(),
        b"pods".to_string(),
        b"{}",
        clock,
        scenario.ctx(),
    );
    ts::return_shared(pool);
    scenario.return_to_sender(token);
}

#[test]
fun active_token_submits_a_request_with_its_tier() {
    let (mut scenario, clock) = setup_with_user_token();
    submit(&mut scenario, &clock, b"GET", b"/api/v1/namespaces/default/pods");
    scenario.next_tx(ALICE);
    let request = scenario.take_shared<K8sRequest>();
    assert!(gateway::tier(&request) == 2, 0);
    assert!(gateway::result(&request).is_none(), 1);
    ts::return_shared(request);
    clock.destroy_for_testing();
    scenario.end();
}

/// Submits a request and records SIGNED_RESULT for it `times` times.
fun record_signed_result(times: u64) {
    let (mut scenario, clock) = setup_with_user_token();
    submit(&mut scenario, &clock, b"POST", b"/api/v1/namespaces/default/configmaps");
    scenario.next_tx(OPERATOR);
    let mut request = scenario.take_shared<K8sRequest>();
    // The signature covers the request's id: a different id would read as
    // a bad signature instead of this clearer failure.
    assert!(object::id(&request) == object::id_from_address(REQUEST_ID), 0);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    times.do!(|_| gateway::record_k8s_result(
        &mut request,
        &instance,
        &config,
        201,
        RESULT_HASH,
        1744038900000,
        SIGNED_RESULT,
        &clock,
    ));
    assert!(gateway::result(&request).is_some(), 1);
    ts::return_shared(request);
    enclave::share_for_testing(config, instance);
    clock.destroy_for_testing();
    scenario.end();
}

#[test]
fun a_signed_result_is_recorded() {
    record_signed_result(1);
}

#[test, expected_failure(abort_code = 105, location = k3s_daas::gateway)]
fun a_result_is_recorded_only_once() {
    record_signed_result(2);
}

// scenario: gateway::EMethodInvalid
#[test, expected_failure(abort_code = 101, location = k3s_daas::gateway)]
fun unknown_method_is_refused() {
    let (mut scenario, clock) = setup_with_user_token();
    submit(&mut scenario, &clock, b"HEAD", b"/api");
    clock.destroy_for_testing();
    scenario.end();
}

// scenario: gateway::EPathInvalid
#[test, expected_failure(abort_code = 102, location = k3s_daas::gateway)]
fun relative_path_is_refused() {
    let (mut scenario, clock) = setup_with_user_token();
    submit(&mut scenario, &clock, b"GET", b"api");
    clock.destroy_for_testing();
    scenario.end();
}

// scenario: staking::ETokenInactive
#[test, expected_failure(abort_code = 19, location = k3s_daas::staking)]
fun unstaked_token_cannot_submit() {
    let (mut scenario, clock) = setup_with_user_token();
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    staking::request_unstake(&mut pool, &token, &clock);
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    scenario.next_tx(ALICE);
    submit(&mut scenario, &clock, b"GET", b"/api");
    clock.destroy_for_testing();
    scenario.end();
}
