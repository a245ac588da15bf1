//! Real `daas-master` processes for the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use daas_core::attestation::{DevRoot, ExpectedPcrs, PcrPolicy, TrustRoots};
use daas_core::attested::AttestedClientConfig;
use daas_master::attestation::dev::{dev_pcrs, measure_binary};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The binary under test.
pub const MASTER: &str = env!("CARGO_BIN_EXE_daas-master");

/// A running child process, killed on drop.
pub struct Process {
    pub child: Child,
    /// Its first stdout line.
    pub first_line: String,
}

impl Process {
    /// Starts `daas-master ARGS` and waits for its first stdout line.
    pub async fn start(args: &[&str]) -> Self {
        let mut command = Command::new(MASTER);
        command.args(args);
        Self::spawn(command, Stdio::inherit()).await
    }

    /// [`Process::start`], its log (stderr) going to the file `log`.
    pub async fn start_logged(args: &[&str], log: &Path) -> Self {
        let mut command = Command::new(MASTER);
        command.args(args);
        Self::spawn(command, Stdio::from(std::fs::File::create(log).unwrap())).await
    }

    /// Runs `sh -c SCRIPT` (which ends by `exec`ing the master), its log
    /// going to the file `log`.
    pub async fn start_in_shell(script: &str, log: &Path) -> Self {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        Self::spawn(command, Stdio::from(std::fs::File::create(log).unwrap())).await
    }

    async fn spawn(mut command: Command, stderr: Stdio) -> Self {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("start daas-master");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first_line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("daas-master printed nothing within 60 s")
            .unwrap()
            .expect("daas-master exited before printing its address");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, first_line }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// A `daas-master serve --attestation dev` on loopback.
pub struct Master {
    pub process: Process,
    pub url: String,
    pub state_dir: PathBuf,
}

impl Master {
    /// Starts a dev master with its state in `state_dir`, listening on
    /// `listen` (e.g. `tcp:127.0.0.1:0`).
    pub async fn start_on(state_dir: &Path, listen: &str) -> Self {
        let state = state_dir.to_str().unwrap();
        let process = Process::start(&[
            "serve",
            "--listen",
            listen,
            "--state-dir",
            state,
            "--attestation",
            "dev",
        ])
        .await;
        let url = process
            .first_line
            .strip_prefix("daas-master listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {:?}", process.first_line))
            .to_owned();
        Self {
            process,
            url,
            state_dir: state_dir.to_owned(),
        }
    }

    /// Starts a dev master on a free loopback port.
    pub async fn start(state_dir: &Path) -> Self {
        Self::start_on(state_dir, "tcp:127.0.0.1:0").await
    }

    /// Its dev root.
    pub fn dev_root(&self) -> DevRoot {
        let pem = std::fs::read_to_string(self.state_dir.join("dev-root.pem")).unwrap();
        DevRoot::from_pem(&pem).unwrap()
    }

    /// A client config that expects this build's PCRs and opts in to dev
    /// attestation with this master's root.
    pub fn dev_client_config(&self) -> AttestedClientConfig {
        AttestedClientConfig::new(
            TrustRoots::insecure_dev_only(self.dev_root()),
            PcrPolicy::Expect(expected_pcrs()),
        )
        .allow_insecure_dev(true)
    }
}

/// The PCRs the dev provider reports for the binary under test.
pub fn expected_pcrs() -> ExpectedPcrs {
    let pcrs = dev_pcrs(&measure_binary(Path::new(MASTER)).unwrap());
    ExpectedPcrs {
        pcr0: pcrs[&0],
        pcr1: pcrs[&1],
        pcr2: pcrs[&2],
        pcr8: None,
    }
}
