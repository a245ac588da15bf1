// Copyright (c) K3s-DaaS authors
// SPDX-License-Identifier: Apache-2.0

// One test per row of the "Abort codes" table of contracts/README.md that
// the older test files do not cover. Each test carries a
// `// scenario: module::EName` marker; the devnet test with the same
// marker (contracts/devnet/tests/) runs the same scenario and expects the
// same code, and contracts/devnet/tests/scenarios_parity.rs checks that
// every row has both.
#[test_only]
module k3s_daas::abort_scenarios_tests;

use k3s_daas::audit::{Self, AuditLog};
use k3s_daas::enclave::{Self, EnclaveCap, EnclaveConfig};
use k3s_daas::gateway::{Self, K8sRequest};
use k3s_daas::staking::{Self, StakePool, SealToken, AdminCap, SlasherCap};
use sui::clock::{Self, Clock};
use sui::coin;
use sui::nitro_attestation;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xAD;
const ALICE: address = @0xA11CE;
const REPORTER: address = @0xB0B;

const MIST_PER_SUI: u64 = 1_000_000_000;
const START_MS: u64 = 1_000;
const EVIDENCE: vector<u8> = x"00000000000000000000000000000000000000000000000000000000000000ee";
const RESULT_HASH: vector<u8> = x"0909090909090909090909090909090909090909090909090909090909090909";

// The key of secret [7; 32] and a signature that is over neither a result
// nor a checkpoint payload (see enclave_tests.move).
const GOLDEN_PK: vector<u8> = x"ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const GOLDEN_SIG: vector<u8> = x"7a79f9d313f947180c3a8cda11533fa1f3344a6749dae74bbfd05b848d6c21bc466eda3cdccce7169a9c2ac2633e5fde21abbfc9f11e0acd793f677e7b926e09";

// The id the test scenario derives for a request, the first object of
// transaction 2 (the transaction hash of transaction n is the BCS of n
// padded to 32 bytes; an object's id is derive_id(transaction hash, ids
// created so far in the transaction)), and the signature of the enclave
// key of secret [7; 32] (GOLDEN_PK) over K8sResultPayload { REQUEST_ID,
// status_code: 200, result_hash: RESULT_HASH } at SIGNED_AT_MS.
// `move_scenario_vectors` in contracts/devnet/tests/scenarios_parity.rs
// recomputes them.
const REQUEST_ID: address = @0xdba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97;
const SIGNED_AT_MS: u64 = 1744038900000;
const RESULT_SIG: vector<u8> = x"0711721b4c1bb12109d5117556d809b3837554454f8f7118f1056733e02484c9c1e1af550dba3da8995b0635ba2d14a938ca29d0e34906222dfc5539258bbd05";

// A real AWS Nitro attestation document, the test vector of the Sui
// framework's own nitro_attestation tests: PCR 0, 1 and 2 are 48 zero
// bytes (a debug enclave) and it carries no public key. It verifies
// against the AWS root at NITRO_DOC_NOW_MS.
const NITRO_DOC_NOW_MS: u64 = 1731627987382;
const NITRO_DOC: vector<u8> = x"8444a1013822a0591121a9696d6f64756c655f69647827692d30663733613462346362373463633966322d656e633031393265343138386665663738316466646967657374665348413338346974696d657374616d701b000001932d1239ca6470637273b0005830000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000015830000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000025830000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000035830639a8b65f68b0223cbb14a0032487e5656d260434e3d1a10e7ec1407fb86143860717fc8afee90df7a1604111709af460458309ab5a1aba055ee41ee254b9b251a58259b29fa1096859762744e9ac73b5869b25e51223854d9f86adbb37fe69f3e5d1c0558300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000658300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000758300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000858300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000958300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000a58300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000b58300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c58300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000d58300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000e58300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000f58300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006b636572746966696361746559027e3082027a30820201a00302010202100192e4188fef781d0000000067366a8d300a06082a8648ce3d04030330818e310b30090603550406130255533113301106035504080c0a57617368696e67746f6e3110300e06035504070c0753656174746c65310f300d060355040a0c06416d617a6f6e310c300a060355040b0c034157533139303706035504030c30692d30663733613462346362373463633966322e75732d656173742d312e6177732e6e6974726f2d656e636c61766573301e170d3234313131343231323432365a170d3234313131353030323432395a308193310b30090603550406130255533113301106035504080c0a57617368696e67746f6e3110300e06035504070c0753656174746c65310f300d060355040a0c06416d617a6f6e310c300a060355040b0c03415753313e303c06035504030c35692d30663733613462346362373463633966322d656e63303139326534313838666566373831642e75732d656173742d312e6177733076301006072a8648ce3d020106052b810400220362000442e0526fc41af71feac64fc6f68a8ac8aae831a9e945ab7d482b842acaf05d6b762d00cbc2115da270187c44597b1c16dcf497c70e543b41612e9041ea143d11d58bd1c847496e5d41ec78a49fe445348cf9a47af9387e0451d9ec145b56ec12a31d301b300c0603551d130101ff04023000300b0603551d0f0404030206c0300a06082a8648ce3d0403030367003064023078001466c0c64293b9bde3d0834edb67ff18417f6075a8f7d137701e10164ce6cf45c508bf383ed0d8d41c51a5977a43023033cb8e4a6ad2686b86c2533accbab5dd5e98cf25d3612b1a48502f327ce00acc921641242d5a3a27d222df1f7dfc3e2c68636162756e646c65845902153082021130820196a003020102021100f93175681b90afe11d46ccb4e4e7f856300a06082a8648ce3d0403033049310b3009060355040613025553310f300d060355040a0c06416d617a6f6e310c300a060355040b0c03415753311b301906035504030c126177732e6e6974726f2d656e636c61766573301e170d3139313032383133323830355a170d3439313032383134323830355a3049310b3009060355040613025553310f300d060355040a0c06416d617a6f6e310c300a060355040b0c03415753311b301906035504030c126177732e6e6974726f2d656e636c617665733076301006072a8648ce3d020106052b8104002203620004fc0254eba608c1f36870e29ada90be46383292736e894bfff672d989444b5051e534a4b1f6dbe3c0bc581a32b7b176070ede12d69a3fea211b66e752cf7dd1dd095f6f1370f4170843d9dc100121e4cf63012809664487c9796284304dc53ff4a3423040300f0603551d130101ff040530030101ff301d0603551d0e041604149025b50dd90547e796c396fa729dcf99a9df4b96300e0603551d0f0101ff040403020186300a06082a8648ce3d0403030369003066023100a37f2f91a1c9bd5ee7b8627c1698d255038e1f0343f95b63a9628c3d39809545a11ebcbf2e3b55d8aeee71b4c3d6adf3023100a2f39b1605b27028a5dd4ba069b5016e65b4fbde8fe0061d6a53197f9cdaf5d943bc61fc2beb03cb6fee8d2302f3dff65902c2308202be30820245a003020102021100ab314210a819b4842e3be045e7daddbe300a06082a8648ce3d0403033049310b3009060355040613025553310f300d060355040a0c06416d617a6f6e310c300a060355040b0c03415753311b301906035504030c126177732e6e6974726f2d656e636c61766573301e170d3234313131333037333235355a170d3234313230333038333235355a3064310b3009060355040613025553310f300d060355040a0c06416d617a6f6e310c300a060355040b0c034157533136303406035504030c2d343834633637303131656563376235332e75732d656173742d312e6177732e6e6974726f2d656e636c617665733076301006072a8648ce3d020106052b8104002203620004cbd3e3fe8793852d952a214ee1c7f17e13eff238c5952ffc6c48f2b8e70beec10194585089829f4818d012a6061cdc9f4d8c5a67aada1233f75b65d3f7704e1c02460cfcc74f0e94193c8d4030f6d1662de0427836c1d32c571c919230fae73aa381d53081d230120603551d130101ff040830060101ff020102301f0603551d230418301680149025b50dd90547e796c396fa729dcf99a9df4b96301d0603551d0e04160414b5f0f617140aa7057c7977f361eee896fd9a58b4300e0603551d0f0101ff040403020186306c0603551d1f046530633061a05fa05d865b687474703a2f2f6177732d6e6974726f2d656e636c617665732d63726c2e73332e616d617a6f6e6177732e636f6d2f63726c2f61623439363063632d376436332d343262642d396539662d3539333338636236376638342e63726c300a06082a8648ce3d04030303670030640230038362cf11e189755d6a2306d728a7f356740eefe623d5e0e9e7c33c1b061ade2224127ac3a2e4bce60b43fc8c53326902306aceccf6f45a8d5c066bd10ce3ffaeeebdee56eedb86deb18ea22172c07196750924dd8f4656c70bd95eb6714cb8ecdd59031a308203163082029ba0030201020211009a0f4f29c1649826edb5b5f9f93b6326300a06082a8648ce3d0403033064310b3009060355040613025553310f300d060355040a0c06416d617a6f6e310c300a060355040b0c034157533136303406035504030c2d343834633637303131656563376235332e75732d656173742d312e6177732e6e6974726f2d656e636c61766573301e170d3234313131343034323230325a170d3234313132303033323230325a308189313c303a06035504030c33373532313933346262636164353432622e7a6f6e616c2e75732d656173742d312e6177732e6e6974726f2d656e636c61766573310c300a060355040b0c03415753310f300d060355040a0c06416d617a6f6e310b3009060355040613025553310b300906035504080c0257413110300e06035504070c0753656174746c653076301006072a8648ce3d020106052b810400220362000496f4565c489625767e8e2d3006ba06bd48ba3e384027a205b93d1ad4958128887c38ddbb2f4922888708ef0985e1e5d3bd73b33f86785ac66a204eed3a6b663686434f64e19fb39cd7b33068edb2108b79774a961e7080cb1b4eaa60a5e63e22a381ea3081e730120603551d130101ff040830060101ff020101301f0603551d23041830168014b5f0f617140aa7057c7977f361eee896fd9a58b4301d0603551d0e0416041484b6dc9994365b56081f5d1bc8ee21f58e45d7df300e0603551d0f0101ff0404030201863081800603551d1f047930773075a073a071866f687474703a2f2f63726c2d75732d656173742d312d6177732d6e6974726f2d656e636c617665732e73332e75732d656173742d312e616d617a6f6e6177732e636f6d2f63726c2f34396230376261342d303533622d346435622d616434612d3364626533653065396637652e63726c300a06082a8648ce3d0403030369003066023100d00c2999e66fbcce624d91aedf41f5532b04c300c86a61d78ed968716a7f7ff565e2c361f4f46fe5c5486a9d2bfe0d60023100bc46872a45820fb552b926d420d4f6a1be831bb26821d374e95bff5ed042b3313465b5b4cde79f16f6a57bd5b541353c5902c3308202bf30820245a003020102021500eaa3f0b662c2a61c96f94194fa33d5baf26eeb84300a06082a8648ce3d040303308189313c303a06035504030c33373532313933346262636164353432622e7a6f6e616c2e75732d656173742d312e6177732e6e6974726f2d656e636c61766573310c300a060355040b0c03415753310f300d060355040a0c06416d617a6f6e310b3009060355040613025553310b300906035504080c0257413110300e06035504070c0753656174746c65301e170d3234313131343130313032345a170d3234313131353130313032345a30818e310b30090603550406130255533113301106035504080c0a57617368696e67746f6e3110300e06035504070c0753656174746c65310f300d060355040a0c06416d617a6f6e310c300a060355040b0c034157533139303706035504030c30692d30663733613462346362373463633966322e75732d656173742d312e6177732e6e6974726f2d656e636c617665733076301006072a8648ce3d020106052b81040022036200040fe46adf864a558a00a9ca4b64ece5ba124ed1d29656a1f16ca71d0dc8fca56b0fb15aafd309f6258374e8c7b4a5b0521c76d1812a7873474dae9322aef1cd782db19fc2ece4d36fa08acbe65e4bec2a3cfe70960d179778ea7e7711f827b36ea366306430120603551d130101ff040830060101ff020100300e0603551d0f0101ff040403020204301d0603551d0e041604143e40d423bf86e9565c378487843389bd2f471a56301f0603551d2304183016801484b6dc9994365b56081f5d1bc8ee21f58e45d7df300a06082a8648ce3d0403030368003065023100c2767f29cc6e40e087617cf680d81e3b77962c29d8ace426b3c4a62a560354da73de6f80986d44da2593a3c268fea94302306056e2f3c88c30170c4940f578acc279a01fe689123e81def4f8c313e1f0cbc44a562a171d12810e847e441aee233f676a7075626c69635f6b6579f669757365725f6461746158205a264748a62368075d34b9494634a3e096e0e48f6647f965b81d2a653de684f2656e6f6e6365f65860284d57f029e1b3beb76455a607b9a86360d6451370f718a0d7bdcad729eea248c25461166ab684ad31fb52713918ee3e401d1b56251d6f9d85bf870e850e0b47559d17091778dbafc3d1989a94bd54c0991053675dcc3686402b189172aae196";

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

/// `len` copies of `byte`.
fun bytes(byte: u8, len: u64): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < len) {
        v.push_back(byte);
        i = i + 1;
    };
    v
}

/// ALICE stakes `amount` for a token of `role` and `node_id`; the next
/// transaction is ALICE's.
fun stake(scenario: &mut Scenario, clock: &Clock, amount: u64, role: u8, node_id: vector<u8>) {
    scenario.next_tx(ALICE);
    let mut pool = scenario.take_shared<StakePool>();
    let payment = coin::mint_for_testing<SUI>(amount, scenario.ctx());
    staking::stake_and_mint(&mut pool, payment, role, node_id, clock, scenario.ctx());
    ts::return_shared(pool);
    scenario.next_tx(ALICE);
}

/// ALICE submits a request with her token.
fun submit(
    scenario: &mut Scenario,
    clock: &Clock,
    namespace: vector<u8>,
    resource_type: vector<u8>,
    payload: vector<u8>,
) {
    let pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    gateway::submit_k8s_request(
        &pool,
        &token,
        b"GET".to_string(),
        b"/api/v1/pods".to_string(),
        namespace.to_string(),
        resource_type.to_string(),
        payload,
        clock,
        scenario.ctx(),
    );
    ts::return_shared(pool);
    scenario.return_to_sender(token);
}

/// Records a result of `result_hash` signed with GOLDEN_SIG on a fresh
/// request of ALICE, by an enclave of a fresh config.
fun record_on_fresh_request(result_hash: vector<u8>) {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    submit(&mut scenario, &clock, b"default", b"pods", b"{}");
    scenario.next_tx(ALICE);
    let mut request = scenario.take_shared<K8sRequest>();
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    gateway::record_k8s_result(&mut request, &instance, &config, 200, result_hash, 1744038900000, GOLDEN_SIG, &clock);
    ts::return_shared(request);
    enclave::share_for_testing(config, instance);
    finish(scenario, clock);
}

/// Creates a config with PCR 0, 1, 2 = `pcrs` from the EnclaveCap, then
/// registers the NITRO_DOC document under it.
fun register_nitro_doc(pcrs: vector<u8>) {
    let mut scenario = ts::begin(ADMIN);
    enclave::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<EnclaveCap>();
    enclave::create_config(&cap, b"master".to_string(), pcrs, pcrs, pcrs, scenario.ctx());
    scenario.return_to_sender(cap);
    scenario.next_tx(ALICE);
    let config = scenario.take_shared<EnclaveConfig>();
    let mut clock = clock::create_for_testing(scenario.ctx());
    clock.set_for_testing(NITRO_DOC_NOW_MS);
    let document = nitro_attestation::load_nitro_attestation(NITRO_DOC, &clock);
    enclave::register_enclave(&config, document, scenario.ctx());
    ts::return_shared(config);
    finish(scenario, clock);
}

// === staking ===

// scenario: staking::ENodeIdNotAllowed
#[test, expected_failure(abort_code = 6, location = k3s_daas::staking)]
fun user_token_with_a_node_id_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, b"node-1");
    finish(scenario, clock);
}

// scenario: staking::ENodeIdTooLong
#[test, expected_failure(abort_code = 7, location = k3s_daas::staking)]
fun node_id_longer_than_253_bytes_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, 5 * MIST_PER_SUI, 0, bytes(0x61, 254));
    finish(scenario, clock);
}

// scenario: staking::EUnknownToken
#[test, expected_failure(abort_code = 8, location = k3s_daas::staking)]
fun slash_of_an_unknown_token_is_refused() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(REPORTER);
    let mut pool = scenario.take_shared<StakePool>();
    let nobody = object::id_from_address(@0x5EA1);
    staking::propose_slash(&mut pool, nobody, EVIDENCE, b"no such token".to_string(), &clock, scenario.ctx());
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::EWrongPool
#[test, expected_failure(abort_code = 9, location = k3s_daas::staking)]
fun admin_cap_of_another_pool_is_refused() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let first = scenario.take_shared<StakePool>();
    let first_id = object::id(&first);
    ts::return_shared(first);
    // A second pool, with its own caps, sent to ADMIN after the first ones.
    staking::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared_by_id<StakePool>(first_id);
    let other_cap = scenario.take_from_sender<AdminCap>();
    staking::set_paused(&mut pool, &other_cap, true);
    ts::return_shared(pool);
    scenario.return_to_sender(other_cap);
    finish(scenario, clock);
}

// scenario: staking::EZeroAmount
#[test, expected_failure(abort_code = 10, location = k3s_daas::staking)]
fun zero_treasury_withdrawal_is_refused() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let admin = scenario.take_from_sender<AdminCap>();
    staking::withdraw_treasury(&mut pool, &admin, 0, scenario.ctx());
    ts::return_shared(pool);
    scenario.return_to_sender(admin);
    finish(scenario, clock);
}

// scenario: staking::EUnbonding
#[test, expected_failure(abort_code = 11, location = k3s_daas::staking)]
fun second_unstake_request_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    staking::request_unstake(&mut pool, &token, &clock);
    staking::request_unstake(&mut pool, &token, &clock);
    ts::return_shared(pool);
    scenario.return_to_sender(token);
    finish(scenario, clock);
}

// scenario: staking::ENotUnbonding
#[test, expected_failure(abort_code = 12, location = k3s_daas::staking)]
fun withdraw_before_unstake_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    let mut pool = scenario.take_shared<StakePool>();
    let token = scenario.take_from_sender<SealToken>();
    staking::withdraw(&mut pool, token, &clock, scenario.ctx());
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::EUnknownProposal
#[test, expected_failure(abort_code = 14, location = k3s_daas::staking)]
fun reject_of_an_unknown_proposal_is_refused() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let slasher = scenario.take_from_sender<SlasherCap>();
    staking::reject_slash(&mut pool, &slasher, 0, scenario.ctx());
    ts::return_shared(pool);
    scenario.return_to_sender(slasher);
    finish(scenario, clock);
}

// scenario: staking::EEvidenceHashLength
#[test, expected_failure(abort_code = 15, location = k3s_daas::staking)]
fun evidence_hash_of_31_bytes_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    let token = scenario.take_from_sender<SealToken>();
    let token_id = object::id(&token);
    scenario.return_to_sender(token);
    scenario.next_tx(REPORTER);
    let mut pool = scenario.take_shared<StakePool>();
    staking::propose_slash(&mut pool, token_id, bytes(0xee, 31), b"short hash".to_string(), &clock, scenario.ctx());
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::EReasonTooLong
#[test, expected_failure(abort_code = 16, location = k3s_daas::staking)]
fun reason_of_1025_bytes_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    let token = scenario.take_from_sender<SealToken>();
    let token_id = object::id(&token);
    scenario.return_to_sender(token);
    scenario.next_tx(REPORTER);
    let mut pool = scenario.take_shared<StakePool>();
    staking::propose_slash(&mut pool, token_id, EVIDENCE, bytes(0x72, 1025).to_string(), &clock, scenario.ctx());
    ts::return_shared(pool);
    finish(scenario, clock);
}

// scenario: staking::EInsufficientTreasury
#[test, expected_failure(abort_code = 18, location = k3s_daas::staking)]
fun withdrawal_beyond_the_treasury_is_refused() {
    let (mut scenario, clock) = setup();
    scenario.next_tx(ADMIN);
    let mut pool = scenario.take_shared<StakePool>();
    let admin = scenario.take_from_sender<AdminCap>();
    staking::withdraw_treasury(&mut pool, &admin, 1, scenario.ctx());
    ts::return_shared(pool);
    scenario.return_to_sender(admin);
    finish(scenario, clock);
}

// === gateway ===

// scenario: gateway::EFieldTooLong
#[test, expected_failure(abort_code = 103, location = k3s_daas::gateway)]
fun namespace_longer_than_253_bytes_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    submit(&mut scenario, &clock, bytes(0x6e, 254), b"pods", b"{}");
    finish(scenario, clock);
}

// scenario: gateway::EPayloadTooLarge
#[test, expected_failure(abort_code = 104, location = k3s_daas::gateway)]
fun payload_longer_than_8192_bytes_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    submit(&mut scenario, &clock, b"default", b"pods", bytes(0x20, 8193));
    finish(scenario, clock);
}

// scenario: gateway::EResultHashLength
#[test, expected_failure(abort_code = 106, location = k3s_daas::gateway)]
fun result_hash_of_one_byte_is_refused() {
    record_on_fresh_request(x"09");
}

// scenario: gateway::EAlreadyRecorded
#[test, expected_failure(abort_code = 105, location = k3s_daas::gateway)]
fun second_result_of_a_request_is_refused() {
    let (mut scenario, clock) = setup();
    stake(&mut scenario, &clock, MIST_PER_SUI, 1, vector[]);
    submit(&mut scenario, &clock, b"default", b"pods", b"{}");
    scenario.next_tx(ALICE);
    let mut request = scenario.take_shared<K8sRequest>();
    assert!(object::id_to_address(&object::id(&request)) == REQUEST_ID, 0);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    gateway::record_k8s_result(&mut request, &instance, &config, 200, RESULT_HASH, SIGNED_AT_MS, RESULT_SIG, &clock);
    assert!(gateway::result(&request).is_some(), 1);
    gateway::record_k8s_result(&mut request, &instance, &config, 200, RESULT_HASH, SIGNED_AT_MS, RESULT_SIG, &clock);
    ts::return_shared(request);
    enclave::share_for_testing(config, instance);
    finish(scenario, clock);
}

// scenario: gateway::EInvalidSignature
#[test, expected_failure(abort_code = 107, location = k3s_daas::gateway)]
fun result_without_the_enclave_signature_is_refused() {
    record_on_fresh_request(RESULT_HASH);
}

// === enclave ===

// scenario: enclave::EPcrMismatch
#[test, expected_failure(abort_code = 301, location = k3s_daas::enclave)]
fun document_of_other_pcrs_is_refused() {
    register_nitro_doc(bytes(1, 48));
}

// scenario: enclave::EMissingPublicKey
#[test, expected_failure(abort_code = 302, location = k3s_daas::enclave)]
fun document_without_a_public_key_is_refused() {
    register_nitro_doc(bytes(0, 48));
}

// scenario: enclave::EStaleEnclave
#[test, expected_failure(abort_code = 304, location = k3s_daas::enclave)]
fun enclave_of_an_older_config_version_is_refused() {
    let mut scenario = ts::begin(ADMIN);
    enclave::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<EnclaveCap>();
    let mut config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    audit::new_log_for_testing(object::id(&instance), scenario.ctx());
    enclave::update_pcrs(&mut config, &cap, bytes(3, 48), bytes(4, 48), bytes(5, 48));
    let clock = clock::create_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let mut log = scenario.take_shared<AuditLog>();
    audit::anchor_checkpoint(&mut log, &instance, &config, 10, RESULT_HASH, 1744038900000, GOLDEN_SIG, &clock);
    ts::return_shared(log);
    scenario.return_to_sender(cap);
    enclave::share_for_testing(config, instance);
    finish(scenario, clock);
}

// scenario: enclave::EWrongConfig
#[test, expected_failure(abort_code = 305, location = k3s_daas::enclave)]
fun enclave_of_another_config_is_refused() {
    let mut scenario = ts::begin(ADMIN);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    let other = enclave::new_config_for_testing(scenario.ctx());
    instance.assert_current(&other);
    enclave::share_for_testing(config, instance);
    let unused = enclave::new_enclave_for_testing(&other, GOLDEN_PK, scenario.ctx());
    enclave::share_for_testing(other, unused);
    scenario.end();
}

// scenario: enclave::ECurrentEnclave
#[test, expected_failure(abort_code = 306, location = k3s_daas::enclave)]
fun current_enclave_cannot_be_destroyed() {
    let mut scenario = ts::begin(ADMIN);
    let config = enclave::new_config_for_testing(scenario.ctx());
    let instance = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    enclave::destroy_old_enclave(instance, &config);
    let unused = enclave::new_enclave_for_testing(&config, GOLDEN_PK, scenario.ctx());
    enclave::share_for_testing(config, unused);
    scenario.end();
}
