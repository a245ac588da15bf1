//! `daas-local`, the README's first command, run as a user runs it: the
//! real binary with a temporary `--state-dir` and free ports.
//!
//! One walk through the life of a stack: `up` brings up the devnet, the
//! control plane, the master, a real kubelet node and a simulated agent; the
//! console (with only the profile the launcher wrote) shows the real and
//! the simulated node Ready and verifies the master's dev attestation;
//! `down` leaves no recorded process alive; `up` again resumes the same
//! chain (the worker's stake and the EnclaveConfig kept) and the same
//! nodes: the real worker and the simulated agent keep their wallets, seal
//! tokens and node names, and nothing is staked twice;
//! `deploy/4-system-integration-test.sh` passes against it; `up` while up is refused
//! safely; a launcher killed with SIGKILL, or stopped with Ctrl-C, leaves
//! no process of any recorded group behind and the next `up` works; `up`
//! with a rebuilt master replaces the PCRs of the same EnclaveConfig, to
//! which the worker's configuration is pinned, and the worker joins it;
//! `reset` of a running stack stops it and deletes the state. And the bad cases: a missing
//! prerequisite names the setup script, a busy port is named.
//!
//! And the README's first command, `deploy/dev/up.sh`, run in a terminal
//! (tmux): it opens the console, which shows the real node Ready and the
//! master's dev attestation verified, and stakes with the operator's wallet
//! unlocked by the profile alone; quitting the console keeps the stack
//! running, and `down` then leaves no process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use daas_core::chain::{ChainClient, ChainConfig};
use daas_core::package::MoveStruct as _;
use daas_core::package::staking::SealToken;
use daas_core::wallet::Keypair;
use daas_e2e::{binaries, k3s};
use daas_local::launcher::{Layout, lock};
use sui_sdk_types::Address;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The simulated agent's node (`--agents 1`).
const SIMULATED: &str = "local-sim-0";

/// Cold starts build nothing here (the binaries are built first) but the
/// node's images and the chain's genesis take a while on 2 busy cores.
const UP_TIMEOUT: Duration = Duration::from_secs(480);
/// How long one console screen may take to show what it loads.
const SHOW_TIMEOUT: Duration = Duration::from_secs(90);

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
        self.up_with(None).await
    }

    /// [`Self::up`], with `master` as the master's binary if given (a
    /// rebuilt master: other dev PCRs).
    async fn up_with(&self, master: Option<&Path>) -> Child {
        let mut command = self.command(&["up", "--no-console", "--agents", "1"]);
        if let Some(master) = master {
            command.env("DAAS_MASTER_BIN", master);
        }
        let mut child = command
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

    /// `daas-console ARGS` as the launcher's next steps say to run it:
    /// with its profile only (which names the operator's wallet).
    async fn console(&self, args: &[&str]) -> Output {
        let console = binaries::workspace_binary(binaries::CONSOLE).unwrap();
        binaries::console_command(&console)
            .args(args)
            .env("DAAS_CONSOLE_CONFIG", self.root().join("console.toml"))
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap()
    }

    /// The rows of `nodes` in `daas-console nodes list --json`, once the
    /// master and the API server both show each Ready.
    async fn ready_nodes(&self, nodes: &[&str]) -> Vec<serde_json::Value> {
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
                let rows = list["nodes"].as_array().unwrap();
                let ready: Vec<serde_json::Value> = nodes
                    .iter()
                    .filter_map(|name| rows.iter().find(|row| row["name"] == *name))
                    .filter(|row| {
                        row["state"] == "ready"
                            && row["in_master"] == true
                            && row["in_cluster"] == true
                    })
                    .cloned()
                    .collect();
                if ready.len() == nodes.len() {
                    return ready;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("the console never showed {nodes:?} Ready; last output:\n{last}");
    }

    /// The real node's row, once Ready.
    async fn ready_worker(&self) -> serde_json::Value {
        self.ready_nodes(&["local-worker"]).await.remove(0)
    }

    /// Once the simulated agent's node is Ready: its kept wallet's address
    /// and the seal tokens that wallet owns on chain.
    async fn ready_simulated(&self) -> (String, Vec<String>) {
        self.ready_nodes(&[SIMULATED]).await;
        let file = self.root().join(format!("simulated/{SIMULATED}.key"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} is not owner-only", file.display());
        let key = Keypair::from_suiprivkey(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let chain = self.chain();
        let tokens = chain
            .owned_objects_of_type(key.address(), &SealToken::struct_tag(chain.package_id()))
            .await
            .unwrap();
        (
            key.address().to_string(),
            tokens.iter().map(ToString::to_string).collect(),
        )
    }

    fn chain(&self) -> ChainClient {
        let port = self.port("--devnet-port");
        ChainClient::new(ChainConfig::devnet(format!("http://127.0.0.1:{port}"))).unwrap()
    }

    /// The master's audit log on chain and its anchored tree size, once a
    /// checkpoint the master recorded as anchored names it.
    async fn anchored_audit_log(&self) -> (Address, u64) {
        let checkpoints = self.root().join("master/state/audit-checkpoints.jsonl");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&checkpoints).unwrap_or_default();
            let anchored = text
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|checkpoint| !checkpoint["anchor"].is_null());
            if let Some(checkpoint) = anchored {
                let note = checkpoint["note"].as_str().unwrap();
                let origin = note.lines().next().unwrap();
                let log: Address = origin
                    .strip_prefix("k3s-daas.audit/")
                    .unwrap()
                    .parse()
                    .unwrap();
                let on_chain = self.chain().audit_log(log).await.unwrap().value;
                return (log, on_chain.tree_size);
            }
            assert!(
                Instant::now() < deadline,
                "no anchored audit checkpoint in {}:\n{text}",
                checkpoints.display()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The status the master recorded on chain for a gateway request the
    /// operator submits as a new viewer: the master's enclave key pays for
    /// the result, which the launcher funds.
    async fn gateway_status(&self) -> u64 {
        let json = |output: Output| -> serde_json::Value {
            assert!(
                output.status.success(),
                "{}{}",
                stdout(&output),
                stderr(&output)
            );
            serde_json::from_slice(&output.stdout).unwrap()
        };
        // Signed for the operator's one active user seal token (super).
        let path = "/api/v1/namespaces/default/configmaps";
        let submitted = json(
            self.console(&["gateway", "submit", "GET", path, "--yes", "--json"])
                .await,
        );
        let request = submitted["request"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let shown = json(self.console(&["gateway", "show", &request, "--json"]).await);
            if let Some(status) = shown["result"]["status_code"].as_u64() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no result for gateway request {request}: {shown}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The operator's seal tokens with their tiers (`stake status`).
    async fn operator_tokens(&self) -> Vec<(String, String)> {
        let output = self.console(&["stake", "status", "--json"]).await;
        assert!(output.status.success(), "{}", stderr(&output));
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        status["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["seal_token"].to_string(), t["tier"].to_string()))
            .collect()
    }

    /// The real worker's seal token (from its agent's state) and whether
    /// the chain still holds its stake.
    async fn worker_stake(&self) -> (String, bool) {
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(self.root().join("worker/state/state.json")).unwrap(),
        )
        .unwrap();
        let seal = state["seal_token"].as_str().unwrap().to_owned();
        let on_chain = self
            .chain()
            .seal_token_state(seal.parse().unwrap())
            .await
            .unwrap();
        (seal, on_chain.record.is_some())
    }

    /// `deploy/4-system-integration-test.sh` against this stack, with a
    /// viewer funded by the devnet's faucet, on the system's `PATH` plus
    /// `kubectl`.
    async fn integration_check(&self) -> Output {
        let kubectl = k3s::Binaries::locate().unwrap().kubectl;
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            kubectl.parent().unwrap().display()
        );
        let console = binaries::workspace_binary(binaries::CONSOLE).unwrap();
        let script = binaries::workspace_dir()
            .unwrap()
            .join("deploy/4-system-integration-test.sh");
        let mut command = Command::new(script);
        binaries::without_console_env(command.as_std_mut());
        command
            .args([
                "--master",
                &format!("https://127.0.0.1:{}", self.port("--master-port")),
                "--chain",
                &format!("http://127.0.0.1:{}", self.port("--devnet-port")),
                "--dev-root",
                &self.layout().dev_root().display().to_string(),
                "--console",
                &console.display().to_string(),
                "--faucet",
            ])
            .env("PATH", path)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap()
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
    // Ready and staked, so is the simulated one (one stake, its wallet
    // kept in the state directory), and the master's dev attestation
    // verifies.
    local.ready_worker().await;
    let (simulated_owner, simulated_tokens) = local.ready_simulated().await;
    assert_eq!(simulated_tokens.len(), 1, "{simulated_tokens:?}");
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
    // The operator holds one super-tier user seal token, staked by `up`
    // (its TUI lists every node in full: the test below).
    let operator_tokens = local.operator_tokens().await;
    assert_eq!(operator_tokens.len(), 1, "{operator_tokens:?}");
    assert_eq!(operator_tokens[0].1, "\"super\"", "{operator_tokens:?}");
    // The master's audit log is on the devnet, checkpoints anchored (the
    // launcher gave the master a funded gas key).
    let (log, tree_size) = local.anchored_audit_log().await;
    assert!(tree_size > 0, "audit log {log} anchored nothing");
    // The on-chain gateway answers (the launcher funded the enclave key).
    assert_eq!(local.gateway_status().await, 200);

    // The deployment guide's step 4 passes against this stack.
    let integration = local.integration_check().await;
    assert!(
        integration.status.success(),
        "4-system-integration-test.sh: {}",
        stderr(&integration)
    );
    for step in [
        "ok   attestation verifies",
        "ok   kubectl get pods as the viewer",
        "ok   kubectl refused after unstake",
    ] {
        assert!(
            stderr(&integration).contains(step),
            "{step}: {}",
            stderr(&integration)
        );
    }

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
        stdout(&status).starts_with("running") && stdout(&status).contains("DAAS_CONSOLE_CONFIG="),
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
    // The processes' logs are files, without a terminal's colour codes.
    let logs = local.root().join("run/logs");
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.is_empty(), "{} is empty", path.display());
        assert!(
            !text.contains('\x1b'),
            "{} holds colour codes",
            path.display()
        );
    }

    // `up` again: same chain (the worker's seal token still staked, the
    // same EnclaveConfig), same nodes: the simulated agent has the same
    // name, wallet and seal token, and staked nothing more.
    let mut launcher = local.up().await;
    local.ready_worker().await;
    assert_eq!(local.worker_stake().await, (seal, true));
    assert_eq!(local.facts()["enclave_config"], facts["enclave_config"]);
    assert_eq!(
        local.operator_tokens().await,
        operator_tokens,
        "staked again"
    );
    assert_eq!(
        local.ready_simulated().await,
        (simulated_owner, simulated_tokens),
        "a new wallet, or a second stake"
    );

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

    // A rebuilt master (one more byte: other dev PCRs): the same
    // EnclaveConfig, its PCRs replaced, so the worker's configuration,
    // pinned to it, is still good; the worker joins the new master.
    let images = tempfile::tempdir().unwrap();
    let image = daas_e2e::enclave::new_master_image(images.path()).unwrap();
    let mut launcher = local.up_with(Some(&image)).await;
    local.ready_worker().await;
    let rebuilt = local.facts()["enclave_config"].clone();
    assert_eq!(
        rebuilt[0], facts["enclave_config"][0],
        "a new EnclaveConfig"
    );
    assert_ne!(rebuilt[1], facts["enclave_config"][1], "the same PCRs");
    let config: Address = rebuilt[0].as_str().unwrap().parse().unwrap();
    assert_eq!(
        local
            .chain()
            .enclave_config(config)
            .await
            .unwrap()
            .value
            .version,
        1
    );
    let worker_config =
        std::fs::read_to_string(layout.worker_dir().join("worker-config.yaml")).unwrap();
    assert!(
        worker_config.contains(&format!("enclave_config: \"{config}\"")),
        "{worker_config}"
    );
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

/// A terminal: a tmux server of its own (its own socket), killed on drop.
struct Terminal {
    socket: String,
}

impl Terminal {
    /// Runs `command` (a shell command line) in a 200x50 terminal, with
    /// this test's environment minus Cargo's per-crate variables (so the
    /// command's own `cargo build` is the no-op a user's would be); the
    /// pane stays after it exits and shows `EXITED <status>`.
    fn run(command: &str) -> Self {
        use rand::Rng as _;
        let socket = format!(
            "daas-local-{}-{}",
            std::process::id(),
            rand::thread_rng().r#gen::<u64>()
        );
        let terminal = Self { socket };
        let mut tmux = terminal.tmux();
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(binaries::is_per_crate_variable) {
                tmux.env_remove(name);
            }
        }
        let status = tmux
            .env("TERM", "xterm-256color")
            .args(["new-session", "-d", "-x", "200", "-y", "50"])
            .arg(format!("{command}; echo EXITED $?; sleep 600"))
            .status()
            .expect("tmux is missing: run deploy/dev/setup.sh");
        assert!(status.success(), "tmux new-session failed");
        terminal
    }

    fn tmux(&self) -> std::process::Command {
        let mut command = std::process::Command::new("/usr/bin/tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn screen(&self) -> String {
        let output = self.tmux().args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen shows every one of `texts` at once.
    async fn wait_for(&self, texts: &[&str], limit: Duration) -> String {
        self.wait_until(
            |screen| texts.iter().all(|text| screen.contains(text)),
            &format!("{texts:?}"),
            limit,
        )
        .await
    }

    /// Waits until the screen is one that `shows` accepts.
    async fn wait_until(
        &self,
        shows: impl Fn(&str) -> bool,
        what: &str,
        limit: Duration,
    ) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let screen = self.screen();
            if shows(&screen) {
                return screen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the terminal never showed {what}; it shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Types `text` literally.
    async fn type_text(&self, text: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// Presses a named key (`Enter`).
    async fn press(&self, key: &str) {
        let status = self.tmux().args(["send-keys", key]).status().unwrap();
        assert!(status.success());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_command_in_a_terminal_opens_the_console_on_the_stack() {
    let local = Local::new();
    let workspace = binaries::workspace_dir().unwrap();
    let command = format!(
        "cd {} && deploy/dev/up.sh --state-dir {} --agents 0 {}",
        workspace.display(),
        local.root().display(),
        local.ports.join(" ")
    );
    let terminal = Terminal::run(&command);

    // The console opens on the stack: the master's dev attestation
    // verified, the real kubelet node Ready.
    terminal
        .wait_for(&["1 overview", "INSECURE dev"], UP_TIMEOUT)
        .await;
    terminal.type_text("5").await;
    terminal
        .wait_for(
            &["ATTESTED with INSECURE development attestation"],
            SHOW_TIMEOUT,
        )
        .await;
    terminal.type_text("4").await;
    let worker_ready = |screen: &str| {
        screen.lines().any(|line| {
            line.contains("local-worker") && line.split_whitespace().any(|word| word == "Ready")
        })
    };
    // Listed as the operator's super-tier seal token sees it, not publicly.
    let in_full = |screen: &str| worker_ready(screen) && !screen.contains("listed publicly");
    terminal
        .wait_until(in_full, "local-worker Ready, listed in full", UP_TIMEOUT)
        .await;
    local.ready_worker().await;

    // A stake signed by the operator's wallet, unlocked by the profile's
    // passphrase file: no passphrase is asked for.
    terminal.type_text("3").await;
    terminal.type_text("n").await;
    terminal
        .wait_for(&["a user stakes for a tier"], SHOW_TIMEOUT)
        .await;
    terminal.press("Enter").await;
    terminal.wait_for(&["stake? y: yes"], SHOW_TIMEOUT).await;
    terminal.type_text("y").await;
    let staked = terminal.wait_for(&["staked 0.5 SUI"], SHOW_TIMEOUT).await;
    assert!(!staked.contains("Wallet passphrase"), "{staked}");

    // Quitting the console keeps the stack; `down` stops it all.
    terminal.type_text("q").await;
    terminal
        .wait_for(&["console closed; the stack keeps running"], SHOW_TIMEOUT)
        .await;
    let layout = local.layout();
    let mut recorded = lock::live_groups(&layout);
    assert!(recorded.len() >= 3, "recorded groups: {recorded:?}");
    let launcher = lock::launcher_pid(&layout).expect("no launcher pid");
    recorded.push(("launcher".to_owned(), launcher));
    let down = local.run(&["down"]).await;
    assert!(down.status.success(), "{}", stderr(&down));
    terminal.wait_for(&["EXITED 0"], SHOW_TIMEOUT).await;
    wait_gone(&recorded).await;
}

/// Also: the control characters of the directory it quotes are written
/// out, not sent to the terminal.
#[tokio::test]
async fn a_missing_prerequisite_names_the_setup_script() {
    let local = Local::new();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("bin\u{1b}]0;owned\u{7}");
    std::fs::create_dir(&empty).unwrap();
    let output = local
        .command(&["up", "--no-console"])
        .args(&local.ports)
        .env("DAAS_K8S_BIN_DIR", &empty)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("deploy/dev/setup.sh"), "{err}");
    assert!(err.contains("control-plane binaries"), "{err}");
    assert!(err.contains(r"bin\u001b]0;owned\u0007"), "{err:?}");
    assert!(!err.contains(['\u{1b}', '\u{7}']), "{err:?}");
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

/// The master's audit gas spends as long as a stack runs; the launcher
/// asks the faucet only when it is below the floor, on the real devnet.
#[tokio::test]
async fn the_audit_gas_is_topped_up_only_below_its_floor() {
    const SUI: u64 = 1_000_000_000;
    let devnet = daas_e2e::devnet::Devnet::start().await.unwrap();
    let chain = devnet.client().unwrap();
    let address = Keypair::generate(daas_core::wallet::Scheme::Ed25519).address();
    let top_up = |floor| daas_e2e::devnet::top_up(&chain, devnet.url(), address, floor);

    assert!(
        top_up(20 * SUI).await.unwrap(),
        "an empty account is funded"
    );
    let funded = chain.sui_balance(address).await.unwrap();
    assert!(funded >= 20 * SUI, "{funded}");
    assert!(
        !top_up(20 * SUI).await.unwrap(),
        "above the floor: no faucet"
    );
    assert_eq!(chain.sui_balance(address).await.unwrap(), funded);
    assert!(top_up(funded + 1).await.unwrap(), "below a higher floor");
    assert!(chain.sui_balance(address).await.unwrap() > funded);

    let unreachable = daas_e2e::devnet::top_up(&chain, "http://127.0.0.1:1", address, u64::MAX)
        .await
        .unwrap_err();
    assert!(
        format!("{unreachable:#}").contains(&format!("topping up {address}")),
        "{unreachable:#}"
    );
}
