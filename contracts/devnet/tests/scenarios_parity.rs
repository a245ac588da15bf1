//! The devnet against the Move source: every row of the "Abort codes" and
//! "Events" tables of `contracts/README.md` must have a Move unit test
//! (`contracts/move/tests/*.move`) and a devnet test
//! (`contracts/devnet/tests/*.rs`) that run the same scenario, each marked
//! with `// scenario: module::Name` right above the test (several markers
//! may stack above one test). A row may instead be listed in the
//! "Scenario exemptions" table with the side that cannot run it and why.
//! This test fails naming every row without a marker on a side, every
//! marker naming no row, every Move test whose attribute does not expect
//! its row (the row's abort code and module, or a plain `#[test]` for an
//! event), and every exemption that is no longer needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MARKER: &str = "// scenario: ";

fn contracts_dir() -> PathBuf {
    let devnet = Path::new(env!("CARGO_MANIFEST_DIR"));
    devnet.parent().unwrap().to_path_buf()
}

/// The cells of a pipe-table row.
fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().trim_matches('`').to_owned())
        .collect()
}

/// The body rows of the first table under the `## {section}` heading.
fn section_rows(readme: &str, section: &str) -> Vec<Vec<String>> {
    let body = readme
        .split(&format!("\n## {section}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("contracts/README.md has no section {section:?}"))
        .split("\n## ")
        .next()
        .unwrap_or_default();
    body.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(cells)
        .collect()
}

/// `module::Name` of every abort code and every event of the tables.
fn table_rows(readme: &str) -> BTreeSet<String> {
    let aborts = section_rows(readme, "Abort codes")
        .into_iter()
        .map(|r| format!("{}::{}", r[0], r[2]));
    let events = section_rows(readme, "Events")
        .into_iter()
        .map(|r| format!("{}::{}", r[0], r[1]));
    aborts.chain(events).collect()
}

/// `module::EName` -> code of every abort row.
fn abort_codes(readme: &str) -> BTreeMap<String, String> {
    section_rows(readme, "Abort codes")
        .into_iter()
        .map(|r| (format!("{}::{}", r[0], r[2]), r[1].clone()))
        .collect()
}

/// `(row, side)` of every exemption: a scenario one side cannot run.
fn exemptions(readme: &str) -> BTreeSet<(String, String)> {
    section_rows(readme, "Scenario exemptions")
        .into_iter()
        .map(|r| (format!("{}::{}", r[0], r[1]), r[2].clone()))
        .collect()
}

/// A marker found in a test file: the row it names, the test attribute
/// right below it and where it is.
struct Marker {
    row: String,
    attribute: String,
    place: String,
}

/// The markers in the files of `dir` ending in `ext`, and the problems
/// found: a marker not right above a test.
fn markers(dir: &Path, ext: &str, is_test: fn(&str) -> bool) -> (Vec<Marker>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(row) = line.strip_prefix(MARKER) else {
                continue;
            };
            let place = format!("{}:{}", file.display(), i + 1);
            match lines[i + 1..].iter().find(|l| !l.starts_with(MARKER)) {
                Some(below) if is_test(below) => found.push(Marker {
                    row: row.trim().to_owned(),
                    attribute: (*below).to_owned(),
                    place,
                }),
                _ => problems.push(format!("{place}: marker {row:?} is not right above a test")),
            }
        }
    }
    (found, problems)
}

/// The Move test attribute a scenario of `row` must carry: the abort code
/// and module of an abort row, a plain `#[test]` for an event row.
fn move_attribute_problem(marker: &Marker, aborts: &BTreeMap<String, String>) -> Option<String> {
    let Marker {
        row,
        attribute,
        place,
    } = marker;
    let ok = match aborts.get(row) {
        Some(code) => {
            let module = row.split("::").next().unwrap_or_default();
            attribute.contains(&format!("abort_code = {code},"))
                && attribute.contains(&format!("location = k3s_daas::{module})"))
        }
        None => attribute == "#[test]",
    };
    (!ok).then(|| format!("{place}: {row} is above {attribute:?}, which does not expect it"))
}

fn is_move_test(line: &str) -> bool {
    line.starts_with("#[test")
}

fn is_rust_test(line: &str) -> bool {
    line.starts_with("#[tokio::test") || line.starts_with("#[test")
}

/// Every problem of the scenario tables against the markers.
fn parity_problems(
    rows: &BTreeSet<String>,
    exempt: &BTreeSet<(String, String)>,
    sides: &[(&str, BTreeSet<String>)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (side, found) in sides {
        for row in rows {
            let exempted = exempt.contains(&(row.clone(), (*side).to_owned()));
            match (found.contains(row), exempted) {
                (false, false) => problems.push(format!("{row}: no {side} test marker")),
                (true, true) => problems.push(format!(
                    "{row}: has a {side} test marker, drop its exemption"
                )),
                _ => {}
            }
        }
        for marker in found.difference(rows) {
            problems.push(format!(
                "{side} marker {marker:?} names no row of the tables"
            ));
        }
    }
    for (row, side) in exempt {
        if !rows.contains(row) || !sides.iter().any(|(s, _)| s == side) {
            problems.push(format!("exemption ({row}, {side}) names no row or side"));
        }
    }
    problems
}

#[test]
fn every_abort_and_event_has_a_move_and_a_devnet_scenario() {
    let dir = contracts_dir();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let rows = table_rows(&readme);
    assert!(rows.len() >= 50, "tables not found: {rows:?}");
    let exempt = exemptions(&readme);
    let aborts = abort_codes(&readme);
    let (move_markers, mut problems) = markers(&dir.join("move/tests"), "move", is_move_test);
    let (devnet_markers, devnet_problems) = markers(&dir.join("devnet/tests"), "rs", is_rust_test);
    problems.extend(devnet_problems);
    problems.extend(
        move_markers
            .iter()
            .filter(|m| rows.contains(&m.row))
            .filter_map(|m| move_attribute_problem(m, &aborts)),
    );
    let rows_of = |found: &[Marker]| found.iter().map(|m| m.row.clone()).collect();
    problems.extend(parity_problems(
        &rows,
        &exempt,
        &[
            ("move", rows_of(&move_markers)),
            ("devnet", rows_of(&devnet_markers)),
        ],
    ));
    assert!(
        problems.is_empty(),
        "scenario parity of contracts/README.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_names_missing_stray_and_stale_entries() {
    let rows: BTreeSet<String> = ["staking::EPaused", "staking::StakeCreated"]
        .map(str::to_owned)
        .into();
    let exempt: BTreeSet<(String, String)> = [
        ("staking::StakeCreated".to_owned(), "devnet".to_owned()),
        ("staking::ENope".to_owned(), "move".to_owned()),
    ]
    .into();
    let move_found: BTreeSet<String> = ["staking::EPaused", "staking::StakeCreated", "x::Y"]
        .map(str::to_owned)
        .into();
    let devnet_found: BTreeSet<String> = ["staking::StakeCreated"].map(str::to_owned).into();
    let problems = parity_problems(
        &rows,
        &exempt,
        &[("move", move_found), ("devnet", devnet_found)],
    );
    assert_eq!(
        problems,
        [
            "move marker \"x::Y\" names no row of the tables",
            "staking::EPaused: no devnet test marker",
            "staking::StakeCreated: has a devnet test marker, drop its exemption",
            "exemption (staking::ENope, move) names no row or side",
        ]
    );
}

#[test]
fn a_marker_must_sit_right_above_a_test() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.move"),
        "// scenario: staking::EPaused\n// scenario: staking::EInvalidRole\n#[test, expected_failure(abort_code = 1, location = k3s_daas::staking)]\nfun t() {}\n\n// scenario: staking::EStakeTooLow\nfun helper() {}\n",
    )
    .unwrap();
    let (found, problems) = markers(dir.path(), "move", is_move_test);
    let rows: Vec<&str> = found.iter().map(|m| m.row.as_str()).collect();
    assert_eq!(rows, ["staking::EPaused", "staking::EInvalidRole"]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("staking::EStakeTooLow"),
        "{problems:?}"
    );

    // The attribute must expect the row's code in the row's module.
    let aborts: BTreeMap<String, String> = [
        ("staking::EPaused".to_owned(), "1".to_owned()),
        ("staking::EInvalidRole".to_owned(), "2".to_owned()),
    ]
    .into();
    let checked: Vec<bool> = found
        .iter()
        .map(|m| move_attribute_problem(m, &aborts).is_none())
        .collect();
    assert_eq!(checked, [true, false]);
    let event = Marker {
        row: "staking::StakeCreated".to_owned(),
        attribute: "#[test, expected_failure(abort_code = 1, location = k3s_daas::staking)]"
            .to_owned(),
        place: "a.move:1".to_owned(),
    };
    assert!(move_attribute_problem(&event, &aborts).is_some());
}

/// The value of `const {name}` in Move source `text`, without its `@0x` or
/// `x"..."` wrapping.
fn move_const(text: &str, name: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("const {name}:")))?;
    let value = line.split(" = ").nth(1)?.trim_end_matches(';');
    Some(
        value
            .trim_start_matches("@0x")
            .trim_start_matches("x\"")
            .trim_end_matches('"')
            .to_owned(),
    )
}

/// The transaction hash of transaction `n` of a Move test scenario: the
/// BCS of `n` padded to 32 bytes (`tx_context::dummy_tx_hash_with_hint`).
fn scenario_tx_hash(n: u64) -> sui_sdk_types::Digest {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&n.to_le_bytes());
    sui_sdk_types::Digest::new(hash)
}

/// The object ids and enclave signatures that the Move scenarios of a
/// recorded result and an anchored checkpoint hard-code are the ones the
/// test scenario derives and the key of secret [7; 32] makes.
#[test]
fn move_scenario_vectors() {
    use daas_core::package::audit::{AuditCheckpointPayload, AuditLogPayload};
    use daas_core::package::enclave::{IntentMessage, IntentScope};
    use daas_core::package::gateway::K8sResultPayload;
    use sui_crypto::Signer;
    use sui_sdk_types::{Address, Ed25519Signature};

    let key = sui_crypto::ed25519::Ed25519PrivateKey::new([7; 32]);
    let sign = |bytes: Vec<u8>| {
        let signature: Ed25519Signature = key.try_sign(&bytes).unwrap();
        hex::encode(signature.as_bytes())
    };
    let signed_at_ms = 1_744_038_900_000;
    // Transaction 0 makes the config, the enclave, then the log.
    let enclave_id = Address::derive_id(scenario_tx_hash(0), 1);
    let log_id = Address::derive_id(scenario_tx_hash(0), 2);
    let request_id = Address::derive_id(scenario_tx_hash(2), 0);
    let checkpoint = IntentMessage::new(
        IntentScope::AuditCheckpoint,
        signed_at_ms,
        AuditCheckpointPayload {
            log_id,
            tree_size: 10,
            root: vec![0x77; 32],
        },
    );
    let log_request = IntentMessage::new(
        IntentScope::AuditLog,
        signed_at_ms,
        AuditLogPayload { enclave_id },
    );
    let result = IntentMessage::new(
        IntentScope::K8sResult,
        signed_at_ms,
        K8sResultPayload {
            request_id,
            status_code: 200,
            result_hash: vec![9; 32],
        },
    );
    let expected = [
        ("GOLDEN_PK", hex::encode(key.public_key().as_bytes())),
        ("ENCLAVE_ID", hex::encode(enclave_id.as_bytes())),
        ("LOG_ID", hex::encode(log_id.as_bytes())),
        ("REQUEST_ID", hex::encode(request_id.as_bytes())),
        ("SIGNED_AT_MS", signed_at_ms.to_string()),
        ("ROOT", hex::encode([0x77; 32])),
        ("RESULT_HASH", hex::encode([9; 32])),
        ("CHECKPOINT_SIG", sign(checkpoint.signing_bytes().unwrap())),
        ("RESULT_SIG", sign(result.signing_bytes().unwrap())),
        ("LOG_SIG", sign(log_request.signing_bytes().unwrap())),
    ];
    let tests = contracts_dir().join("move/tests");
    let mut checked = 0;
    for file in ["abort_scenarios_tests.move", "event_scenarios_tests.move"] {
        let text = std::fs::read_to_string(tests.join(file)).unwrap();
        for (name, value) in &expected {
            if let Some(found) = move_const(&text, name) {
                assert_eq!(&found, value, "{file}: const {name}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 15, "constants of the two scenario files");
}
