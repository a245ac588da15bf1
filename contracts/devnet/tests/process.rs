//! The `daas-devnet` binary as a process: the scriptable start line,
//! graceful shutdown on SIGTERM, and durability across `kill -9`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::Address;

struct Process {
    child: Child,
    url: String,
    lines: Vec<String>,
}

fn spawn(dir: &Path) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_daas-devnet"))
        .args(["start", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    // The banner ends with the faucet's address; the devnet keeps stdout
    // open, so reading on would wait for ever.
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the devnet closed stdout before its faucet_address line: {lines:?}"
        );
        lines.push(line.trim_end().to_owned());
        if line.starts_with("faucet_address ") {
            break;
        }
    }
    let first = &lines[0];
    let rest = first
        .strip_prefix("daas-devnet listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let (url, package) = rest.split_once(" package ").unwrap();
    assert_eq!(
        package.parse::<Address>().unwrap(),
        daas_core::package::PACKAGE_ID
    );
    assert!(url.starts_with("http://127.0.0.1:"));
    Process {
        child,
        url: url.to_owned(),
        lines,
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "devnet did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn balance(url: &str, owner: Address) -> u64 {
    let mut client = sui_rpc::Client::new(url.to_owned()).unwrap();
    let mut request = proto::GetBalanceRequest::default();
    request.owner = Some(owner.to_string());
    client
        .state_client()
        .get_balance(request)
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap()
        .balance
        .unwrap()
}

#[tokio::test]
async fn prints_its_address_stops_on_sigterm_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = Address::from_static("0xa11ce");

    let mut first = spawn(dir.path());
    assert!(first.lines.iter().any(|l| l.starts_with("stake_pool 0x")));
    assert!(
        first
            .lines
            .iter()
            .any(|l| *l == format!("faucet {}/v2/gas", first.url))
    );
    let faucet = sui_rpc::faucet::FaucetClient::new(first.url.clone()).unwrap();
    faucet.request(recipient).await.unwrap();
    let funded = balance(&first.url, recipient).await;
    assert_eq!(funded, daas_devnet::DEFAULT_FAUCET_AMOUNT);
    signal(&first.child, "TERM");
    assert!(wait(&mut first.child).success(), "graceful exit on SIGTERM");

    // Committed state survives a restart, then a kill -9.
    let mut second = spawn(dir.path());
    assert_eq!(balance(&second.url, recipient).await, funded);
    let faucet = sui_rpc::faucet::FaucetClient::new(second.url.clone()).unwrap();
    faucet.request(recipient).await.unwrap();
    signal(&second.child, "KILL");
    wait(&mut second.child);

    let mut third = spawn(dir.path());
    assert_eq!(balance(&third.url, recipient).await, 2 * funded);
    signal(&third.child, "INT");
    assert!(wait(&mut third.child).success(), "graceful exit on SIGINT");
}
