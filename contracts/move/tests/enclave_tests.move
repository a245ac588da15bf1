// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module k3s_daas::enclave_tests;

use k3s_daas::enclave;
use sui::clock;
use sui::test_scenario as ts;

const OPERATOR: address = @0x0E;

// Shared with `golden_enclave_signature_shared_with_move` in
// core/src/package/enclave.rs: the key of secret [7; 32] and its signature
// over IntentMessage { intent: 2, timestamp_ms: 1744038900000, data: 42u64 }.
const GOLDEN_PK: vector<u8> = x"ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const GOLDEN_SIG: vector<u8> = x"7a79f9d313f947180c3a8cda11533fa1f3344a6749dae74bbfd05b848d6c21bc466eda3cdccce7169a9c2ac2633e5fde21abbfc9f11e0acd793f677e7b926e09";

#[test]
fun signature_from_rust_verifies() {
    let mut scenario = ts::begin(OPERATOR);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    instance.assert_current(&config);
    assert!(instance.verify_signature(2, 1744038900000, 42u64, &GOLDEN_SIG), 0);
    // Another scope, time or payload must not verify.
    assert!(!instance.verify_signature(1, 1744038900000, 42u64, &GOLDEN_SIG), 1);
    assert!(!instance.verify_signature(2, 1744038900001, 42u64, &GOLDEN_SIG), 2);
    assert!(!instance.verify_signature(2, 1744038900000, 43u64, &GOLDEN_SIG), 3);
    enclave::share_for_testing(config, instance);
    scenario.end();
}

// scenario: enclave::EInvalidPcrLength
#[test, expected_failure(abort_code = 307, location = k3s_daas::enclave)]
fun config_pcrs_must_be_48_bytes() {
    let mut scenario = ts::begin(OPERATOR);
    enclave::init_for_testing(scenario.ctx());
    scenario.next_tx(OPERATOR);
    let cap = scenario.take_from_sender<enclave::EnclaveCap>();
    enclave::create_config(&cap, b"master".to_string(), vector[1], vector[2], vector[3], scenario.ctx());
    scenario.return_to_sender(cap);
    scenario.end();
}
