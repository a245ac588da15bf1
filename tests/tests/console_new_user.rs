//! A brand-new user goes from nothing to `kubectl` access through the
//! product alone: `daas-console` commands, run as processes, create a
//! wallet, fund it from the devnet faucet, stake for a tier, write a
//! kubeconfig (the API server and its CA from the attested master), and
//! `kubectl get pods` works. After `stake unstake`, the credential plugin
//! says why access is refused instead of a bare `Unauthorized`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use daas_core::access::review::user_namespace;
use daas_core::package::{Mist, SealTokenId};
use daas_e2e::binaries::{self, CONSOLE};
use daas_e2e::stack::{Stack, StackOptions};
use serde_json::Value;

const PASSPHRASE: &str = "a new user's passphrase";

/// The user's machine: a home directory with the XDG dirs in it, so the
/// console uses its default wallet, config and cache locations there.
struct Home {
    dir: tempfile::TempDir,
    console: PathBuf,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            console: binaries::workspace_binary(CONSOLE).unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The environment of every process the user runs: no terminal, no
    /// session bus (so no OS keyring), XDG dirs in the home.
    fn env(&self, command: &mut Command) {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("KUBECONFIG", self.path("kubeconfig"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }

    fn run(&self, args: &[&str], passphrase: bool) -> Output {
        let mut command = Command::new(&self.console);
        command.args(args);
        self.env(&mut command);
        if passphrase {
            command.env("DAAS_WALLET_PASSPHRASE", PASSPHRASE);
        }
        command.output().unwrap()
    }

    /// Runs the console and returns stdout; fails the test unless it succeeds.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args, true);
        assert!(
            output.status.success(),
            "daas-console {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn kubectl(&self, kubectl: &Path, args: &[&str]) -> Output {
        let mut command = Command::new(kubectl);
        command.args(args);
        self.env(&mut command);
        command.env("DAAS_WALLET_PASSPHRASE", PASSPHRASE);
        command.output().unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// kubectl and the console run as blocking child processes while the stack
// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_stakes_and_reaches_kubectl_through_the_console() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let home = Home::new();
    let dev_root = stack.master.state_dir().join("dev-root.pem");
    std::fs::create_dir_all(home.path("config/k3s-daas")).unwrap();
    std::fs::write(
        home.path("config/k3s-daas/console.toml"),
        format!(
            "default_profile = \"local\"\n\
             [profiles.local]\n\
             master = \"{}\"\n\
             dev_root = \"{}\"\n\
             [profiles.local.chain]\n\
             profile = \"devnet\"\n\
             endpoint = \"{}\"\n",
            stack.master.url(),
            dev_root.display(),
            stack.devnet.url()
        ),
    )
    .unwrap();

    // A new wallet needs a passphrase; without a terminal the console says
    // how to give one, and creates nothing.
    let refused = home.run(
        &["wallet", "new", "--alias", "me", "--store", "file"],
        false,
    );
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("needs a passphrase to encrypt its keys")
            && message.contains("DAAS_WALLET_PASSPHRASE"),
        "{message}"
    );
    assert!(!home.path("data/k3s-daas/wallet/wallet.json").exists());

    // With one, the wallet is created and the console says where the keys
    // are and why (there is no keyring without a session bus).
    let created = home.run(&["wallet", "new", "--alias", "me"], true);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stderr(&created).contains("keys in an encrypted file, because no OS keyring is reachable"),
        "{}",
        stderr(&created)
    );
    let address = String::from_utf8(created.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();

    // Staking before funding names the problem, and nothing is sent.
    let poor = home.run(&["stake", "--tier", "developer", "--yes"], true);
    assert!(!poor.status.success());
    assert!(stderr(&poor).contains("fund it first"), "{}", stderr(&poor));

    let funded = home.json(&["wallet", "faucet", "--json"]);
    assert_eq!(funded["address"], Value::from(address.clone()));
    let balance = funded["mist"].as_u64().unwrap();
    assert!(balance >= 2 * Mist::PER_SUI, "{funded}");

    // Without a terminal, a transaction needs --yes; a read-only session
    // refuses it. Neither spends anything.
    let unconfirmed = home.run(&["stake", "--tier", "developer"], true);
    assert!(
        stderr(&unconfirmed).contains("pass --yes to confirm"),
        "{}",
        stderr(&unconfirmed)
    );
    let readonly = home.run(
        &["--readonly", "stake", "--tier", "developer", "--yes"],
        true,
    );
    assert!(
        stderr(&readonly).contains("read-only"),
        "{}",
        stderr(&readonly)
    );
    assert_eq!(
        home.json(&["wallet", "balance", "--json"])["mist"].as_u64(),
        Some(balance)
    );

    let staked = home.json(&["stake", "--tier", "developer", "--yes", "--json"]);
    assert_eq!(staked["tier"], "developer", "{staked}");
    let seal_token: SealTokenId = staked["seal_token"].as_str().unwrap().parse().unwrap();
    let status = home.json(&["stake", "status", "--json"]);
    assert_eq!(status["tokens"][0]["state"]["state"], "active", "{status}");

    // A read never prompts: without the passphrase the node list is the
    // public one and says why; with it, the developer lists as its seal
    // token's holder (an owner's view).
    let public = home.run(&["nodes", "list"], false);
    assert!(public.status.success(), "{}", stderr(&public));
    for needle in ["listed publicly", "no passphrase was given"] {
        assert!(
            stderr(&public).contains(needle),
            "{needle}: {}",
            stderr(&public)
        );
    }
    let listed = home.json(&["nodes", "list", "--json"]);
    assert_eq!(listed["master_view"], "owner", "{listed}");

    // The kubeconfig: server and CA from the attested master.
    let written = home.ok(&["kubeconfig"]);
    assert!(written.contains("k3s-daas"), "{written}");
    let kubeconfig = std::fs::read_to_string(home.path("kubeconfig")).unwrap();
    assert!(kubeconfig.contains(stack.cluster.server()), "{kubeconfig}");
    assert!(
        kubeconfig.contains("certificate-authority-data"),
        "{kubeconfig}"
    );
    assert!(kubeconfig.contains(&seal_token.to_string()), "{kubeconfig}");

    // A developer's context is its own namespace, the only one it writes in.
    let own = user_namespace(address.parse::<sui_sdk_types::Address>().unwrap());
    assert!(written.contains(&format!("namespace {own}")), "{written}");

    let kubectl = stack.cluster.binaries().kubectl.clone();
    let pods = home.kubectl(&kubectl, &["get", "pods"]);
    assert!(
        pods.status.success(),
        "kubectl get pods: {}\nmaster log:\n{}",
        stderr(&pods),
        stack.master.log_tail(40)
    );
    let created = home.kubectl(
        &kubectl,
        &["create", "configmap", "first", "--from-literal=a=b"],
    );
    assert!(
        created.status.success()
            && String::from_utf8_lossy(&created.stdout).contains("configmap/first created"),
        "kubectl create configmap in the context's namespace: {}",
        stderr(&created)
    );

    // Staking for a higher tier says the seal token held could be raised
    // instead of minting a second one.
    let again = home.run(&["stake", "--tier", "admin"], true);
    assert!(!again.status.success(), "nothing is sent without --yes");
    assert!(
        stderr(&again).contains(&format!(
            "you already hold seal token {seal_token} (developer, 2 SUI): adding 3 SUI to it"
        )),
        "{}",
        stderr(&again)
    );

    // A withdraw the chain would abort is refused first, saying what to do.
    let early = home.run(&["stake", "withdraw", "--yes"], true);
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains("has no unstaked seal token to withdraw: unstake first"),
        "{}",
        stderr(&early)
    );
    let named = seal_token.to_string();
    let early = home.run(
        &["stake", "withdraw", "--seal-token", &named, "--yes"],
        true,
    );
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains(&format!(
            "seal token {seal_token} was not unstaked: request unstake first"
        )),
        "{}",
        stderr(&early)
    );

    // Unstaking ends access; the plugin says why.
    let unstaked = home.json(&["stake", "unstake", "--yes", "--json"]);
    assert_eq!(unstaked["seal_token"], seal_token.to_string());
    let unbonding = home.run(&["stake", "withdraw", "--yes"], true);
    assert!(!unbonding.status.success());
    assert!(
        stderr(&unbonding).contains(&format!("seal token {seal_token} is unbonding until 20")),
        "{}",
        stderr(&unbonding)
    );
    let refused = home.kubectl(&kubectl, &["get", "pods"]);
    assert!(
        !refused.status.success(),
        "kubectl still works after unstake"
    );
    let message = stderr(&refused);
    assert!(
        message.contains("access will be refused") && message.contains("unstaked"),
        "{message}"
    );
    let status = home.json(&["stake", "status", "--json"]);
    assert_eq!(
        status["tokens"][0]["state"]["state"], "unbonding",
        "{status}"
    );
}

/// Every environment variable the console's help names is one the stack
/// and these tests remove from the shell's environment before running a
/// console (`binaries::CONSOLE_ENV`), so a developer's exported profile
/// never reaches them.
#[test]
fn every_console_variable_is_known_to_the_launcher_and_the_tests() {
    let console = binaries::workspace_binary(CONSOLE).unwrap();
    let mut named = std::collections::BTreeSet::new();
    let top = Command::new(&console).arg("--help").output().unwrap();
    let top = String::from_utf8(top.stdout).unwrap();
    let subcommands = top
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next());
    let helps = std::iter::once(top.clone()).chain(subcommands.map(|sub| {
        let help = Command::new(&console)
            .args([sub, "--help"])
            .output()
            .unwrap();
        String::from_utf8(help.stdout).unwrap()
    }));
    for help in helps {
        for word in help.split(|c: char| !(c.is_ascii_uppercase() || c == '_')) {
            if word.starts_with("DAAS_") {
                named.insert(word.to_owned());
            }
        }
    }
    assert!(named.contains("DAAS_CREDENTIAL_CACHE_DIR"), "{named:?}");
    for name in &named {
        assert!(
            binaries::CONSOLE_ENV.contains(&name.as_str()),
            "{name} is read by the console but not in binaries::CONSOLE_ENV"
        );
    }
}
