//! API schema testing: schemathesis (from PyPI, installed by
//! `deploy/dev/setup.sh`) generates requests from the master's and the
//! agent's `/openapi.json` and sends them to the running binaries — the
//! master of a local stack (devnet, control plane, dev attestation) and a
//! `daas-agent run` registered with it. Every response must be no server
//! error, have a documented status and content type, and match the
//! documented schema (every body has one, derived from its wire type); anonymous callers and a staked viewer (an opaque
//! seal token) are both tried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::package::{Mist, Role};
use daas_e2e::agent::AgentHost;
use daas_e2e::k3s;
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::Account;

/// The release `deploy/dev/setup.sh` installs (keep the two in step).
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// What every response is checked for.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";
/// Test cases per operation and phase: enough to reach every documented
/// status, small enough for CI.
const MAX_EXAMPLES: &str = "30";
const SUI: u64 = 1_000_000_000;

/// The schemathesis executable: `$DAAS_SCHEMATHESIS`, else the one
/// `deploy/dev/setup.sh` installs. Missing is a failure that names the
/// setup script, never a skip.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("DAAS_SCHEMATHESIS").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(format!(
                ".cache/k3s-daas/schemathesis-{SCHEMATHESIS_VERSION}/bin/schemathesis"
            ))
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "schemathesis is not installed at {}: run deploy/dev/setup.sh",
        path.display()
    );
    path
}

/// Runs schemathesis against `base`'s `/openapi.json` with `headers`.
async fn run(base: &str, headers: &[String], report: &tempfile::TempDir) -> Output {
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--tls-verify", "false", "--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", "20261204"])
        .args(["--workers", "1", "--no-color", "--request-timeout", "20"])
        .args(["--generation-database", "none"])
        .arg("--report-dir")
        .arg(report.path());
    for header in headers {
        command.arg("--header").arg(header);
    }
    // Its own caches (`.schemathesis/`) go to the temporary directory,
    // not the checkout.
    command.current_dir(report.path()).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(900), command.output())
        .await
        .expect("schemathesis finished within 15 minutes")
        .expect("schemathesis ran")
}

/// The served document describes every body with a schema it defines.
async fn assert_bodies_described(http: &reqwest::Client, base: &str) {
    let document: serde_json::Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        daas_core::api::schema::undefined_bodies(&document),
        Vec::<String>::new(),
        "{base}/openapi.json"
    );
    assert!(
        document["components"]["schemas"]
            .as_object()
            .is_some_and(|schemas| schemas.contains_key("ErrorBody")),
        "{base}/openapi.json defines no ErrorBody"
    );
}

fn assert_clean(what: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems in {what}:\n{stdout}\n{stderr}"
    );
}

/// An opaque seal token of a new viewer, for `Authorization: Bearer`.
async fn viewer_seal_token(stack: &Stack) -> String {
    let account = Account::funded(&stack.devnet, 0x5c).await.unwrap();
    let chain = stack.devnet.client().unwrap();
    let minted = chain
        .stake_and_mint(&account.chain, Mist::new(SUI), Role::User, "")
        .await
        .unwrap();
    let claims = Claims::new(
        minted.token,
        account.address(),
        stack.cluster.server(),
        unix_now_secs(),
        Duration::from_secs(600),
    )
    .unwrap();
    let token = AccessToken::sign(&account.wallet, &claims).unwrap();
    let issued = stack
        .master
        .client()
        .map(daas_core::api::MasterClient::new)
        .unwrap()
        .issue_seal_token(&token)
        .await
        .unwrap();
    issued.seal_token
}

#[tokio::test(flavor = "multi_thread")]
async fn the_master_and_the_agent_answer_as_their_openapi_documents_say() {
    schemathesis();
    // schemathesis sends thousands of requests from one client, over
    // keep-alive connections it reuses for POSTs too: a connection the
    // master closes as idle (2 s by default) while a POST goes out is a
    // transport error to it, not a retry. Long idle and no request budget.
    let stack = Stack::start(StackOptions {
        master_config: "api:\n  idle_timeout_secs: 60\n  client_rate_limit_per_minute: 1000000\n\
                        access:\n  rate_limit_per_minute: 1000000\n"
            .to_owned(),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let report = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    assert_bodies_described(&http, stack.master.url()).await;

    let anonymous = run(stack.master.url(), &[], &report).await;
    assert_clean("the master (anonymous)", &anonymous);
    let bearer = viewer_seal_token(&stack).await;
    let viewer = run(
        stack.master.url(),
        &[format!("Authorization: Bearer {bearer}")],
        &report,
    )
    .await;
    assert_clean("the master (a viewer's seal token)", &viewer);

    let host = AgentHost::new(&stack).await.unwrap();
    let port = k3s::free_port().unwrap();
    let config = host.config_text("schema-worker-1", host.pcrs()).replace(
        "api_listen: \"127.0.0.1:0\"",
        &format!("api_listen: \"127.0.0.1:{port}\""),
    );
    host.write_config(&config).unwrap();
    let mut agent = host.spawn("run", None).unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let mut serving = false;
    for _ in 0..240 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            serving = true;
            break;
        }
        assert!(
            agent.try_wait().unwrap().is_none(),
            "the agent exited; its log:\n{}",
            host.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        serving,
        "the agent's API never answered; its log:\n{}",
        host.log_tail(40)
    );
    assert_bodies_described(&http, &base).await;
    let output = run(&base, &[], &report).await;
    // SIGTERM, as systemd stops it: the agent stops its node runtime
    // (kill_on_drop's SIGKILL would leave the kubelet node running).
    let pid = agent.id().expect("the agent is running").to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(stopped.success(), "kill -TERM {pid} failed");
    tokio::time::timeout(Duration::from_secs(60), agent.wait())
        .await
        .expect("the agent stopped within a minute of SIGTERM")
        .unwrap();
    assert_clean("the agent", &output);
}
