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
    audit::init_for_testing(scenario.ctx());
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    let clock = clock::create_for_testing(scenario.ctx());
    scenario.next_tx(OPERATOR);
    let mut log = scenario.take_shared<AuditLog>();
    audit::anchor_checkpoint(&mut log, &instance, &config, tree_size, root, 1744038900000, GOLDEN_SIG, &clock);
    ts::return_shared(log);
    enclave::share_for_testing(config, instance);
    clock.destroy_for_testing();
    scenario.end();
}

// The first object of test_scenario's first transaction, and the enclave
// signature over AuditCheckpointPayload { LOG_ID, 10, ROOT } at 1744038900000
// (shared with `golden_signed_checkpoint_shared_with_move` in
// core/src/package/audit.rs).
const LOG_ID: address = @0x034401905bebdf8c04f3cd5f04f442a39372c8dc321c29edfb4f9cb30b23ab96;
const SIGNED_CHECKPOINT: vector<u8> = x"36de8b0aa3a7d87b279aa3835616d77ac6f748604ba0109a3ba0ab4d446dc67aafd47f6bdb600ee5693c0df8986bf9737bd1b4d462801943dcefcd5b17ccc60a";

#[test]
fun a_signed_checkpoint_of_a_grown_tree_is_anchored() {
    let mut scenario = ts::begin(OPERATOR);
    audit::init_for_testing(scenario.ctx());
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
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
    audit::init_for_testing(scenario.ctx());
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
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
fun a_fresh_log_is_empty() {
    let mut scenario = ts::begin(OPERATOR);
    audit::init_for_testing(scenario.ctx());
    scenario.next_tx(OPERATOR);
    let log = scenario.take_shared<AuditLog>();
    assert!(log.tree_size() == 0, 0);
    ts::return_shared(log);
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
