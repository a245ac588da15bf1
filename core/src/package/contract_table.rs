//! Walks `contracts/README.md`, the single table of the package, against
//! the bindings: every object, field, event, abort code, constant and entry
//! function must appear on both sides, with the same names, order and
//! values.

use std::collections::{BTreeMap, BTreeSet};

use super::{MoveField, MoveStruct, PACKAGE_ID, PackageAbort, PackageEvent};
use super::{audit, enclave, gateway, staking};

/// One markdown pipe table: its header cells and its rows.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(|c| c.trim().trim_matches('`').to_owned())
        .collect()
}

fn parse_tables(text: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with('|') {
            continue;
        }
        let header = cells(line);
        let Some(sep) = lines.next() else { break };
        assert!(
            sep.trim_start().starts_with("|---") || sep.trim_start().starts_with("| ---"),
            "table header {header:?} is not followed by a separator row"
        );
        let mut rows = Vec::new();
        while let Some(row) = lines.peek() {
            if !row.trim_start().starts_with('|') {
                break;
            }
            let row = cells(row);
            assert_eq!(row.len(), header.len(), "row {row:?} of table {header:?}");
            rows.push(row);
            lines.next();
        }
        tables.push(Table { header, rows });
    }
    tables
}

fn readme() -> Vec<Table> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/README.md");
    let text = std::fs::read_to_string(path).unwrap();
    parse_tables(&text)
}

fn table<'a>(tables: &'a [Table], header: &[&str]) -> &'a Table {
    tables
        .iter()
        .find(|t| t.header == header)
        .unwrap_or_else(|| panic!("contracts/README.md has no table {header:?}"))
}

fn fields_of<T: MoveStruct>() -> (&'static str, &'static str, &'static [MoveField]) {
    (T::MODULE, T::NAME, T::FIELDS)
}

/// Every object and stored/signed struct of the package (not events).
fn objects() -> Vec<(&'static str, &'static str, &'static [MoveField])> {
    vec![
        fields_of::<staking::StakePool>(),
        fields_of::<staking::PoolParams>(),
        fields_of::<staking::TierThresholds>(),
        fields_of::<staking::StakeRecord>(),
        fields_of::<staking::SlashProposal>(),
        fields_of::<staking::SealToken>(),
        fields_of::<staking::AdminCap>(),
        fields_of::<staking::SlasherCap>(),
        fields_of::<gateway::K8sRequest>(),
        fields_of::<gateway::K8sResult>(),
        fields_of::<gateway::K8sResultPayload>(),
        fields_of::<audit::AuditLog>(),
        fields_of::<audit::CheckpointAnchor>(),
        fields_of::<audit::AuditCheckpointPayload>(),
        fields_of::<audit::AuditLogPayload>(),
        fields_of::<enclave::EnclaveConfig>(),
        fields_of::<enclave::Enclave>(),
        fields_of::<enclave::EnclaveCap>(),
        fields_of::<enclave::IntentMessage<()>>(),
    ]
}

type FieldMap = BTreeMap<(String, String), Vec<(String, String)>>;

/// Collects a `| module | X | index | field | move type |` table into
/// `(module, X) -> [(field, type)]`, checking indices count from 0.
fn field_rows(t: &Table) -> FieldMap {
    let mut map = FieldMap::new();
    for row in &t.rows {
        let fields = map.entry((row[0].clone(), row[1].clone())).or_default();
        assert_eq!(
            row[2].parse::<usize>().unwrap(),
            fields.len(),
            "index out of order in {row:?}"
        );
        fields.push((row[3].clone(), row[4].clone()));
    }
    map
}

fn field_list(list: &[(&str, &str, &[MoveField])]) -> FieldMap {
    list.iter()
        .map(|(m, n, fields)| {
            (
                ((*m).to_owned(), (*n).to_owned()),
                fields
                    .iter()
                    .map(|f| (f.name.to_owned(), f.move_type.to_owned()))
                    .collect(),
            )
        })
        .collect()
}

fn all_aborts() -> Vec<PackageAbort> {
    staking::StakingAbort::ALL
        .iter()
        .map(|a| PackageAbort::from(*a))
        .chain(
            gateway::GatewayAbort::ALL
                .iter()
                .map(|a| PackageAbort::from(*a)),
        )
        .chain(
            audit::AuditAbort::ALL
                .iter()
                .map(|a| PackageAbort::from(*a)),
        )
        .chain(
            enclave::EnclaveAbort::ALL
                .iter()
                .map(|a| PackageAbort::from(*a)),
        )
        .collect()
}

#[test]
fn package_address_matches() {
    let tables = readme();
    let t = table(&tables, &["network", "address"]);
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.rows[0][0], "devnet");
    assert_eq!(
        t.rows[0][1].parse::<sui_sdk_types::Address>().unwrap(),
        PACKAGE_ID
    );
}

#[test]
fn devnet_object_ids_match() {
    let tables = readme();
    let t = table(&tables, &["devnet object", "id"]);
    let listed: Vec<(String, sui_sdk_types::Address)> = t
        .rows
        .iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect();
    let rust = [
        ("StakePool", super::STAKE_POOL_ID),
        ("AdminCap", super::ADMIN_CAP_ID),
        ("SlasherCap", super::SLASHER_CAP_ID),
        ("EnclaveCap", super::ENCLAVE_CAP_ID),
        ("StakePool.records", super::STAKE_RECORDS_TABLE_ID),
        ("StakePool.proposals", super::SLASH_PROPOSALS_TABLE_ID),
    ]
    .map(|(n, id)| (n.to_owned(), id));
    assert_eq!(listed, rust);
}

#[test]
fn abort_codes_match() {
    let tables = readme();
    let t = table(&tables, &["module", "code", "name", "meaning"]);
    let in_table: BTreeSet<(String, u64, String, String)> = t
        .rows
        .iter()
        .map(|r| {
            (
                r[0].clone(),
                r[1].parse().unwrap(),
                r[2].clone(),
                r[3].clone(),
            )
        })
        .collect();
    assert_eq!(in_table.len(), t.rows.len(), "duplicate abort rows");
    let in_rust: BTreeSet<(String, u64, String, String)> = all_aborts()
        .into_iter()
        .map(|a| {
            let meaning = match a {
                PackageAbort::Staking(e) => e.to_string(),
                PackageAbort::Gateway(e) => e.to_string(),
                PackageAbort::Audit(e) => e.to_string(),
                PackageAbort::Enclave(e) => e.to_string(),
            };
            (
                a.module().to_owned(),
                a.code(),
                a.name().to_owned(),
                meaning,
            )
        })
        .collect();
    assert_eq!(in_table, in_rust);
}

#[test]
fn events_match() {
    let tables = readme();
    let t = table(&tables, &["module", "event", "index", "field", "move type"]);
    assert_eq!(field_rows(t), field_list(PackageEvent::ALL));
}

#[test]
fn objects_and_fields_match() {
    let tables = readme();
    let t = table(
        &tables,
        &["module", "struct", "index", "field", "move type"],
    );
    assert_eq!(field_rows(t), field_list(&objects()));

    let abilities = table(&tables, &["module", "struct", "abilities", "lives"]);
    let listed: BTreeSet<(String, String)> = abilities
        .rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let rust: BTreeSet<(String, String)> = objects()
        .iter()
        .map(|(m, n, _)| ((*m).to_owned(), (*n).to_owned()))
        .collect();
    assert_eq!(listed, rust);
    for row in &abilities.rows {
        let key = row[2].contains("key");
        match row[3].as_str() {
            "shared" | "owned" => assert!(key, "{row:?} lives alone but has no key"),
            "stored" | "signed" => assert!(!key, "{row:?} is stored but has key"),
            other => panic!("unknown `lives` value {other}"),
        }
    }
    let seal_token = abilities.rows.iter().find(|r| r[1] == "SealToken").unwrap();
    assert_eq!(seal_token[2], "key", "SealToken must not have store");
}

#[test]
fn constants_match() {
    let tables = readme();
    let t = table(
        &tables,
        &["module", "name", "move type", "value", "meaning"],
    );
    let in_table: BTreeSet<(String, String, u64)> = t
        .rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[3].parse().unwrap()))
        .collect();
    let modules = [
        ("staking", staking::MOVE_CONSTANTS),
        ("gateway", gateway::MOVE_CONSTANTS),
        ("audit", audit::MOVE_CONSTANTS),
        ("enclave", enclave::MOVE_CONSTANTS),
    ];
    let in_rust: BTreeSet<(String, String, u64)> = modules
        .iter()
        .flat_map(|(m, list)| {
            list.iter()
                .map(|(n, v)| ((*m).to_owned(), (*n).to_owned(), *v))
        })
        .collect();
    assert_eq!(in_table, in_rust);
}

#[test]
fn entry_functions_match_and_name_known_aborts() {
    let tables = readme();
    let t = table(
        &tables,
        &["module", "function", "kind", "arguments", "aborts"],
    );
    let listed: Vec<(String, String)> = t
        .rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let modules = [
        ("staking", staking::function::ALL),
        ("gateway", gateway::function::ALL),
        ("audit", audit::function::ALL),
        ("enclave", enclave::function::ALL),
    ];
    let rust: Vec<(String, String)> = modules
        .iter()
        .flat_map(|(m, list)| list.iter().map(|f| ((*m).to_owned(), (*f).to_owned())))
        .collect();
    assert_eq!(listed, rust);

    let known: BTreeSet<(String, String)> = all_aborts()
        .into_iter()
        .map(|a| (a.module().to_owned(), a.name().to_owned()))
        .collect();
    for row in &t.rows {
        assert!(matches!(row[2].as_str(), "entry" | "public"), "{row:?}");
        for arg in row[3].split(", ") {
            let (name, ty) = arg
                .split_once(": ")
                .unwrap_or_else(|| panic!("argument {arg}"));
            assert!(!name.is_empty() && !ty.is_empty(), "{row:?}");
        }
        for abort in row[4].split(", ").filter(|a| !a.is_empty()) {
            let key = match abort.split_once("::") {
                Some((m, n)) => (m.to_owned(), n.to_owned()),
                None => (row[0].clone(), abort.to_owned()),
            };
            assert!(known.contains(&key), "{row:?} names unknown abort {abort}");
        }
    }
}

// The Move source cannot be compiled here, so these tests read it as text
// and hold it to the same table: abort codes and constants, struct fields
// and abilities, and entry-function signatures.

fn move_source(module: &str) -> String {
    let path = format!(
        "{}/../contracts/move/sources/{module}.move",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const MODULES: [&str; 4] = ["staking", "gateway", "audit", "enclave"];

/// `(module, name) -> (move type, value)` of every `const` in the sources.
fn move_consts() -> BTreeMap<(String, String), (String, u64)> {
    let mut map = BTreeMap::new();
    for module in MODULES {
        for line in move_source(module).lines() {
            let Some(rest) = line.strip_prefix("const ") else {
                continue;
            };
            let (name, rest) = rest.split_once(": ").unwrap();
            let (ty, value) = rest.split_once(" = ").unwrap();
            let value = value.trim_end_matches(';').replace('_', "");
            map.insert(
                (module.to_owned(), name.to_owned()),
                (ty.to_owned(), value.parse().unwrap()),
            );
        }
    }
    map
}

/// `(module, struct) -> (abilities, fields)`.
type StructMap = BTreeMap<(String, String), (String, Vec<(String, String)>)>;

/// Every struct of the Move sources.
fn move_structs() -> StructMap {
    let mut map = BTreeMap::new();
    for module in MODULES {
        let source = move_source(module);
        let mut lines = source.lines();
        while let Some(line) = lines.next() {
            let Some(rest) = line.strip_prefix("public struct ") else {
                continue;
            };
            let name_end = rest.find([' ', '<']).unwrap();
            let name = &rest[..name_end];
            let (_, abilities) = rest.split_once(" has ").unwrap();
            let abilities = abilities.trim_end_matches('{').trim().to_owned();
            let mut fields = Vec::new();
            for field in lines.by_ref() {
                let field = field.trim();
                if field == "}" {
                    break;
                }
                let (f, ty) = field.trim_end_matches(',').split_once(": ").unwrap();
                fields.push((f.to_owned(), ty.to_owned()));
            }
            map.insert((module.to_owned(), name.to_owned()), (abilities, fields));
        }
    }
    map
}

/// `(module, function) -> (kind, arguments)` of every `entry fun` and
/// `public fun` listed in the table, without the hidden `TxContext`.
fn move_signature(module: &str, function: &str) -> Option<(String, String)> {
    let source = move_source(module);
    for kind in ["entry", "public"] {
        let marker = format!("\n{kind} fun {function}(");
        let Some(start) = source.find(&marker) else {
            continue;
        };
        let args_start = start + marker.len();
        let args_end = args_start + source[args_start..].find(')').unwrap();
        let args: Vec<String> = source[args_start..args_end]
            .split(',')
            .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|a| !a.is_empty())
            .filter(|a| !a.ends_with("TxContext"))
            .map(|a| a.trim_start_matches('_').to_owned())
            .collect();
        return Some((kind.to_owned(), args.join(", ")));
    }
    None
}

#[test]
fn move_abort_codes_and_constants_match() {
    let tables = readme();
    let consts = move_consts();
    let mut expected = BTreeMap::new();
    for row in &table(&tables, &["module", "code", "name", "meaning"]).rows {
        expected.insert(
            (row[0].clone(), row[2].clone()),
            ("u64".to_owned(), row[1].parse::<u64>().unwrap()),
        );
    }
    for row in &table(
        &tables,
        &["module", "name", "move type", "value", "meaning"],
    )
    .rows
    {
        expected.insert(
            (row[0].clone(), row[1].clone()),
            (row[2].clone(), row[3].parse::<u64>().unwrap()),
        );
    }
    assert_eq!(consts, expected);
}

#[test]
fn move_structs_match() {
    let tables = readme();
    let structs = move_structs();
    let mut expected = field_rows(table(
        &tables,
        &["module", "struct", "index", "field", "move type"],
    ));
    expected.extend(field_rows(table(
        &tables,
        &["module", "event", "index", "field", "move type"],
    )));
    let fields: FieldMap = structs
        .iter()
        .map(|(k, (_, f))| (k.clone(), f.clone()))
        .collect();
    assert_eq!(fields, expected);

    for row in &table(&tables, &["module", "struct", "abilities", "lives"]).rows {
        let (abilities, _) = &structs[&(row[0].clone(), row[1].clone())];
        assert_eq!(abilities, &row[2], "abilities of {}::{}", row[0], row[1]);
    }
    for (module, name, _) in PackageEvent::ALL {
        let (abilities, _) = &structs[&((*module).to_owned(), (*name).to_owned())];
        assert_eq!(abilities, "copy, drop", "event {module}::{name}");
    }
}

#[test]
fn move_entry_functions_match() {
    let tables = readme();
    for row in &table(
        &tables,
        &["module", "function", "kind", "arguments", "aborts"],
    )
    .rows
    {
        let (kind, args) = move_signature(&row[0], &row[1])
            .unwrap_or_else(|| panic!("{}::{} is not in the Move source", row[0], row[1]));
        assert_eq!(
            (kind.as_str(), args.as_str()),
            (row[2].as_str(), row[3].as_str())
        );
    }
}
