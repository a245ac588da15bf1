//! `daas-credential`: the kubectl exec credential plugin's fast path.
//!
//! kubectl starts the plugin for every command, and almost every time the
//! answer is a cached token whose chain check is recent. The whole console
//! is a 43 MB executable with 50,000 relocations, which costs milliseconds
//! before `main`; this one links only what that answer needs (arguments,
//! configuration, the cache), with no async runtime, wallet or network.
//! When the chain or the wallet is needed it becomes `daas-console` beside
//! it, with the same arguments (`exec`), which checks, signs and caches.
//! `daas-console kubeconfig` writes it as the plugin when it is there.

use clap::{Parser, Subcommand};
use daas_console::cli::{self, CredentialArgs, GlobalArgs};

/// The kubectl credential plugin of K3s-DaaS: takes the arguments of
/// `daas-console [OPTIONS] credential …`.
#[derive(Debug, Parser)]
#[command(name = "daas-credential", version)]
struct PluginCli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Print a wallet-signed access token as an ExecCredential (as `daas-console credential`).
    Credential(CredentialArgs),
}

fn main() -> std::process::ExitCode {
    let plugin = PluginCli::parse();
    let PluginCommand::Credential(args) = &plugin.command;
    match cli::credential_from_cache(&plugin.global, args) {
        Ok(false) => cli::exit_code(Err(become_console())),
        answered => cli::exit_code(answered.map(drop)),
    }
}

/// Replaces this process with `daas-console` (beside this executable)
/// and the same arguments; returns only why that failed.
fn become_console() -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;

    let console = match cli::sibling_exe(cli::CONSOLE_EXE) {
        Ok(console) => console,
        Err(error) => return error,
    };
    let error = std::process::Command::new(&console)
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::anyhow!(
        "cannot run {} to check the chain and sign ({error}); daas-credential needs daas-console beside it",
        console.display()
    )
}
