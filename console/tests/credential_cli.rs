//! `daas-console credential` and `daas-console kubeconfig` as kubectl and a
//! user run them: the real binary on a temporary wallet, cache and
//! kubeconfig.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use daas_core::access::kubeconfig;
use daas_core::access::{AccessToken, unix_now_secs};
use daas_core::wallet::WalletStore;
use serde_json::{Value, json};

const SEAL: &str = "0x5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const AUDIENCE: &str = "https://k3s.test:6443";
/// The chain every command is pointed at: nothing listens there, so the
/// plugin warns and signs, as these tests expect, even when a devnet runs
/// on the console's default port (`deploy/dev/up.sh`'s).
const NO_CHAIN: &str = "http://127.0.0.1:1";

/// A temporary home: wallet, cache dir, kubeconfig.
struct Home {
    dir: tempfile::TempDir,
    address: String,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut home = Self {
            dir,
            address: String::new(),
        };
        let out = stdout(&home.console(&["wallet", "new", "--alias", "me"], &[]));
        home.address = out.split_whitespace().nth(1).unwrap().to_owned();
        assert!(home.address.starts_with("0x"), "{out}");
        home
    }

    fn wallet(&self) -> PathBuf {
        self.dir.path().join("wallet")
    }

    fn xdg_cache(&self) -> PathBuf {
        self.dir.path().join("xdg-cache")
    }

    fn cache_dir(&self) -> PathBuf {
        self.xdg_cache().join("k3s-daas").join("credentials")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_daas-console")), args, env)
    }

    /// `program args` in this home.
    fn command_of(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(program);
        command
            .args(["--chain", NO_CHAIN])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.xdg_cache())
            .env("DAAS_WALLET_DIR", self.wallet())
            .env("DAAS_WALLET_PASSPHRASE", "test passphrase")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    fn console(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().unwrap()
    }

    /// Runs the plugin as kubectl would and returns the ExecCredential.
    fn credential(&self, extra: &[&str], env: &[(&str, &str)]) -> Value {
        let mut args = vec!["credential", "--seal-token", SEAL];
        args.extend(extra);
        serde_json::from_str(&stdout(&self.console(&args, env))).unwrap()
    }

    fn cache_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.cache_dir()) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn token_of(credential: &Value) -> String {
    credential["status"]["token"].as_str().unwrap().to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn prints_an_exec_credential_whose_token_verifies() {
    let home = Home::new();
    let before = unix_now_secs();
    let credential = home.credential(&["--audience", AUDIENCE], &[]);
    assert_eq!(
        credential["apiVersion"],
        json!("client.authentication.k8s.io/v1")
    );
    assert_eq!(credential["kind"], json!("ExecCredential"));
    let token = token_of(&credential);
    let verified = AccessToken::parse(&token)
        .unwrap()
        .verify(AUDIENCE, unix_now_secs(), Duration::from_secs(5))
        .unwrap();
    assert_eq!(verified.signer().to_string(), home.address);
    assert_eq!(verified.seal_token().to_string(), SEAL);
    let lifetime = verified.claims().lifetime_secs();
    assert_eq!(lifetime, 600, "default lifetime");
    assert!(verified.claims().issued_at >= before);
    // expirationTimestamp is RFC 3339 and equals the token's expiry.
    let expiry: jiff::Timestamp = credential["status"]["expirationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        u64::try_from(expiry.as_second()).unwrap(),
        verified.expires_at()
    );
    // The cache file: one, private, in a private directory.
    let files = home.cache_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&home.cache_dir()), 0o700);
}

#[test]
fn the_plugin_binary_answers_from_the_cache_and_otherwise_becomes_the_console() {
    let home = Home::new();
    // daas-credential alone, without daas-console beside it: it can only
    // answer from the cache.
    let lonely = home.dir.path().join("bin").join("daas-credential");
    std::fs::create_dir_all(lonely.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_daas-credential"), &lonely).unwrap();
    let run = |plugin: &Path, extra: &[&str]| {
        let mut args = vec!["credential", "--seal-token", SEAL, "--audience", AUDIENCE];
        args.extend(extra);
        home.command_of(plugin, &args, &[]).output().unwrap()
    };
    let refused = run(&lonely, &["--no-check"]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("needs daas-console beside it"),
        "a miss needs the console: {error}"
    );

    // Beside the console, a miss becomes the console, which signs and caches.
    let signed = token_of(
        &serde_json::from_str(&stdout(&run(
            Path::new(env!("CARGO_BIN_EXE_daas-credential")),
            &["--no-check"],
        )))
        .unwrap(),
    );
    // Now the lonely plugin answers from the cache alone, the same token.
    let cached: Value = serde_json::from_str(&stdout(&run(&lonely, &["--no-check"]))).unwrap();
    assert_eq!(token_of(&cached), signed);
    assert_eq!(cached["kind"], json!("ExecCredential"));

    // Checking (the default) needs a recent "allowed" from the chain: none
    // yet (the chain is unreachable here), so the console is needed …
    assert!(!run(&lonely, &[]).status.success());
    // … until one is remembered beside the token.
    let token_file = home
        .cache_files()
        .into_iter()
        .find(|path| path.extension().is_some_and(|ext| ext == "json"))
        .unwrap();
    let now_ms = unix_now_secs() * 1000;
    std::fs::write(token_file.with_extension("checked"), now_ms.to_string()).unwrap();
    assert_eq!(
        token_of(&serde_json::from_str(&stdout(&run(&lonely, &[]))).unwrap()),
        signed
    );
    // An old one is not enough.
    let old_ms = now_ms - 60_000;
    std::fs::write(token_file.with_extension("checked"), old_ms.to_string()).unwrap();
    assert!(!run(&lonely, &[]).status.success());

    // Bad arguments are the console's errors, without running it.
    let bad = Command::new(&lonely)
        .args(["credential", "--seal-token", "nope", "--audience", AUDIENCE])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a seal token id"));
}

#[test]
fn cache_is_reused_then_refreshed_after_expiry() {
    let home = Home::new();
    let args = ["--audience", AUDIENCE, "--lifetime", "4"];
    let first = token_of(&home.credential(&args, &[]));
    let second = token_of(&home.credential(&args, &[]));
    assert_eq!(first, second, "the cached token is reused");
    // Another audience is another cache entry.
    let other = token_of(&home.credential(&["--audience", "https://other:6443"], &[]));
    assert_ne!(other, first);
    assert_eq!(home.cache_files().len(), 2);
    // Reuse stops once less than half of a short lifetime remains.
    std::thread::sleep(Duration::from_secs(3));
    let third = token_of(&home.credential(&args, &[]));
    assert_ne!(third, first, "a nearly expired token is replaced");
    let fourth = token_of(&home.credential(&args, &[]));
    assert_eq!(third, fourth);
    // --no-cache always signs anew.
    let fresh = token_of(&home.credential(&["--audience", AUDIENCE, "--no-cache"], &[]));
    assert_ne!(fresh, third);
    // A corrupted cache file is ignored and replaced.
    for file in home.cache_files() {
        std::fs::write(&file, "{not json").unwrap();
    }
    let healed = token_of(&home.credential(&args, &[]));
    AccessToken::parse(&healed).unwrap();
}

#[test]
fn exec_info_from_kubectl_is_honoured() {
    let home = Home::new();
    // provideClusterInfo: the audience defaults to the cluster's server.
    let info = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {
            "cluster": {"server": "https://from-kubectl:6443", "certificate-authority-data": "AAAA"},
            "interactive": false
        }
    })
    .to_string();
    let credential = home.credential(&[], &[("KUBERNETES_EXEC_INFO", &info)]);
    let token = token_of(&credential);
    AccessToken::parse(&token)
        .unwrap()
        .verify("https://from-kubectl:6443", unix_now_secs(), Duration::ZERO)
        .unwrap();
    // A v1beta1 kubeconfig gets a v1beta1 answer.
    let beta = json!({
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "spec": {"interactive": false}
    })
    .to_string();
    let credential = home.credential(
        &["--audience", AUDIENCE],
        &[("KUBERNETES_EXEC_INFO", &beta)],
    );
    assert_eq!(
        credential["apiVersion"],
        json!("client.authentication.k8s.io/v1beta1")
    );
    // Unknown versions, garbage, and no audience at all are errors.
    for (info, expected) in [
        (
            json!({"apiVersion": "client.authentication.k8s.io/v2", "kind": "ExecCredential", "spec": {}}).to_string(),
            "this plugin speaks",
        ),
        ("{".to_owned(), "not JSON"),
        (
            json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": {"interactive": false}}).to_string(),
            "no --audience",
        ),
    ] {
        let output = home.console(
            &["credential", "--seal-token", SEAL],
            &[("KUBERNETES_EXEC_INFO", &info)],
        );
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn bad_arguments_and_locked_wallets_are_clear_errors() {
    let home = Home::new();
    let cases: [(&[&str], &str); 4] = [
        (
            &["credential", "--seal-token", "nope", "--audience", AUDIENCE],
            "not a seal token id",
        ),
        (
            &[
                "credential",
                "--seal-token",
                SEAL,
                "--audience",
                AUDIENCE,
                "--lifetime",
                "901",
            ],
            "901",
        ),
        (
            &[
                "credential",
                "--seal-token",
                SEAL,
                "--audience",
                AUDIENCE,
                "--key",
                "nobody",
            ],
            "nobody",
        ),
        (
            &["credential", "--seal-token", SEAL, "--audience", ""],
            "audience",
        ),
    ];
    for (args, expected) in cases {
        let output = home.console(args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // Without the passphrase and without a terminal, an encrypted-file
    // wallet explains what kubectl needs.
    if WalletStore::needs_passphrase(&home.wallet()).unwrap() {
        let output = home
            .command(
                &["credential", "--seal-token", SEAL, "--audience", AUDIENCE],
                &[],
            )
            .env_remove("DAAS_WALLET_PASSPHRASE")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        for needle in [
            "cannot sign a token for kubectl",
            "DAAS_WALLET_PASSPHRASE or DAAS_WALLET_PASSPHRASE_FILE",
        ] {
            assert!(stderr.contains(needle), "{needle}: {stderr}");
        }
    }
}

#[test]
fn kubeconfig_merge_keeps_other_entries_and_is_private() {
    let home = Home::new();
    let path = home.dir.path().join("kube").join("config");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    server: https://other:6443\nusers:\n- name: other-user\n  user:\n    token: abc\ncontexts:\n- name: other\n  context:\n    cluster: other\n    user: other-user\ncurrent-context: other\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ca = home.dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = stdout(&home.console(
        &[
            "kubeconfig",
            "--server",
            "https://127.0.0.1:6443",
            "--seal-token",
            SEAL,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        &[("KUBECONFIG", path.to_str().unwrap())],
    ));
    assert!(out.contains("k3s-daas"), "{out}");
    assert_eq!(mode(&path), 0o600);
    let config = kubeconfig::from_yaml(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let names = |list: &str| -> Vec<String> {
        config[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("clusters"), ["other", "k3s-daas"]);
    assert_eq!(names("users"), ["other-user", "k3s-daas-user"]);
    assert_eq!(names("contexts"), ["other", "k3s-daas"]);
    assert_eq!(config["users"][0]["user"]["token"], json!("abc"));
    assert_eq!(config["current-context"], json!("k3s-daas"));
    let exec = &config["users"][1]["user"]["exec"];
    assert_eq!(exec["apiVersion"], json!("client.authentication.k8s.io/v1"));
    assert_eq!(exec["interactiveMode"], json!("IfAvailable"));
    // The plugin-only binary beside the console, with the console's arguments.
    assert_eq!(
        exec["command"],
        json!(env!("CARGO_BIN_EXE_daas-credential"))
    );
    let args: Vec<&str> = exec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let wallet = home.wallet();
    assert_eq!(
        args,
        [
            "--chain",
            NO_CHAIN,
            "--wallet-dir",
            wallet.to_str().unwrap(),
            "credential",
            "--seal-token",
            SEAL,
            "--audience",
            "https://127.0.0.1:6443"
        ]
    );
    assert_eq!(
        config["clusters"][1]["cluster"]["certificate-authority-data"],
        json!(
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkdW1teQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
        )
    );

    // The exec section, run as kubectl runs it, signs for that audience.
    let exec_args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = Command::new(exec["command"].as_str().unwrap())
        .args(&exec_args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.dir.path())
        .env("XDG_CACHE_HOME", home.xdg_cache())
        .env("DAAS_WALLET_PASSPHRASE", "test passphrase")
        .output()
        .unwrap();
    let credential: Value = serde_json::from_str(&stdout(&output)).unwrap();
    AccessToken::parse(&token_of(&credential))
        .unwrap()
        .verify("https://127.0.0.1:6443", unix_now_secs(), Duration::ZERO)
        .unwrap();

    // Merging again with --keep-current-context: same entries, context kept.
    std::fs::write(
        &path,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("current-context: k3s-daas", "current-context: other"),
    )
    .unwrap();
    stdout(&home.console(
        &[
            "kubeconfig",
            "--kubeconfig",
            path.to_str().unwrap(),
            "--server",
            "https://127.0.0.1:6443",
            "--seal-token",
            SEAL,
            "--insecure-skip-tls-verify",
            "--keep-current-context",
        ],
        &[],
    ));
    let config = kubeconfig::from_yaml(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(config["clusters"].as_array().unwrap().len(), 2);
    assert_eq!(config["current-context"], json!("other"));
    assert_eq!(
        config["clusters"][1]["cluster"]["insecure-skip-tls-verify"],
        json!(true)
    );
}

#[test]
fn kubeconfig_refuses_bad_input_without_touching_the_file() {
    let home = Home::new();
    let path = home.dir.path().join("config");
    std::fs::write(&path, "clusters: [\n").unwrap();
    let output = home.console(
        &[
            "kubeconfig",
            "--kubeconfig",
            path.to_str().unwrap(),
            "--server",
            "https://127.0.0.1:6443",
            "--seal-token",
            SEAL,
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot parse"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "clusters: [\n");
    let output = home.console(
        &[
            "kubeconfig",
            "--kubeconfig",
            path.to_str().unwrap(),
            "--server",
            "ftp://x",
            "--seal-token",
            SEAL,
        ],
        &[],
    );
    assert!(!output.status.success());
    let not_pem = home.dir.path().join("ca.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let output = home.console(
        &[
            "kubeconfig",
            "--stdout",
            "--server",
            "https://127.0.0.1:6443",
            "--seal-token",
            SEAL,
            "--ca-file",
            not_pem.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a PEM certificate"));
    // --stdout prints a whole kubeconfig and writes nothing.
    let printed = stdout(&home.console(
        &[
            "kubeconfig",
            "--stdout",
            "--server",
            "https://127.0.0.1:6443",
            "--seal-token",
            SEAL,
        ],
        &[],
    ));
    let config = kubeconfig::from_yaml(&printed).unwrap();
    assert_eq!(config["kind"], json!("Config"));
    assert_eq!(config["current-context"], json!("k3s-daas"));
}

#[test]
fn seal_token_issue_refuses_bad_input_before_asking_a_master() {
    let home = Home::new();
    let cases: [(&[&str], &str); 3] = [
        (
            &["seal-token", "issue", "--seal-token", "nope"],
            "`nope` is not a seal token id",
        ),
        (
            &["--readonly", "seal-token", "issue", "--seal-token", SEAL],
            "issue an opaque seal token",
        ),
        (
            &[
                "--master",
                "https://127.0.0.1:1",
                "seal-token",
                "issue",
                "--seal-token",
                SEAL,
            ],
            "127.0.0.1:1",
        ),
    ];
    for (args, needle) in cases {
        let output = home.console(args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} printed a token");
    }
}

#[test]
fn node_operations_without_a_kubeconfig_say_where_they_looked_and_how_to_name_one() {
    let home = Home::new();
    let output = home.console(&["nodes", "cordon", "some-node"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("$KUBECONFIG, else ~/.kube/config") && stderr.contains("--kube-config"),
        "{stderr}"
    );
    let garbage = home.dir.path().join("garbage.kubeconfig");
    std::fs::write(&garbage, "{ not yaml").unwrap();
    let output = home.console(
        &[
            "nodes",
            "cordon",
            "some-node",
            "--kube-config",
            garbage.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("garbage.kubeconfig"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
