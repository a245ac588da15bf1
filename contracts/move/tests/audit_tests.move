// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module k3s_daas::audit_tests;

use k3s_daas::audit::{Self, AuditLog};
use k3s_daas::enclave;
use sui::clock;
use sui::test_scenario as ts;

const OPERATOR: address = @0x0E;

// The key of secret [7; 32] (see enclave_tests.move) and a signature that
// is not over any checkpoint payload.
const GOLDEN_PK: vector<u8> = x"ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const GOLDEN_SIG: vector<u8> = x"7a79f9d313f947180c3a8cda11533fa1f3344a6749dae74bbfd05b848d6c21bc466eda3cdccce7169a9c2ac2633e5fde21abbfc9f11e0acd793f677e7b926e09";
const ROOT: vector<u8> = x"7777777777777777777777777777777777777777777777777777777777777777";

/// Anchors (tree_size, root) in a fresh log with GOLDEN_SIG.
fun anchor_in_fresh_log(tree_size: u64, root: vector<u8>) {
    let mut scenario = ts::begin(OPERATOR);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    audit::new_log_for_testing(object::id(&instance), scenario.ctx());
    let clock = clock::create_for_testing(scenario.ctx());
    scenario.next_tx(OPERATOR);
    let mut log = scenario.take_shared<AuditLog>();
    audit::anchor_checkpoint(&mut log, &instance, &config, tree_size, root, 1744038900000, GOLDEN_SIG, &clock);
    ts::return_shared(log);
    enclave::share_for_testing(config, instance);
    clock.destroy_for_testing();
    scenario.end();
}

// The third object of test_scenario's first transaction (after the config
// and the enclave), and the enclave signature over AuditCheckpointPayload
// { LOG_ID, 10, ROOT } at 1744038900000 (shared with
// `golden_signed_checkpoint_shared_with_move` in core/src/package/audit.rs).
const LOG_ID: address = @0x5ef2fcf809fb9535ea0aeaea421f683026f06c34569aafc42bcde652ef6dd270;
const SIGNED_CHECKPOINT: vector<u8> = x"5c043a7b12a1b47bb25b889b84ffb6aa0580232921ee41028f59c13c2d042b76ebc7413f0282e87d4af723b4c5ad65de9f793ee8e6710f42e1f93681e2e78702";

#[test]
fun a_signed_checkpoint_of_a_grown_tree_is_anchored() {
    let mut scenario = ts::begin(OPERATOR);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    audit::new_log_for_testing(object::id(&instance), scenario.ctx());
    let mut clock = clock::create_for_testing(scenario.ctx());
    clock.set_for_testing(1744038901000);
    scenario.next_tx(OPERATOR);
    let mut log = scenario.take_shared<AuditLog>();
    // The signature covers the log's id: a different id would read as a
    // bad signature (203) instead of this clearer failure.
    assert!(object::id(&log) == object::id_from_address(LOG_ID), 0);
    audit::anchor_checkpoint(
        &mut log,
        &instance,
        &config,
        10,
        ROOT,
        1744038900000,
        SIGNED_CHECKPOINT,
        &clock,
    );
    assert!(log.tree_size() == 10, 1);
    // Kept under its tree size (the table lookup aborts if not).
    let _ = audit::checkpoint(&log, 10);
    ts::return_shared(log);
    enclave::share_for_testing(config, instance);
    clock.destroy_for_testing();
    scenario.end();
}

#[test, expected_failure(abort_code = 201, location = k3s_daas::audit)]
fun the_same_checkpoint_is_not_anchored_twice() {
    let mut scenario = ts::begin(OPERATOR);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    audit::new_log_for_testing(object::id(&instance), scenario.ctx());
    let clock = clock::create_for_testing(scenario.ctx());
    scenario.next_tx(OPERATOR);
    let mut log = scenario.take_shared<AuditLog>();
    audit::anchor_checkpoint(&mut log, &instance, &config, 10, ROOT, 1744038900000, SIGNED_CHECKPOINT, &clock);
    audit::anchor_checkpoint(&mut log, &instance, &config, 10, ROOT, 1744038900000, SIGNED_CHECKPOINT, &clock);
    ts::return_shared(log);
    enclave::share_for_testing(config, instance);
    clock.destroy_for_testing();
    scenario.end();
}

// scenario: audit::EInvalidSignature
#[test, expected_failure(abort_code = 203, location = k3s_daas::audit)]
fun a_checkpoint_needs_the_enclave_signature() {
    anchor_in_fresh_log(10, ROOT);
}

// scenario: audit::ETreeNotGrown
#[test, expected_failure(abort_code = 201, location = k3s_daas::audit)]
fun the_anchored_tree_only_grows() {
    // A fresh log is at size 0; size 0 is not a growth.
    anchor_in_fresh_log(0, ROOT);
}

// scenario: audit::ERootLength
#[test, expected_failure(abort_code = 202, location = k3s_daas::audit)]
fun a_root_is_32_bytes() {
    anchor_in_fresh_log(10, x"77");
}

#[test]
fun a_fresh_log_is_empty_and_bound_to_its_enclave() {
    let mut scenario = ts::begin(OPERATOR);
    let enclave_id = object::id_from_address(@0xE1);
    audit::new_log_for_testing(enclave_id, scenario.ctx());
    scenario.next_tx(OPERATOR);
    let log = scenario.take_shared<AuditLog>();
    assert!(log.tree_size() == 0, 0);
    assert!(log.enclave_id() == enclave_id, 1);
    ts::return_shared(log);
    scenario.end();
}

#[test, expected_failure(abort_code = 203, location = k3s_daas::audit)]
fun a_log_is_created_only_with_its_enclave_signature() {
    let mut scenario = ts::begin(OPERATOR);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    let clock = clock::create_for_testing(scenario.ctx());
    audit::create_log(&instance, &config, 1744038900000, GOLDEN_SIG, &clock, scenario.ctx());
    enclave::share_for_testing(config, instance);
    clock.destroy_for_testing();
    scenario.end();
}

// scenario: audit::EWrongEnclave
#[test, expected_failure(abort_code = 204, location = k3s_daas::audit)]
fun a_log_takes_checkpoints_only_from_its_own_enclave() {
    let mut scenario = ts::begin(OPERATOR);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    let other_config = enclave::new_config_for_testing(scenario.ctx());
    let other = enclave::new_enclave_for_testing(&other_config, GOLDEN_PK, scenario.ctx());
    audit::new_log_for_testing(object::id(&other), scenario.ctx());
    let clock = clock::create_for_testing(scenario.ctx());
    scenario.next_tx(OPERATOR);
    let mut log = scenario.take_shared<AuditLog>();
    audit::anchor_checkpoint(&mut log, &instance, &config, 10, ROOT, 1744038900000, SIGNED_CHECKPOINT, &clock);
    ts::return_shared(log);
    enclave::share_for_testing(config, instance);
    enclave::share_for_testing(other_config, other);
    clock.destroy_for_testing();
    scenario.end();
}

// Shared with `golden_checkpoint_anchor_and_payload` in
// core/src/package/audit.rs.
#[test]
fun payload_bcs_matches_rust() {
    let log_id = object::id_from_address(@0x0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b);
    let bytes = audit::payload_bytes_for_testing(log_id, 7, ROOT);
    assert!(
        bytes == x"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0700000000000000207777777777777777777777777777777777777777777777777777777777777777",
        0,
    );
}

// Shared with `golden_audit_log_payload` in core/src/package/audit.rs.
#[test]
fun log_payload_bcs_matches_rust() {
    let enclave_id = object::id_from_address(@0xe0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0);
    let bytes = audit::log_payload_bytes_for_testing(enclave_id);
    assert!(bytes == x"e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0", 0);
}
