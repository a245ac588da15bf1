//! The console's terminal UI driven through tmux as an operator drives it,
//! against the real stack (devnet, control plane, master with dev
//! attestation, kwok): import a wallet key (masked input, passphrase twice),
//! stake for a tier, see a worker node registered through the master,
//! drain it with the force option and watch its pods leave, approve a slash
//! proposal with the SlasherCap; and a read-only session refuses a drain.
//! The Nodes screen lists as the holder of the operator's seal token once
//! the wallet can sign for it, and says why it lists publicly before.
//! And with nothing reachable, the TUI still draws, says so, and quits on q.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::api::MasterClient;
use daas_core::api::nodes::{Capacity, RegisterWorkerRequest};
use daas_core::package::{Mist, Role};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::binaries::{self, CONSOLE};
use daas_e2e::devnet::DevnetOptions;
use daas_e2e::kwok;
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::Account;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, PostParams};

const NODE: &str = "worker-tui-1";
const PASSPHRASE: &str = "operator passphrase";
/// A slash reason as a hostile reporter would write it: an OSC 52
/// clipboard write and a newline that would forge a line of output.
const HOSTILE_REASON: &str = "double-signed heartbeats\x1b]52;c;cHduZWQ=\x07\nforged line";
const SUI: u64 = 1_000_000_000;
/// How long one screen change may take to show.
const SHOW_TIMEOUT: Duration = Duration::from_secs(90);

/// The console running in a tmux server of its own (its own socket, so
/// no other tmux user or test shares it), killed on drop.
struct Tui {
    socket: String,
}

impl Tui {
    fn start(home: &Path, args: &[&str]) -> Self {
        Self::start_with(home, "", args)
    }

    /// As [`Tui::start`], with `env` (`NAME=value …`) added to its
    /// environment.
    fn start_with(home: &Path, env: &str, args: &[&str]) -> Self {
        let socket = format!("daas-tui-{}-{}", std::process::id(), rand_suffix());
        let console = binaries::workspace_binary(CONSOLE).unwrap();
        let mut command = format!(
            "env -i PATH=/usr/bin:/bin TERM=xterm-256color HOME={home} XDG_CONFIG_HOME={home}/config \
             XDG_DATA_HOME={home}/data XDG_CACHE_HOME={home}/cache {env} {}",
            console.display(),
            home = home.display()
        );
        for arg in args {
            command.push(' ');
            command.push_str(arg);
        }
        // Keep the pane after the console exits, to read how it ended.
        let tui = Self { socket };
        let status = tui
            .tmux()
            .args(["new-session", "-d", "-x", "160", "-y", "45"])
            .arg(format!("{command}; echo CONSOLE-EXITED $?; sleep 600"))
            .status()
            .expect("tmux is missing: run deploy/dev/setup.sh");
        assert!(status.success(), "tmux new-session failed");
        tui
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn screen(&self) -> String {
        let output = self.tmux().args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + SHOW_TIMEOUT;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the console never showed {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Presses named keys (`Enter`, `Tab`, `Escape`, `Space`).
    fn press(&self, keys: &[&str]) {
        for key in keys {
            let status = self.tmux().args(["send-keys", key]).status().unwrap();
            assert!(status.success());
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn rand_suffix() -> u64 {
    use rand::Rng as _;
    rand::thread_rng().r#gen()
}

/// The operator's console configuration.
fn write_config(home: &Path, stack: &Stack) -> PathBuf {
    let dir = home.join("config/k3s-daas");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("console.toml");
    std::fs::write(
        &path,
        format!(
            "default_profile = \"local\"\n[ui]\nrefresh_secs = 1\n\
             [profiles.local]\nmaster = \"{}\"\ndev_root = \"{}\"\nkubeconfig = \"{}\"\n\
             [profiles.local.chain]\nprofile = \"devnet\"\nendpoint = \"{}\"\n",
            stack.master.url(),
            stack.master.state_dir().join("dev-root.pem").display(),
            stack.cluster.kubeconfig_path().display(),
            stack.devnet.url()
        ),
    )
    .unwrap();
    path
}

/// A worker staked on chain and registered through the master, with a kwok
/// node and two pods on it.
async fn worker_with_pods(stack: &Stack) -> kube::Client {
    let chain = stack.devnet.client().unwrap();
    let worker = Account::funded(&stack.devnet, 0x71).await.unwrap();
    let seal = chain
        .stake_and_mint(&worker.chain, Mist::new(5 * SUI), Role::Worker, NODE)
        .await
        .unwrap()
        .token;
    let claims = WorkerClaims::new(
        Purpose::Register,
        seal,
        worker.address(),
        NODE.parse().unwrap(),
        stack.cluster.server(),
        unix_now_secs(),
    )
    .unwrap();
    let master = MasterClient::new(stack.master.client().unwrap());
    master
        .register_worker(&RegisterWorkerRequest {
            node_id: NODE.to_owned(),
            seal_token: seal.to_string(),
            ip_address: "10.0.1.7".to_owned(),
            capacity: Capacity {
                cpu: "4".to_owned(),
                memory: "16Gi".to_owned(),
                storage: "100Gi".to_owned(),
            },
            proof: WorkerProof::sign(&worker.wallet, &claims)
                .unwrap()
                .into_string(),
            agent_api: None,
        })
        .await
        .unwrap();
    let kube = stack.cluster.client().await.unwrap();
    kwok::ensure_running(&stack.cluster).await.unwrap();
    kwok::create_node(&stack.cluster, &kube, NODE)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "default");
    for name in ["web-1", "web-2"] {
        pods.create(&PostParams::default(), &kwok::simple_pod(name, Some(NODE)))
            .await
            .unwrap();
        kwok::wait_pod_running(&stack.cluster, &kube, "default", name)
            .await
            .unwrap();
    }
    // A proposal to slash the worker, for the operator to review.
    chain
        .propose_slash(&worker.chain, seal, &[0xe1; 32], HOSTILE_REASON)
        .await
        .unwrap();
    kube
}

async fn pods_on_node(kube: &kube::Client) -> usize {
    let pods: Api<Pod> = Api::all(kube.clone());
    pods.list(&ListParams::default().fields(&format!("spec.nodeName={NODE}")))
        .await
        .unwrap()
        .items
        .len()
}

// The console and tmux run as blocking child processes while the stack
// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_stakes_drains_and_approves_a_slash_in_the_tui() {
    let operator = Keypair::from_bytes(Scheme::Ed25519, &[0x5a; 32]).unwrap();
    let stack = Stack::start(StackOptions {
        devnet: DevnetOptions {
            slasher: Some(operator.address()),
            ..DevnetOptions::default()
        },
        ..StackOptions::default()
    })
    .await
    .unwrap();
    stack.devnet.fund(operator.address()).await.unwrap();
    let kube = worker_with_pods(&stack).await;
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), &stack);

    // A read-only session shows the node but refuses to drain it.
    let readonly = Tui::start(home.path(), &["--readonly"]);
    readonly.wait_for("READ-ONLY");
    readonly.type_text("4");
    readonly.wait_for(NODE);
    // With no wallet to sign with, the nodes are listed publicly, and the
    // screen says why.
    readonly.wait_for("listed publicly: ");
    readonly.type_text("d");
    readonly.wait_for("refused: `drain` changes state and this session is read-only");
    assert!(!readonly.screen().contains("Drain worker"));
    assert_eq!(pods_on_node(&kube).await, 2, "a read-only session drained");
    readonly.type_text("q");
    readonly.wait_for("CONSOLE-EXITED 0");
    drop(readonly);

    let tui = Tui::start(home.path(), &[]);
    tui.wait_for("1 overview");
    tui.wait_for("INSECURE DEVELOPMENT ATTESTATION");

    // Import the operator's key: masked input, then the new wallet's
    // passphrase twice (no OS keyring in this environment).
    tui.type_text("2");
    tui.wait_for("no wallet yet");
    tui.type_text("i");
    tui.wait_for("Import a key");
    tui.type_text("ops");
    tui.press(&["Tab"]);
    let secret = operator.to_suiprivkey();
    tui.type_text(secret.as_str());
    let masked = tui.wait_for(&"•".repeat(40));
    assert!(
        !masked.contains(&secret.as_str()[10..40]),
        "the secret is shown:\n{masked}"
    );
    tui.press(&["Enter"]);
    tui.wait_for("import a key? y: yes");
    tui.type_text("y");
    tui.wait_for("Wallet passphrase");
    tui.type_text(PASSPHRASE);
    tui.press(&["Tab"]);
    tui.type_text(PASSPHRASE);
    tui.press(&["Enter"]);
    tui.wait_for("imported ops");
    tui.wait_for(&operator.address().to_string());

    // Stake for the viewer tier: the confirmation shows what is signed.
    tui.type_text("3");
    tui.type_text("n");
    tui.wait_for("a user stakes for a tier");
    tui.press(&["Enter"]);
    let confirm = tui.wait_for("stake? y: yes");
    assert!(confirm.contains("::staking::stake_and"), "{confirm}");
    tui.type_text("y");
    tui.wait_for("staked 0.5 SUI");
    tui.wait_for("active, expires in");

    // The worker's node, as the master and the API server see it: listed
    // as the holder of the viewer token just staked (signed with the
    // passphrase typed at the import), whose owner view leaves another
    // owner's node blank.
    tui.type_text("4");
    let nodes = tui.wait_for("blank for nodes not yours");
    assert!(nodes.contains(NODE) && nodes.contains("Ready"), "{nodes}");
    assert!(!nodes.contains("listed publicly"), "{nodes}");
    assert_eq!(pods_on_node(&kube).await, 2);

    // Drain it with force (its pods have no controller) and watch them go.
    tui.type_text("d");
    tui.wait_for(&format!("Drain {NODE}"));
    tui.press(&["Tab", "Tab", "Tab", "Tab", "Space", "Enter"]);
    let confirm = tui.wait_for("drain? y: yes");
    assert!(confirm.contains("force: true"), "{confirm}");
    tui.type_text("y");
    tui.wait_for(&format!("node {NODE} drained: 2 pod(s) removed"));
    assert_eq!(pods_on_node(&kube).await, 0, "the pods are still there");
    tui.wait_for("SchedulingDisabled");
    // The same view from a script, over the same ops layer.
    let listed = cli(home.path(), &["nodes", "list", "--json"]);
    let node = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == NODE)
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(node["unschedulable"], true, "{node}");
    assert_eq!(node["in_master"], true, "{node}");

    // Approve the pending slash proposal with the SlasherCap.
    tui.type_text("6");
    tui.wait_for("double-signed heartbeats");
    tui.type_text("a");
    let confirm = tui.wait_for("approve a slash? y: yes");
    assert!(confirm.contains("slashes 0.5 SUI"), "{confirm}");
    tui.type_text("y");
    tui.wait_for("approved: 0.5 SUI slashed");
    tui.type_text("q");
    tui.wait_for("CONSOLE-EXITED 0");

    // The slash decision, from a script over the same ops layer.
    let decided = cli(home.path(), &["slash", "list", "--history", "--json"]);
    assert_eq!(decided["decided"][0]["outcome"], "approved", "{decided}");
    assert_eq!(decided["pending"].as_array().unwrap().len(), 0, "{decided}");
    assert_eq!(decided["decided"][0]["reason"], HOSTILE_REASON, "{decided}");

    // The reason, written on chain by anyone who stakes, reaches the
    // operator's terminal written out: its escape sequences are not obeyed
    // (no clipboard write) and its newline forges no line.
    let text = cli_output(home.path(), &["slash", "list", "--history"]);
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(
        !text.stdout.iter().any(|b| matches!(b, 0x1b | 0x07 | b'\r')),
        "{shown:?}"
    );
    assert!(
        shown.contains("double-signed heartbeats\\u001b]52;c;cHduZWQ=\\u0007\\u000aforged line"),
        "{shown:?}"
    );
    assert!(!shown.lines().any(|l| l.starts_with("forged")), "{shown:?}");

    // With a second user token, of the admin tier, a new session lists
    // the nodes as the holder of the higher one: every node in full (the
    // worker's owner and its stake after the slash), no note (not "listed
    // publicly" for want of a single token).
    cli(
        home.path(),
        &["stake", "--tier", "admin", "--yes", "--json"],
    );
    let session = Tui::start_with(
        home.path(),
        &format!("DAAS_WALLET_PASSPHRASE='{PASSPHRASE}'"),
        &[],
    );
    // The Overview opens on the package's recent history: the slash
    // approved in the last session is among its chain events.
    session.wait_for("approved: 0.5 SUI slashed from");
    session.type_text("4");
    let nodes = session.wait_for("4.5 SUI");
    assert!(
        !nodes.contains("listed publicly") && !nodes.contains("blank for nodes"),
        "{nodes}"
    );
    session.type_text("q");
    session.wait_for("CONSOLE-EXITED 0");
}

/// Runs `daas-console ARGS --json` as the operator and parses its output.
fn cli(home: &Path, args: &[&str]) -> serde_json::Value {
    let output = cli_output(home, args);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs `daas-console ARGS` as the operator; it must succeed.
fn cli_output(home: &Path, args: &[&str]) -> std::process::Output {
    let output = Command::new(binaries::workspace_binary(CONSOLE).unwrap())
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("DAAS_WALLET_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "daas-console {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn with_nothing_reachable_the_tui_draws_says_so_and_quits() {
    let home = tempfile::tempdir().unwrap();
    let tui = Tui::start(
        home.path(),
        &[
            "--master",
            "https://127.0.0.1:9",
            "--chain",
            "http://127.0.0.1:9",
        ],
    );
    tui.wait_for("1 overview");
    tui.wait_for("NOT ATTESTED");
    let screen = tui.wait_for("unreachable");
    assert!(
        screen.contains("Connection refused") || screen.contains("connect"),
        "{screen}"
    );
    tui.type_text("q");
    tui.wait_for("CONSOLE-EXITED 0");
}
