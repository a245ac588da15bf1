//! `daas-console enclave register`, end to end with real processes: a
//! `daas-master serve --attestation dev`, a `daas-devnet` that trusts the
//! master's dev root, and the console submitting the master's attestation
//! to `load_nitro_attestation` + `register_enclave` from an operator wallet;
//! and `daas-console enclave config` creating, showing and updating the
//! EnclaveConfigs it registers under, from the wallet holding the EnclaveCap;
//! and `enclave destroy` of an enclave whose config has moved on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use daas_core::attestation::{DevRoot, Pcr, PcrPolicy, TrustRoots};
use daas_core::attested::{AttestedClient, AttestedClientConfig};
use daas_core::chain::TransactionSigner;
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::binaries;
use daas_e2e::devnet::{Devnet, DevnetOptions};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const PASSPHRASE: &str = "enclave register test passphrase";

fn console_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| binaries::workspace_binary(binaries::CONSOLE).unwrap())
}

fn master_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| binaries::workspace_binary(binaries::MASTER).unwrap())
}

/// A `daas-master serve --attestation dev` on loopback, killed on drop.
struct Master {
    _child: Child,
    url: String,
    dev_root_path: PathBuf,
}

impl Master {
    async fn start(state_dir: &Path) -> Self {
        let mut child = Command::new(master_binary())
            .args(["serve", "--listen", "tcp:127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .args(["--attestation", "dev"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start daas-master");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("daas-master printed nothing within 60 s")
            .unwrap()
            .expect("daas-master exited before printing its address");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = first
            .strip_prefix("daas-master listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Self {
            _child: child,
            url,
            dev_root_path: state_dir.join("dev-root.pem"),
        }
    }

    fn dev_root_pem(&self) -> String {
        std::fs::read_to_string(&self.dev_root_path).unwrap()
    }

    /// The PCR 0, 1, 2 and Ed25519 signing key the master attests to,
    /// read through the attested client (any measurement accepted).
    async fn attested(&self) -> ([Pcr; 3], [u8; 32]) {
        let root = DevRoot::from_pem(&self.dev_root_pem()).unwrap();
        let config = AttestedClientConfig::new(
            TrustRoots::insecure_dev_only(root),
            PcrPolicy::AnyMeasurement,
        )
        .allow_insecure_dev(true);
        let master = AttestedClient::new(&self.url, config)
            .unwrap()
            .master()
            .await
            .unwrap();
        let pcrs = master.attestation().pcrs();
        let pcr = |index| *pcrs.get(index).unwrap();
        ([pcr(0), pcr(1), pcr(2)], master.signing_key().to_bytes())
    }
}

/// Runs `daas-console ARGS` with the operator's wallet.
fn console(wallet_dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write as _;
    let mut command = std::process::Command::new(console_binary());
    let mut child = daas_e2e::binaries::without_console_env(&mut command)
        .arg("--wallet-dir")
        .arg(wallet_dir)
        .args(args)
        .env("DAAS_WALLET_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_console_registers_the_attested_master_key_from_the_operator_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let master = Master::start(&dir.path().join("state")).await;
    let (pcrs, signing_key) = master.attested().await;

    // A devnet that trusts the master's dev root, an EnclaveConfig with the
    // master's PCRs and one with other PCRs.
    let admin = Ed25519PrivateKey::new([0xad; 32]);
    let devnet = Devnet::start_with_attestation(
        DevnetOptions {
            admin: Some(TransactionSigner::address(&admin)),
            ..DevnetOptions::default()
        },
        Some(&master.dev_root_pem()),
    )
    .await
    .unwrap();
    devnet
        .fund(TransactionSigner::address(&admin))
        .await
        .unwrap();
    let client = devnet.client().unwrap();
    let chain = devnet.url();

    // The operator's funded wallet, and the wallet holding the EnclaveCap.
    let operator = Keypair::from_bytes(Scheme::Ed25519, &[0x0e; 32]).unwrap();
    devnet.fund(operator.address()).await.unwrap();
    let wallet = dir.path().join("wallet");
    import(&wallet, &operator);
    let cap_wallet = dir.path().join("cap-wallet");
    import(
        &cap_wallet,
        &Keypair::from_bytes(Scheme::Ed25519, &[0xad; 32]).unwrap(),
    );

    // The EnclaveConfigs, made with the console: one from the master's
    // measurements file, one from other PCRs given as flags.
    let pcrs_file = dir.path().join("pcrs.json");
    let hex_of = |pcr: &Pcr| hex::encode(pcr.as_bytes());
    std::fs::write(
        &pcrs_file,
        serde_json::json!({
            "PCR0": hex_of(&pcrs[0]), "PCR1": hex_of(&pcrs[1]), "PCR2": hex_of(&pcrs[2]),
        })
        .to_string(),
    )
    .unwrap();
    let pcrs_arg = pcrs_file.to_str().unwrap();
    let config_command = |wallet: &Path, args: &[&str]| {
        let mut all = vec!["enclave", "config"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--chain-endpoint", chain, "--yes"]);
        console(wallet, &all, b"")
    };
    let config = config_id(&config_command(
        &cap_wallet,
        &["create", "--name", "k3s-daas master", "--pcrs", pcrs_arg],
    ));
    let other_pcrs: Vec<String> = [0x10u8, 0x11, 0x12]
        .iter()
        .enumerate()
        .map(|(index, byte)| format!("{index}={}", hex::encode([*byte; 48])))
        .collect();
    let mut create_other = vec!["create", "--name", "another image"];
    for pcr in &other_pcrs {
        create_other.extend_from_slice(&["--pcr", pcr]);
    }
    let other = config_id(&config_command(&cap_wallet, &create_other));
    let shown = config_command(&cap_wallet, &["show", &config.to_string()]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("name          k3s-daas master"), "{shown}");
    assert!(shown.contains("version       0"), "{shown}");
    assert!(
        shown.contains(&format!("pcr0          {}", hex_of(&pcrs[0]))),
        "{shown}"
    );

    // Refused before anything is sent: a wallet without the EnclaveCap, the
    // PCRs the config already expects, a file without PCR1.
    let balance = client.sui_balance(operator.address()).await.unwrap();
    let bad_file = dir.path().join("bad-pcrs.json");
    std::fs::write(&bad_file, format!(r#"{{"PCR0": "{}"}}"#, hex_of(&pcrs[0]))).unwrap();
    let config_text = config.to_string();
    for (wallet, args, needle) in [
        (
            &wallet,
            vec!["create", "--name", "mine", "--pcrs", pcrs_arg],
            "holds no EnclaveCap",
        ),
        (
            &cap_wallet,
            vec!["update", &config_text, "--pcrs", pcrs_arg],
            "already expects these PCRs (version 0)",
        ),
        (
            &cap_wallet,
            vec!["update", &config_text, "--pcrs", bad_file.to_str().unwrap()],
            "is invalid: PCR1 is missing",
        ),
    ] {
        let refused = config_command(wallet, &args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(
        client.sui_balance(operator.address()).await.unwrap(),
        balance,
        "a refused create spent gas"
    );
    // Checked before asking: no confirmation is needed to hear it.
    let no_cap = console(
        &wallet,
        &[
            "enclave",
            "config",
            "create",
            "--name",
            "mine",
            "--pcrs",
            pcrs_arg,
            "--chain-endpoint",
            chain,
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&no_cap.stderr);
    assert!(stderr.contains("holds no EnclaveCap"), "{stderr}");
    assert!(!stderr.contains("--yes"), "{stderr}");
    // Without a terminal to ask, a transaction needs --yes.
    let unconfirmed = console(
        &cap_wallet,
        &[
            "enclave",
            "config",
            "update",
            &other.to_string(),
            "--pcrs",
            pcrs_arg,
            "--chain-endpoint",
            chain,
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&unconfirmed.stderr);
    assert!(!unconfirmed.status.success(), "updated without --yes");
    assert!(stderr.contains("pass --yes to confirm"), "{stderr}");
    assert!(
        stderr.contains("every enclave registered under the current ones stops being current"),
        "{stderr}"
    );
    assert_eq!(client.enclave_config(other).await.unwrap().value.version, 0);

    let dev_root = master.dev_root_path.to_str().unwrap();
    let register = |config: Address| {
        let config = config.to_string();
        console(
            &wallet,
            &[
                "enclave",
                "register",
                &master.url,
                "--config",
                &config,
                "--chain-endpoint",
                chain,
                "--allow-insecure-dev",
                "--dev-root",
                dev_root,
                "--yes",
            ],
            b"",
        )
    };

    // Other PCRs: refused by the attested client, before any transaction.
    let balance = client.sui_balance(operator.address()).await.unwrap();
    let refused = register(other);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "registered under other PCRs");
    assert!(stderr.contains("is NOT attested"), "{stderr}");
    assert!(stderr.contains("nothing was submitted"), "{stderr}");
    // The attested client's PCR check, against the chain's PCR0.
    assert!(
        stderr.contains(&format!("PCR0 is {}", hex::encode(pcrs[0].as_bytes())))
            && stderr.contains(&format!("expected {}", hex::encode([0x10; 48]))),
        "{stderr}"
    );
    assert_eq!(
        client.sui_balance(operator.address()).await.unwrap(),
        balance,
        "a refused registration spent gas"
    );

    // The master's PCRs: registered, with the master's attested key.
    let registered = register(config);
    let stdout = String::from_utf8_lossy(&registered.stdout);
    assert!(
        registered.status.success(),
        "enclave register: {}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .to_owned()
    };
    let enclave: Address = field("enclave ").parse().unwrap();
    assert_eq!(field("public key "), hex::encode(signing_key));
    assert!(
        stdout.contains("INSECURE DEVELOPMENT ATTESTATION"),
        "{stdout}"
    );

    let on_chain = client.enclave(enclave).await.unwrap().value;
    assert_eq!(on_chain.pk, signing_key);
    assert_eq!(on_chain.config_version, 0);
    assert_eq!(
        client.enclave_public_key(enclave).await.unwrap().as_bytes(),
        &signing_key
    );

    // A new image for the other config: its PCRs replaced with the
    // master's (version 1), the master registers under it.
    let updated = config_command(
        &cap_wallet,
        &["update", &other.to_string(), "--pcrs", pcrs_arg],
    );
    let stdout = String::from_utf8_lossy(&updated.stdout);
    assert!(
        updated.status.success(),
        "update: {}",
        String::from_utf8_lossy(&updated.stderr)
    );
    assert!(stdout.contains("version       1"), "{stdout}");
    assert!(
        stdout.contains("next          daas-console enclave register"),
        "{stdout}"
    );
    let registered = register(other);
    assert!(
        registered.status.success(),
        "enclave register after update: {}",
        String::from_utf8_lossy(&registered.stderr)
    );
    assert!(
        String::from_utf8_lossy(&registered.stdout).contains(&format!("{other} (version 1)")),
        "{}",
        String::from_utf8_lossy(&registered.stdout)
    );

    // The first enclave is current: it cannot be deleted. Once its config
    // moves on (other PCRs, version 1), anyone may delete it.
    let destroy = || {
        console(
            &wallet,
            &[
                "enclave",
                "destroy",
                &enclave.to_string(),
                "--chain-endpoint",
                chain,
                "--yes",
            ],
            b"",
        )
    };
    let refused = destroy();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "deleted a current enclave");
    assert!(
        stderr.contains(&format!("Enclave {enclave} is current")),
        "{stderr}"
    );
    let mut update_config = vec!["update", &config_text];
    for pcr in &other_pcrs {
        update_config.extend_from_slice(&["--pcr", pcr]);
    }
    let updated = config_command(&cap_wallet, &update_config);
    assert!(
        updated.status.success(),
        "{}",
        String::from_utf8_lossy(&updated.stderr)
    );
    let deleted = destroy();
    assert!(
        deleted.status.success(),
        "enclave destroy: {}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert!(
        String::from_utf8_lossy(&deleted.stdout).contains(&format!("deleted       {enclave}")),
        "{}",
        String::from_utf8_lossy(&deleted.stdout)
    );
    assert!(
        client.enclave(enclave).await.is_err(),
        "the enclave is still on chain"
    );
}

/// Imports `key` into the wallet at `wallet`.
fn import(wallet: &Path, key: &Keypair) {
    let imported = console(
        wallet,
        &["wallet", "import", "--alias", "key", "--suiprivkey"],
        key.to_suiprivkey().as_bytes(),
    );
    assert!(
        imported.status.success(),
        "wallet import: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
}

/// The config a successful `enclave config create` printed.
fn config_id(output: &Output) -> Address {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "enclave config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("config "))
        .unwrap_or_else(|| panic!("no config in {stdout}"))
        .trim()
        .parse()
        .unwrap()
}
