//! The node runtime: `k3s agent --server URL --token-file FILE
//! --node-name NAME` (in tests, the harness's `daas-node`, which takes the
//! same flags), kept running with restarts and back-off, its output
//! forwarded to `tracing`.
//!
//! The join token is only ever in a 0600 file; the child gets neither the
//! wallet passphrase nor systemd's credentials directory. The child's pid
//! is kept in a file so that an agent restarted after kill -9 stops the
//! orphaned runtime before starting a new one.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument as _, info, info_span, warn};

use crate::config::RuntimeSettings;
use crate::wallet::CREDENTIALS_DIRECTORY;

/// The first wait after the runtime died.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// A run this long resets the back-off.
const STABLE_RUN: Duration = Duration::from_secs(60);
/// How long a stopped runtime gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// What the runtime is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The API server URL.
    pub server: String,
    /// The 0600 file holding the K10 join token.
    pub token_file: PathBuf,
    /// The cluster CA (PEM) file.
    pub ca_file: PathBuf,
    /// The node's name.
    pub node_name: String,
    /// The runtime's data directory.
    pub data_dir: PathBuf,
}

/// The program and arguments of `settings` for `launch`.
pub fn command_line(settings: &RuntimeSettings, launch: &Launch) -> Vec<String> {
    let mut line = settings.command.clone();
    line.extend([
        "--server".to_owned(),
        launch.server.clone(),
        "--token-file".to_owned(),
        launch.token_file.display().to_string(),
        "--node-name".to_owned(),
        launch.node_name.clone(),
    ]);
    line.extend(settings.extra_args.iter().map(|arg| {
        arg.replace("{ca_file}", &launch.ca_file.display().to_string())
            .replace("{node_name}", &launch.node_name)
            .replace("{data_dir}", &launch.data_dir.display().to_string())
    }));
    line
}

/// Whether the runtime is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeState {
    /// Starting or running.
    Running,
    /// Died; waiting to restart.
    BackingOff,
    /// Stopped on request.
    Stopped,
}

/// A supervised runtime. [`Supervisor::stop`] ends it.
#[derive(Debug)]
pub struct Supervisor {
    stop: watch::Sender<bool>,
    state: watch::Receiver<RuntimeState>,
    task: JoinHandle<()>,
}

impl Supervisor {
    /// Starts `line` (program first) and keeps it running; its pid is kept
    /// in `pid_file`. A runtime left by a previous agent (a live pid in
    /// `pid_file`) is stopped first.
    pub async fn start(line: Vec<String>, pid_file: PathBuf, max_backoff: Duration) -> Self {
        if let Some(program) = line.first() {
            stop_orphan(&pid_file, program).await;
        }
        let (stop, stop_rx) = watch::channel(false);
        let (state_tx, state) = watch::channel(RuntimeState::Running);
        let span = info_span!("runtime", program = %line.first().map_or("", String::as_str));
        let task = tokio::spawn(
            supervise(line, pid_file, max_backoff, stop_rx, state_tx).instrument(span),
        );
        Self { stop, state, task }
    }

    /// Whether the runtime is up now.
    pub fn state(&self) -> RuntimeState {
        *self.state.borrow()
    }

    /// Stops the runtime (SIGTERM, then SIGKILL after [`STOP_GRACE`]) and
    /// waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            warn!(%error, "the runtime supervisor ended abnormally");
        }
    }
}

async fn supervise(
    line: Vec<String>,
    pid_file: PathBuf,
    max_backoff: Duration,
    mut stop: watch::Receiver<bool>,
    state: watch::Sender<RuntimeState>,
) {
    let mut backoff = INITIAL_BACKOFF;
    loop {
        let started = tokio::time::Instant::now();
        let _ = state.send(RuntimeState::Running);
        match spawn(&line, &pid_file) {
            Ok(mut child) => {
                tokio::select! {
                    status = child.wait() => match status {
                        Ok(status) => warn!(%status, "the runtime exited; restarting after {backoff:?}"),
                        Err(error) => warn!(%error, "the runtime was lost; restarting after {backoff:?}"),
                    },
                    _ = stop.changed() => {
                        terminate(&mut child, STOP_GRACE).await;
                        remove_pid_file(&pid_file);
                        let _ = state.send(RuntimeState::Stopped);
                        return;
                    }
                }
            }
            Err(error) => warn!(%error, "the runtime could not start; retrying after {backoff:?}"),
        }
        remove_pid_file(&pid_file);
        let _ = state.send(RuntimeState::BackingOff);
        if started.elapsed() >= STABLE_RUN {
            backoff = INITIAL_BACKOFF;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {
                let _ = state.send(RuntimeState::Stopped);
                return;
            }
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}

fn spawn(line: &[String], pid_file: &Path) -> std::io::Result<Child> {
    let (program, args) = line
        .split_first()
        .ok_or_else(|| std::io::Error::other("the runtime command is empty"))?;
    let mut child = Command::new(program)
        .args(args)
        .env_remove(CREDENTIALS_DIRECTORY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(pid) = child.id() {
        info!(pid, "runtime started");
        if let Err(error) =
            daas_core::private_file::write_atomic(pid_file, pid.to_string().as_bytes())
        {
            warn!(%error, "the runtime's pid was not recorded");
        }
    }
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(forward(stdout, "stdout").in_current_span());
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward(stderr, "stderr").in_current_span());
    }
    Ok(child)
}

/// Forwards the runtime's output lines to `tracing`.
async fn forward(stream: impl AsyncRead + Unpin, name: &'static str) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        info!(stream = name, "{line}");
    }
}

/// SIGTERM, then SIGKILL after `grace`.
async fn terminate(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id().and_then(|id| Pid::from_raw(id.cast_signed())) {
        let _ = kill_process(pid, Signal::TERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => info!(%status, "runtime stopped"),
        Ok(Err(error)) => warn!(%error, "the runtime's end was not seen"),
        Err(_) => {
            warn!("the runtime ignored SIGTERM for {grace:?}; killing it");
            let _ = child.kill().await;
        }
    }
}

/// Stops a runtime a previous agent left running (after kill -9), for an
/// agent that will not start one (it is leaving).
pub async fn stop_left_over(pid_file: &Path, command: &[String]) {
    if let Some(program) = command.first() {
        stop_orphan(pid_file, program).await;
    }
}

/// Stops a runtime a previous agent left running (after kill -9): the
/// process in `pid_file`, if it is alive and runs `program` (a reused pid
/// is left alone).
async fn stop_orphan(pid_file: &Path, program: &str) {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return;
    };
    let Some(pid) = text.trim().parse::<i32>().ok().and_then(Pid::from_raw) else {
        remove_pid_file(pid_file);
        return;
    };
    if !runs(pid, program) || kill_process(pid, Signal::TERM).is_err() {
        remove_pid_file(pid_file);
        return;
    }
    warn!(
        pid = pid.as_raw_nonzero().get(),
        "stopping the runtime a previous agent left running"
    );
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    while tokio::time::Instant::now() < deadline {
        if !Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists() || is_zombie(pid) {
            remove_pid_file(pid_file);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = kill_process(pid, Signal::KILL);
    remove_pid_file(pid_file);
}

/// Whether process `pid` was started as `program`.
fn runs(pid: Pid, program: &str) -> bool {
    std::fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero()))
        .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).next() == Some(program.as_bytes()))
}

fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s == "Z"))
        })
        .unwrap_or(true)
}

fn remove_pid_file(pid_file: &Path) {
    if let Err(error) = std::fs::remove_file(pid_file)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        warn!(%error, "the runtime's pid file was not removed");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn launch() -> Launch {
        Launch {
            server: "https://10.0.0.1:6443".to_owned(),
            token_file: PathBuf::from("/var/lib/daas-agent/join-token"),
            ca_file: PathBuf::from("/var/lib/daas-agent/cluster-ca.pem"),
            node_name: "worker-1".to_owned(),
            data_dir: PathBuf::from("/var/lib/k3s"),
        }
    }

    #[test]
    fn the_token_is_a_file_and_placeholders_are_filled() {
        let settings = RuntimeSettings {
            command: vec!["/usr/local/bin/k3s".to_owned(), "agent".to_owned()],
            extra_args: vec![
                "--data-dir".to_owned(),
                "{data_dir}".to_owned(),
                "--ca={ca_file}".to_owned(),
            ],
            max_backoff: Duration::from_secs(1),
        };
        let line = command_line(&settings, &launch());
        assert_eq!(
            line,
            [
                "/usr/local/bin/k3s",
                "agent",
                "--server",
                "https://10.0.0.1:6443",
                "--token-file",
                "/var/lib/daas-agent/join-token",
                "--node-name",
                "worker-1",
                "--data-dir",
                "/var/lib/k3s",
                "--ca=/var/lib/daas-agent/cluster-ca.pem",
            ]
        );
    }

    #[tokio::test]
    async fn a_dying_runtime_is_restarted_and_stop_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let script = format!("echo x >> {}; exit 3", count.display());
        let line = vec!["sh".to_owned(), "-c".to_owned(), script];
        let supervisor =
            Supervisor::start(line, dir.path().join("pid"), Duration::from_millis(10)).await;
        for _ in 0..200 {
            let runs = std::fs::read_to_string(&count)
                .unwrap_or_default()
                .lines()
                .count();
            if runs >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        supervisor.stop().await;
        let runs = std::fs::read_to_string(&count).unwrap().lines().count();
        assert!(runs >= 2, "restarted {runs} times");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_of_a_killed_agent_is_stopped_first() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut orphan = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        std::fs::write(&pid_file, orphan.id().to_string()).unwrap();
        // An orphan of a killed agent runs its program: wait until this one
        // shows it (right after spawning, /proc may still show the test's).
        let pid = Pid::from_raw(i32::try_from(orphan.id()).unwrap()).unwrap();
        for _ in 0..100 {
            if runs(pid, "sleep") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let line = vec!["sleep".to_owned(), "600".to_owned()];
        let supervisor = Supervisor::start(line, pid_file.clone(), Duration::from_secs(1)).await;
        // Bounded: a missed orphan fails the test instead of hanging it.
        let mut exited = None;
        for _ in 0..100 {
            exited = orphan.try_wait().unwrap();
            if exited.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = orphan.kill();
        assert!(
            exited.is_some_and(|status| !status.success()),
            "the orphan was not stopped"
        );
        assert_eq!(supervisor.state(), RuntimeState::Running);
        supervisor.stop().await;
        assert!(!pid_file.exists());
    }
}
