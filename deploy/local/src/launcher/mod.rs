//! `daas-local`: the whole K3s-DaaS on this machine as a product, kept in a
//! state directory between runs.
//!
//! - `up` starts (or resumes) the devnet, the control plane wired to the
//!   master's webhooks, the master with dev attestation, one agent with a
//!   real kubelet node and N simulated agents; funds the wallets, registers
//!   the dev enclave, gives the operator the `SlasherCap`, writes a console
//!   profile, prints what to do next and runs until `down`, Ctrl-C or
//!   SIGTERM (opening the console first in a terminal).
//! - `down` stops a running stack; `status` says what runs; `reset`
//!   deletes the state directory.
//!
//! Every process runs in its own process group under a janitor (the
//! `supervisor` module) that stops the groups when the launcher goes away
//! in any way, SIGKILL included; the next `up` also stops whatever a
//! crashed launcher's recorded groups left ([`lock::clean_stale`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use daas_core::escape;

mod accounts;
mod commands;
pub mod layout;
pub mod lock;
mod profile;
mod up;

pub use layout::{Layout, Ports};

/// Why the local stack cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A port the stack serves is taken.
    #[error(
        "port {port} for {what} is in use: {source} (stop what uses it or choose another port)"
    )]
    PortBusy {
        /// The port.
        port: u16,
        /// What the stack serves there, with its flag.
        what: &'static str,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// Two components were given one port.
    #[error("port {port} is given to both {first} and {second}")]
    PortTwice {
        /// The port.
        port: u16,
        /// The first component.
        first: &'static str,
        /// The second.
        second: &'static str,
    },
    /// Binaries that `deploy/dev/setup.sh` installs are missing.
    #[error("{what} are missing ({detail}); run deploy/dev/setup.sh first")]
    Prerequisite {
        /// Which binaries.
        what: &'static str,
        /// The lookup's error.
        detail: String,
    },
    /// A signal could not be sent.
    #[error("signalling process {pid}: {source}")]
    Signal {
        /// The process.
        pid: u32,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A pid file holds no usable pid.
    #[error("{0} is not a process id")]
    BadPid(u32),
    /// There is no home directory to keep the state in.
    #[error("cannot find a data directory for the state; pass --state-dir DIR")]
    NoDataDir,
    /// The stack did not stop.
    #[error("the launcher (pid {0}) did not stop within 60 s; killed it")]
    StopTimeout(u32),
}

impl LocalError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "daas-local",
    version,
    about = "The whole K3s-DaaS on this machine"
)]
pub struct Cli {
    /// Where the stack keeps its chain, cluster, wallets and logs
    /// (default: ~/.local/share/k3s-daas/local).
    #[arg(long, global = true, env = "DAAS_LOCAL_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `daas-local` subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Start (or resume) the stack and run until `down`, Ctrl-C or SIGTERM.
    Up(UpArgs),
    /// Stop a running stack (its state is kept).
    Down,
    /// Say whether the stack runs, and what.
    Status,
    /// Stop the stack if it runs and delete its state directory.
    Reset,
    /// One real worker node (containerd, runc, CNI, kubelet): the agent's
    /// node runtime, the stand-in for `k3s agent`.
    Node(crate::node_cmd::NodeArgs),
}

/// `daas-local up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Simulated agents (kwok nodes) besides the real one.
    #[arg(long, default_value_t = 3)]
    pub agents: usize,
    /// Do not open the console, even in a terminal.
    #[arg(long)]
    pub no_console: bool,
    /// The ports.
    #[command(flatten)]
    pub ports: Ports,
}

/// Runs the command line; the process's exit code.
pub async fn main(cli: Cli) -> ExitCode {
    let layout = match cli.state_dir.map_or_else(layout::default_state_dir, Ok) {
        Ok(root) => Layout::new(root),
        Err(error) => return fail(&error.into()),
    };
    let result = match cli.command {
        Command::Up(args) => up::run(&layout, args).await,
        Command::Down => commands::down(&layout).await,
        Command::Status => commands::status(&layout),
        Command::Reset => commands::reset(&layout).await,
        Command::Node(args) => return crate::node_cmd::main(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    report(error);
    ExitCode::FAILURE
}

/// Says what went wrong on one line of stderr. The message may quote the
/// master or the chain, so its control characters are written out.
fn report(error: &anyhow::Error) {
    let message = daas_core::error_chain::one_line(error.as_ref());
    eprintln!("daas-local: {}", escape::controls(&message));
}
