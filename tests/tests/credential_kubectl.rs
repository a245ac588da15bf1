//! kubectl → `daas-console credential` → API server → the master's
//! TokenReview webhook → the chain, with every piece a real process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use daas_core::package::{Mist, Role};
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};

const SUI: u64 = 1_000_000_000;

// kubectl runs as a blocking child process while the master answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_authenticates_with_a_wallet_signed_token() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let account = Account::funded(&stack.devnet, 0x61).await.unwrap();
    let minted = stack
        .devnet
        .client()
        .unwrap()
        .stake_and_mint(&account.chain, Mist::new(5 * SUI), Role::User, "")
        .await
        .unwrap();
    let machine = UserMachine::with_key(&account.wallet).unwrap();
    machine
        .write_kubeconfig(&stack.cluster, minted.token)
        .unwrap();

    // kubectl runs the plugin, the API server asks the master, the chain
    // says admin.
    let output = machine
        .kubectl(&stack.cluster, &["auth", "whoami", "-o", "json"])
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl auth whoami: {}\nmaster log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        stack.master.log_tail(40)
    );
    let review: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let info = &review["status"]["userInfo"];
    assert_eq!(info["username"], format!("sui:{}", account.address()));
    let groups: Vec<&str> = info["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(groups.contains(&"k3s-daas:admin"), "{groups:?}");
    assert!(groups.contains(&"k3s-daas:users"), "{groups:?}");
    assert_eq!(
        info["extra"]["k3s-daas.io/seal-token-id"][0],
        minted.token.to_string()
    );
    assert_eq!(info["extra"]["k3s-daas.io/tier"][0], "admin");
    assert_eq!(
        machine.cached_credentials(),
        1,
        "the plugin cached its token"
    );

    // A second kubectl process reuses the cached token.
    let output = machine
        .kubectl(&stack.cluster, &["auth", "whoami", "-o", "json"])
        .unwrap();
    assert!(output.status.success());
    assert_eq!(machine.cached_credentials(), 1);
}
