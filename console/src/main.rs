//! `daas-console`: the K3s-DaaS operator console.

use anyhow::Context as _;
use clap::Parser as _;
use daas_console::cli::{self, Cli};
use daas_console::tui;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime");
    cli::exit_code(runtime.and_then(|runtime| {
        match cli.command {
            Some(command) => runtime.block_on(cli::run(&cli.global, command)),
            None => cli::settings(&cli.global, None)
                .and_then(|settings| runtime.block_on(tui::run(settings))),
        }
    }))
}
