//! `daas-console`: the K3s-DaaS operator console.

/// Writes a line to stdout, returning the `io::Result` instead of panicking
/// like `println!` does when the reader has gone (`daas-console … | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod attest;
mod attest_live;
mod cli;
mod credential;
mod enclave;
mod kubeconfig;
mod pcr_args;
mod wallet;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Wallet(command) => wallet::run(&cli.global, command),
        cli::Command::Attest(args) => attest::run(args),
        cli::Command::Credential(args) => credential::run(&cli.global, &args),
        cli::Command::Kubeconfig(args) => kubeconfig::run(&cli.global, &args),
        cli::Command::Enclave(command) => enclave::run(&cli.global, command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The reader of our output went away: stop quietly, as Unix tools do.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
