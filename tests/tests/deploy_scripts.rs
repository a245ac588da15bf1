//! The deployment scripts (`deploy/*.sh`): every one plans its work under
//! `--dry-run`, stops naming a missing prerequisite, records the ids of a
//! publish, and `4-system-integration-test.sh` passes against the local
//! stack (devnet, control plane, master with dev attestation), including a
//! new viewer's stake → kubectl → unstake → refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use daas_e2e::binaries::{self, CONSOLE};
use daas_e2e::k3s;
use daas_e2e::stack::{Stack, StackOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Runs a deploy script with `PATH` limited to the system's directories (no
/// sui, nitro-cli or aws), plus `extra_path` first.
fn script(name: &str, args: &[&str], extra_path: Option<&Path>) -> Output {
    let mut path = String::new();
    if let Some(extra) = extra_path {
        path.push_str(&format!("{}:", extra.display()));
    }
    path.push_str("/usr/local/bin:/usr/bin:/bin");
    let mut command = Command::new(repo().join("deploy").join(name));
    daas_e2e::binaries::without_console_env(&mut command)
        .args(args)
        .env("PATH", path)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Files the worker and enclave scripts want to exist.
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "worker-config.yaml",
            "wallet.json",
            "daas-agent",
            "k3s",
            "daas-master",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let passphrase = dir.path().join("passphrase");
        std::fs::write(&passphrase, "correct horse").unwrap();
        std::fs::set_permissions(
            &passphrase,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The worker script's file arguments, then `more`.
    fn worker_args(&self, more: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--config".into(),
            self.path("worker-config.yaml"),
            "--wallet".into(),
            self.path("wallet.json"),
            "--passphrase-file".into(),
            self.path("passphrase"),
            "--agent-bin".into(),
            self.path("daas-agent"),
        ];
        args.extend(more.iter().map(|arg| (*arg).to_owned()));
        args
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn every_script_plans_its_work_in_a_dry_run() {
    let inputs = Inputs::new();
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().display().to_string();
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "1-sui-contracts-deploy.sh",
            vec!["--dry-run".into(), "--out".into(), out_dir.clone()],
            "sui client publish",
        ),
        (
            "2-ec2-worker-deploy.sh",
            inputs.worker_args(&["--dry-run", "--host", "admin@192.0.2.10"]),
            "install.sh",
        ),
        (
            "3-nautilus-tee-deploy.sh",
            vec![
                "--dry-run".into(),
                "--config".into(),
                repo()
                    .join("deploy/nautilus/nautilus-config.yaml")
                    .display()
                    .to_string(),
                "--k3s-bin".into(),
                inputs.path("k3s"),
                "--master-bin".into(),
                inputs.path("daas-master"),
                "--out".into(),
                out_dir.clone(),
            ],
            "nitro-cli run-enclave",
        ),
        (
            "4-system-integration-test.sh",
            vec![
                "--dry-run".into(),
                "--master".into(),
                "https://192.0.2.1:6443".into(),
                "--chain".into(),
                "https://fullnode.testnet.sui.io:443".into(),
                "--dev-root".into(),
                inputs.path("k3s"),
                "--console".into(),
                inputs.path("daas-agent"),
            ],
            "attest",
        ),
    ];
    for (name, args, planned) in cases {
        let output = script(name, &strs(&args), None);
        let message = stderr(&output);
        assert!(output.status.success(), "{name} --dry-run: {message}");
        assert!(
            message.contains("[dry-run]") && message.contains(planned),
            "{name}: {message}"
        );
    }
    let all = script(
        "deploy-all.sh",
        &[
            "--dry-run",
            "--k3s-bin",
            &inputs.path("k3s"),
            "--worker-config",
            &inputs.path("worker-config.yaml"),
            "--wallet",
            &inputs.path("wallet.json"),
            "--passphrase-file",
            &inputs.path("passphrase"),
            "--worker-host",
            "admin@192.0.2.10",
        ],
        None,
    );
    let message = stderr(&all);
    assert!(all.status.success(), "deploy-all.sh --dry-run: {message}");
    for step in [
        "1/4",
        "2/4",
        "3/4",
        "4/4",
        "nitro-cli build-enclave",
        "sui client publish",
    ] {
        assert!(
            message.contains(step),
            "deploy-all.sh misses {step}: {message}"
        );
    }
}

#[test]
fn a_missing_prerequisite_stops_a_real_run_by_name() {
    let inputs = Inputs::new();
    let publish = script("1-sui-contracts-deploy.sh", &[], None);
    assert!(!publish.status.success());
    assert!(
        stderr(&publish).contains("prerequisite missing: sui"),
        "{}",
        stderr(&publish)
    );

    let enclave = script(
        "3-nautilus-tee-deploy.sh",
        &["--config", &inputs.path("worker-config.yaml")],
        None,
    );
    assert!(!enclave.status.success());
    assert!(
        stderr(&enclave).contains("prerequisite missing: nitro-cli"),
        "{}",
        stderr(&enclave)
    );

    // ssh and scp exist as stubs here so that the run reaches the AWS CLI.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["ssh", "scp"] {
        let path = bin.path().join(tool);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let launch_args = inputs.worker_args(&[
        "--launch",
        "--ami",
        "ami-0123456789abcdef0",
        "--instance-type",
        "m5.xlarge",
        "--key-name",
        "ops",
    ]);
    let launch = script(
        "2-ec2-worker-deploy.sh",
        &strs(&launch_args),
        Some(bin.path()),
    );
    assert!(!launch.status.success());
    assert!(
        stderr(&launch).contains("prerequisite missing: aws"),
        "{}",
        stderr(&launch)
    );

    let unknown = script(
        "3-nautilus-tee-deploy.sh",
        &["--cpu-count", "two", "--config", "x"],
        None,
    );
    assert!(
        stderr(&unknown).contains("--cpu-count must be a number"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn the_worker_script_refuses_a_passphrase_others_can_read() {
    let inputs = Inputs::new();
    let passphrase = inputs.path("passphrase");
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let args = inputs.worker_args(&["--dry-run", "--host", "admin@192.0.2.10"]);
    let output = script("2-ec2-worker-deploy.sh", &strs(&args), None);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("chmod 600"), "{}", stderr(&output));
}

#[test]
fn publishing_records_the_ids_in_the_configs() {
    let out = tempfile::tempdir().unwrap();
    let fixture = repo().join("tests/fixtures/sui-publish.json");
    let output = script(
        "1-sui-contracts-deploy.sh",
        &[
            "--publish-json",
            &fixture.display().to_string(),
            "--out",
            &out.path().display().to_string(),
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let env = std::fs::read_to_string(out.path().join("chain.env")).unwrap();
    let package = format!("PACKAGE_ID=0x{}", "ab".repeat(32));
    let pool = format!("STAKE_POOL_ID=0x{}", "21".repeat(32));
    assert!(env.contains(&package) && env.contains(&pool), "{env}");
    let config = std::fs::read_to_string(out.path().join("nautilus-config.yaml")).unwrap();
    assert!(
        config.contains(&format!("package_id: \"0x{}\"", "ab".repeat(32))),
        "{config}"
    );
    assert!(
        config.contains(&format!("stake_pool_id: \"0x{}\"", "21".repeat(32))),
        "{config}"
    );
    assert!(config.contains("profile: \"testnet\""), "{config}");
    let worker = std::fs::read_to_string(out.path().join("worker-config.yaml")).unwrap();
    assert!(
        worker.contains(&format!("staking_contract: \"0x{}\"", "ab".repeat(32)))
            && worker.contains(&format!("stake_pool: \"0x{}\"", "21".repeat(32))),
        "{worker}"
    );

    // A publish output that created no stake pool names what is missing.
    let broken = out.path().join("broken.json");
    std::fs::write(&broken, r#"{"digest":"x","objectChanges":[]}"#).unwrap();
    let refused = script(
        "1-sui-contracts-deploy.sh",
        &[
            "--publish-json",
            &broken.display().to_string(),
            "--out",
            &out.path().display().to_string(),
        ],
        None,
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("names no valid PACKAGE_ID"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integration_check_passes_against_the_local_stack() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let console = binaries::workspace_binary(CONSOLE).unwrap();
    let kubectl_dir = k3s::Binaries::locate()
        .unwrap()
        .kubectl
        .parent()
        .unwrap()
        .to_owned();
    let dev_root = stack.master.state_dir().join("dev-root.pem");
    let output = tokio::task::spawn_blocking({
        let master = stack.master.url().to_owned();
        let chain = stack.devnet.url().to_owned();
        move || {
            script(
                "4-system-integration-test.sh",
                &[
                    "--master",
                    &master,
                    "--chain",
                    &chain,
                    "--dev-root",
                    &dev_root.display().to_string(),
                    "--console",
                    &console.display().to_string(),
                    "--faucet",
                ],
                Some(&kubectl_dir),
            )
        }
    })
    .await
    .unwrap();
    let message = stderr(&output);
    assert!(
        output.status.success(),
        "{message}\nmaster log:\n{}",
        stack.master.log_tail(40)
    );
    for step in [
        "ok   attestation verifies",
        "ok   kubectl get pods as the viewer",
        "ok   kubectl refused after unstake",
    ] {
        assert!(message.contains(step), "{step}: {message}");
    }
}
