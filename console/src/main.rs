//! `daas-console`: the K3s-DaaS operator console.

use clap::Parser as _;
use daas_console::cli::{self, Cli};
use daas_console::tui;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(command) => runtime.block_on(cli::run(&cli.global, command)),
        None => cli::settings(&cli.global, None)
            .and_then(|settings| runtime.block_on(tui::run(settings))),
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
