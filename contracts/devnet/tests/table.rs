//! Walks the entry-function table of `contracts/README.md` against the
//! devnet: every row is callable through gRPC (a call without arguments
//! reaches the native function and fails with `ArityMismatch`, not with an
//! unknown-function rejection), and nothing outside the table is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{key, start};
use daas_core::package::PACKAGE_ID;
use sui_sdk_types::{ExecutionError, ExecutionStatus, Identifier};
use sui_transaction_builder::Function;

/// `(module, function, argument count)` of every row of the table.
fn entry_functions() -> Vec<(String, String, usize)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("## Entry functions")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let arity = cells[3].split(", ").filter(|a| !a.is_empty()).count();
            (cells[0].to_owned(), cells[1].to_owned(), arity)
        })
        .collect()
}

#[test]
fn the_table_resolves_and_nothing_else_does() {
    let rows = entry_functions();
    assert!(rows.len() >= 18, "{rows:?}");
    for (module, function, arity) in &rows {
        assert!(*arity > 0);
        daas_devnet::package::resolve(&PACKAGE_ID, module, function)
            .unwrap_or_else(|e| panic!("{module}::{function}: {e}"));
    }
    let err = daas_devnet::package::resolve(&PACKAGE_ID, "staking", "unstake_all").unwrap_err();
    assert!(err.contains("unstake_all"), "{err}");
}

#[tokio::test]
async fn every_entry_function_reaches_its_native_implementation() {
    let mut net = start().await;
    let alice = net.account(key(1)).await;
    for (module, function, _) in entry_functions() {
        let executed = net
            .call(&alice, |tx| {
                tx.move_call(
                    Function::new(
                        PACKAGE_ID,
                        Identifier::new(&module).unwrap(),
                        Identifier::new(&function).unwrap(),
                    ),
                    vec![],
                );
            })
            .await
            .unwrap_or_else(|e| panic!("{module}::{function} rejected: {e}"));
        assert!(
            matches!(
                executed.effects.status(),
                ExecutionStatus::Failure {
                    error: ExecutionError::ArityMismatch,
                    command: Some(0)
                }
            ),
            "{module}::{function}: {:?}",
            executed.effects.status()
        );
    }
}
