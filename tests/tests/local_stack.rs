//! `daas-local`, the README's first command, run as a user runs it: the
//! real binary with a temporary `--state-dir` and free ports.
//!
//! One walk through the life of a stack: `up` brings up the devnet, the
//! control plane, the master, a real kubelet node and a simulated agent; the
//! console (with the profile the launcher wrote) shows the real node Ready
//! and verifies the master's dev attestation; `down` leaves no recorded
//! process alive; `up` again resumes the same chain (the worker's stake and
//! the EnclaveConfig kept) and the same node; `up` while up is refused
//! safely; a launcher killed with SIGKILL, or stopped with Ctrl-C, leaves
//! no process of any recorded group behind and the next `up` works;
//! `reset` of a running stack stops it and deletes the state. And the bad cases: a missing
//! prerequisite names the setup script, a busy port is named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use daas_core::chain::{ChainClient, ChainConfig};
use daas_e2e::binaries;
use daas_local::launcher::{Layout, lock};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Cold starts build nothing here (the binaries are built first) but the
/// node's images and the chain's genesis take a while on 2 busy cores.
const UP_TIMEOUT: Duration = Duration::from_secs(480);

fn launcher_binary() -> PathBuf {
    binaries::workspace_binary("daas-local").unwrap()
}

/// A free port below Linux's ephemeral range (32768 and up), as the
/// stack's documented defaults are: a port from that range (what binding
/// port 0 gives) can be taken between `down` and `up` by any outgoing
/// connection's local end.
fn stable_port() -> u16 {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(20_000..32_000);
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}

/// One stack's state directory and ports.
struct Local {
    state: tempfile::TempDir,
    ports: Vec<String>,
}

impl Local {
    fn new() -> Self {
        let mut ports = Vec::new();
        for flag in [
            "--devnet-port",
            "--master-port",
            "--webhook-port",
            "--apiserver-port",
            "--agent-api-port",
        ] {
            ports.push(flag.to_owned());
            ports.push(stable_port().to_string());
        }
        Self {
            state: tempfile::tempdir().unwrap(),
            ports,
        }
    }

    fn root(&self) -> PathBuf {
        self.state.path().join("state")
    }

    fn layout(&self) -> Layout {
        Layout::new(self.root())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(launcher_binary());
        command
            .arg("--state-dir")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// `daas-local up`, returned once it printed that the stack is ready.
    async fn up(&self) -> Child {
        let mut child = self
            .command(&["up", "--no-console", "--agents", "1"])
            .args(&self.ports)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let ready = tokio::time::timeout(UP_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("ready in ") {
                    return true;
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            use tokio::io::AsyncReadExt as _;
            let _ = child.start_kill();
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err).await;
            panic!("daas-local up did not become ready ({ready:?}); its stderr:\n{err}");
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut stderr, &mut sink).await;
        });
        child
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    /// `daas-console ARGS` as the launcher's next steps say to run it.
    async fn console(&self, args: &[&str]) -> Output {
        let root = self.root();
        let console = binaries::workspace_binary(binaries::CONSOLE).unwrap();
        Command::new(console)
            .args(args)
            .env("DAAS_CONSOLE_CONFIG", root.join("console.toml"))
            .env("DAAS_WALLET_DIR", root.join("operator/wallet"))
            .env(
                "DAAS_WALLET_PASSPHRASE_FILE",
                root.join("operator/passphrase"),
            )
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap()
    }

    /// The real node's row of `daas-console nodes list --json`, once the
    /// master and the API server both show it Ready.
    async fn ready_worker(&self) -> serde_json::Value {
        let mut last = String::new();
        for _ in 0..120 {
            let output = self.console(&["nodes", "list", "--json"]).await;
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if output.status.success() {
                let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
                let worker = list["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|node| node["name"] == "local-worker")
                    .cloned();
                if let Some(worker) = worker
                    && worker["state"] == "ready"
                    && worker["in_master"] == true
                    && worker["in_cluster"] == true
                {
                    return worker;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("the console never showed local-worker Ready; last output:\n{last}");
    }

    /// The real worker's seal token (from its agent's state) and whether
    /// the chain still holds its stake.
    async fn worker_stake(&self) -> (String, bool) {
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(self.root().join("worker/state/state.json")).unwrap(),
        )
        .unwrap();
        let seal = state["seal_token"].as_str().unwrap().to_owned();
        let port = self.port("--devnet-port");
        let chain =
            ChainClient::new(ChainConfig::devnet(format!("http://127.0.0.1:{port}"))).unwrap();
        let on_chain = chain.seal_token_state(seal.parse().unwrap()).await.unwrap();
        (seal, on_chain.record.is_some())
    }

    fn port(&self, flag: &str) -> &str {
        let i = self.ports.iter().position(|a| a == flag).unwrap();
        &self.ports[i + 1]
    }

    fn facts(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.root().join("stack.json")).unwrap()).unwrap()
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
        })
        .is_some_and(|state| state != "Z")
}

/// The live processes of process group `pgid` (the real node's containerd
/// and kubelet are in the agent's group).
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let fields: Vec<String> = stat
                        .rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect();
                    Some(fields.first()? != "Z" && fields.get(2)? == &pgid.to_string())
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Waits until neither the recorded processes nor anything in their
/// process groups is alive.
async fn wait_gone(pids: &[(String, u32)]) {
    let left = || -> Vec<(String, u32, Vec<u32>)> {
        pids.iter()
            .map(|(name, pid)| (name.clone(), *pid, group_members(*pid)))
            .filter(|(_, pid, members)| alive(*pid) || !members.is_empty())
            .collect()
    };
    for _ in 0..150 {
        if left().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "processes left behind (name, pid, group members): {:?}",
        left()
    );
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_down_up_resumes_the_same_chain_and_node_and_leaves_nothing_behind() {
    let local = Local::new();
    let mut launcher = local.up().await;

    // The console, with the profile the launcher wrote: the real node is
    // Ready and staked, and the master's dev attestation verifies.
    local.ready_worker().await;
    let (seal, staked) = local.worker_stake().await;
    assert!(
        staked,
        "the worker's seal token {seal} has no stake on chain"
    );
    let attest = local.console(&["attest"]).await;
    assert!(
        attest.status.success(),
        "daas-console attest: {}{}",
        stdout(&attest),
        stderr(&attest)
    );
    let facts = local.facts();
    assert!(facts["enclave_config"].is_array(), "{facts}");

    // `up` while up: refused safely, the running stack untouched.
    let twice = local.run(&["up", "--no-console"]).await;
    assert!(twice.status.success(), "{}", stderr(&twice));
    assert!(
        stdout(&twice).contains("already running"),
        "{}",
        stdout(&twice)
    );
    let status = local.run(&["status"]).await;
    assert!(
        stdout(&status).starts_with("running"),
        "{}",
        stdout(&status)
    );

    // `down`: the launcher exits and no recorded process is left.
    let layout = local.layout();
    let mut recorded = lock::live_groups(&layout);
    assert!(recorded.len() >= 5, "recorded groups: {recorded:?}");
    recorded.push(("launcher".to_owned(), launcher.id().unwrap()));
    let down = local.run(&["down"]).await;
    assert!(down.status.success(), "{}", stderr(&down));
    let exit = tokio::time::timeout(Duration::from_secs(60), launcher.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "the launcher exited with {exit}");
    wait_gone(&recorded).await;
    let status = local.run(&["status"]).await;
    assert!(
        stdout(&status).starts_with("not running"),
        "{}",
        stdout(&status)
    );

    // `up` again: same chain (the worker's seal token still staked, the
    // same EnclaveConfig), same node.
    let mut launcher = local.up().await;
    local.ready_worker().await;
    assert_eq!(local.worker_stake().await, (seal, true));
    assert_eq!(local.facts()["enclave_config"], facts["enclave_config"]);

    // SIGKILL the launcher: its janitors stop everything; the next `up`
    // finds the stale pid files, and comes up.
    let recorded = lock::live_groups(&layout);
    let pid = launcher.id().unwrap();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .await
            .unwrap()
            .success()
    );
    launcher.wait().await.unwrap();
    wait_gone(&recorded).await;
    let mut launcher = local.up().await;
    local.ready_worker().await;

    // Ctrl-C (SIGINT) stops it as `down` does.
    let mut recorded = lock::live_groups(&layout);
    recorded.push(("launcher".to_owned(), launcher.id().unwrap()));
    assert!(
        Command::new("kill")
            .args(["-INT", &launcher.id().unwrap().to_string()])
            .status()
            .await
            .unwrap()
            .success()
    );
    let exit = tokio::time::timeout(Duration::from_secs(60), launcher.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "the launcher exited with {exit} on SIGINT");
    wait_gone(&recorded).await;

    let mut launcher = local.up().await;
    local.ready_worker().await;
    let mut recorded = lock::live_groups(&layout);
    recorded.push(("launcher".to_owned(), launcher.id().unwrap()));

    // `reset` while up: stops the stack, then deletes its state.
    let reset = local.run(&["reset"]).await;
    assert!(reset.status.success(), "{}", stderr(&reset));
    let exit = tokio::time::timeout(Duration::from_secs(60), launcher.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "the launcher exited with {exit}");
    wait_gone(&recorded).await;
    assert!(!local.root().exists());
}

#[tokio::test]
async fn a_missing_prerequisite_names_the_setup_script() {
    let local = Local::new();
    let empty = tempfile::tempdir().unwrap();
    let output = local
        .command(&["up", "--no-console"])
        .args(&local.ports)
        .env("DAAS_K8S_BIN_DIR", empty.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("deploy/dev/setup.sh"), "{err}");
    assert!(err.contains("control-plane binaries"), "{err}");
    assert!(!local.layout().pid_file().exists());
}

#[tokio::test]
async fn a_busy_port_is_named() {
    let local = Local::new();
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let mut args = local.ports.clone();
    let master = args.iter().position(|a| a == "--master-port").unwrap();
    args[master + 1] = port.clone();
    let output = local
        .command(&["up", "--no-console"])
        .args(&args)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains(&format!("port {port}")), "{err}");
    assert!(err.contains("--master-port"), "{err}");
    assert!(empty_or_missing(&local.layout().pid_file()));
}

fn empty_or_missing(path: &Path) -> bool {
    !path.exists()
}
