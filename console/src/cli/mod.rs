//! The scripting face: clap subcommands over [`crate::ops`], with text or
//! `--json` output. The only place that prints and prompts.

mod args;
mod attest;
mod audit;
mod credential;
mod enclave;
mod gateway;
mod kubeconfig;
mod nodes;
mod output;
mod pcr_args;
mod prompt;
mod seal_token;
mod slash;
mod stake;
mod wallet;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

pub use args::{Cli, Command, CredentialArgs, GlobalArgs};
pub use credential::run_from_cache as credential_from_cache;
pub use prompt::PASSPHRASE_ENV;

use crate::config::{self, Overrides, Settings};
use crate::ops::Context;
use output::note;

/// The exit code for a command's result, printing its error. A reader of
/// our output that went away ends the process quietly, as Unix tools do.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            note!(
                "error: {}",
                daas_core::error_chain::one_line(error.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Runs one subcommand.
///
/// # Errors
/// The operation's error, for `main` to print.
pub async fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Wallet(command) => wallet::run(global, command).await,
        Command::Stake(command) => stake::run(global, command).await,
        Command::Nodes(command) => nodes::run(global, command).await,
        Command::Attest(args) => attest::run(global, args).await,
        Command::Slash(command) => slash::run(global, command).await,
        Command::Enclave(command) => enclave::run(global, command).await,
        Command::Gateway(command) => gateway::run(global, command).await,
        Command::Audit(command) => audit::run(global, command).await,
        Command::Credential(args) => credential::run(global, &args).await,
        Command::Kubeconfig(args) => kubeconfig::run(global, &args).await,
        Command::SealToken(command) => seal_token::run(global, command).await,
    }
}

/// The overrides the global flags make; `master` is a URL given to the
/// command itself (`attest URL`), which wins over `--master`.
///
/// # Errors
/// `--dev-root` and `--allow-insecure-dev` do not come together.
pub fn overrides(global: &GlobalArgs, master: Option<&str>) -> anyhow::Result<Overrides> {
    let dev_root = match (&global.dev_root, global.allow_insecure_dev) {
        (None, false) => None,
        (Some(_), false) => {
            bail!("--dev-root is trusted only with --allow-insecure-dev (insecure!)")
        }
        (None, true) => bail!(
            "--allow-insecure-dev needs --dev-root <PEM> (the master's <state-dir>/dev-root.pem)"
        ),
        (Some(path), true) => Some(path.clone()),
    };
    Ok(Overrides {
        config: global.config_file.clone(),
        profile: global.profile.clone(),
        master: master.map(str::to_owned).or_else(|| global.master.clone()),
        chain: global.chain.clone(),
        readonly: global.readonly,
        theme: global.theme.clone(),
        dev_root,
        key: global.key.clone(),
        wallet_dir: global.wallet_dir.clone(),
        passphrase_file: global.passphrase_file.clone(),
        kubeconfig: global.kube_config.clone(),
        kube_context: global.kube_context.clone(),
        timeout: global.timeout.map(|secs| Duration::from_secs(secs.max(1))),
    })
}

/// The settings for this invocation.
///
/// # Errors
/// The configuration or the flags are unusable.
pub fn settings(global: &GlobalArgs, master: Option<&str>) -> anyhow::Result<Settings> {
    Ok(config::load(&overrides(global, master)?)?)
}

/// The operations' context for this invocation.
///
/// # Errors
/// As [`settings`].
pub fn context(global: &GlobalArgs, master: Option<&str>) -> anyhow::Result<Context> {
    Ok(Context::new(settings(global, master)?))
}

/// The console's executable (`src/main.rs`).
pub const CONSOLE_EXE: &str = "daas-console";
/// The plugin-only executable (`src/bin/daas-credential.rs`).
pub const PLUGIN_EXE: &str = "daas-credential";

/// The executable `name` in this executable's directory (where cargo
/// builds and installs the console's binaries together).
///
/// # Errors
/// This executable's path cannot be found.
pub fn sibling_exe(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    Ok(exe.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// The kubeconfig's plugin command, an absolute path: `daas-credential`
/// beside this executable when it is there (it starts in a fraction of the
/// console's time, and kubectl starts it for every command), else this
/// executable. Both take the same arguments.
///
/// # Errors
/// The path cannot be found or is not UTF-8.
pub fn plugin_command() -> anyhow::Result<String> {
    let plugin = sibling_exe(PLUGIN_EXE)?;
    let command = if plugin.is_file() {
        plugin
    } else {
        std::env::current_exe().context("cannot find this executable's path")?
    };
    command
        .into_os_string()
        .into_string()
        .map_err(|_| anyhow::anyhow!("this executable's path is not UTF-8; pass --command"))
}
