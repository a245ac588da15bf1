// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module k3s_daas::gateway_tests;

use k3s_daas::gateway::{Self, K8sRequest};
use k3s_daas::staking::{Self, StakePool, SealToken};
use sui::clock::{Self, Clock};
use sui::coin;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xAD;
const ALICE: address = @0xA11CE;

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
