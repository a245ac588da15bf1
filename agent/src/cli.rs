//! The command line: `daas-agent run` and `daas-agent unstake`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use daas_core::error_chain::one_line;
use daas_core::escape;
use daas_core::package::{Mist, SealTokenId};
use tracing::info;

use crate::config::{AgentConfig, Overrides};
use crate::exit::Exit;
use crate::lock;
use crate::run::{Agent, UNSTAKE_REQUEST_FILE};
use crate::state::{Phase, StateStore};

/// The K3s-DaaS worker agent: stakes, proves its stake to the attested
/// master, runs the node runtime, heartbeats, and leaves on unstake.
///
/// Exit statuses: 0 stopped by a signal, 1 failure, 2 usage, 10 revoked by
/// the chain, 11 master refused (attestation), 12 left (withdrawn),
/// 78 bad configuration.
#[derive(Debug, Parser)]
#[command(name = "daas-agent", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Join the cluster and run the node until stopped or revoked.
    Run(RunArgs),
    /// Leave: drain, unstake, stop the runtime, withdraw after unbonding.
    /// A running agent is asked to do it; otherwise this process does.
    Unstake(Common),
    /// SIMULATION: N simulated agents (own wallet, stake, registration,
    /// kwok node, heartbeats) in one process, to load a master at scale.
    Simulate(crate::simulate::SimulateArgs),
}

/// Options of `daas-agent run`.
#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Register with this worker seal token (object id) instead of the
    /// remembered one, e.g. a new stake after a slash (the seed's
    /// `--register --token`). The chain must say it holds this node for
    /// this wallet; otherwise the agent exits revoked and keeps its state.
    #[arg(long, visible_alias = "token", value_name = "SEAL_TOKEN_ID")]
    seal_token: Option<SealTokenId>,
}

/// Options of every subcommand.
#[derive(Debug, Args)]
struct Common {
    /// The worker configuration (`worker-config.yaml`).
    #[arg(long, default_value = "/etc/daas-agent/worker-config.yaml")]
    config: PathBuf,
    /// The Sui full node (overrides sui.rpc_endpoint).
    #[arg(long, env = "SUI_RPC_URL")]
    sui_rpc_url: Option<String>,
    /// The k3s_daas package (overrides sui.staking_contract).
    #[arg(long, env = "STAKING_CONTRACT")]
    staking_contract: Option<String>,
    /// The attested master (overrides k3s.master_endpoint).
    #[arg(long, env = "MASTER_ENDPOINT")]
    master_endpoint: Option<String>,
    /// Stake to put up in SUI, e.g. `5` (overrides node.stake_amount).
    #[arg(long)]
    stake_amount: Option<Mist>,
}

impl Common {
    fn load(&self) -> Result<AgentConfig, crate::config::ConfigError> {
        let overrides = Overrides {
            rpc_endpoint: self.sui_rpc_url.clone(),
            staking_contract: self.staking_contract.clone(),
            master_endpoint: self.master_endpoint.clone(),
            stake_amount: self.stake_amount,
        };
        AgentConfig::load(&self.config, &overrides)
    }
}

/// Runs the command line and returns the exit status.
pub async fn main(cli: Cli) -> Exit {
    let (common, unstake, chosen) = match cli.command {
        Command::Run(ref run) => (&run.common, false, run.seal_token),
        Command::Unstake(ref common) => (common, true, None),
        Command::Simulate(args) => {
            return match crate::simulate::run(args).await {
                Ok(()) => Exit::Stopped,
                Err(error) => fail(&one_line(&error), Exit::Failed),
            };
        }
    };
    let config = match common.load() {
        Ok(config) => config,
        Err(error) => return fail(&one_line(&error), Exit::Config),
    };
    let held = match lock::try_lock(&config.state_dir) {
        Ok(held) => held,
        Err(error) => {
            return fail(
                &format!("cannot lock {}: {error}", config.state_dir.display()),
                Exit::Config,
            );
        }
    };
    let store = StateStore::new(&config.state_dir);
    if unstake {
        if let Err(error) = store.write_private(UNSTAKE_REQUEST_FILE, b"requested\n") {
            return fail(&one_line(&error), Exit::Failed);
        }
        if held.is_none() {
            info!("a running agent leaves; following its state");
            return follow(&store).await;
        }
    } else if held.is_none() {
        return fail(
            &format!(
                "another agent runs with state directory {}",
                config.state_dir.display()
            ),
            Exit::Config,
        );
    }
    let result = match Agent::open(config).await {
        Ok(agent) => agent.with_seal_token(chosen).run().await,
        Err(error) => Err(error),
    };
    match result {
        Ok(outcome) => outcome.exit(),
        Err(error) => fail(&one_line(&error), error.exit()),
    }
}

/// Says why the agent stops, once, on stderr (where its logs go too,
/// so it is not logged as well), and gives its exit status. The message
/// may quote the master or the chain, so its control characters are
/// written out.
fn fail(message: &str, exit: Exit) -> Exit {
    eprintln!("daas-agent: {}", escape::controls(message));
    exit
}

/// Waits until the running agent's state says it left.
async fn follow(store: &StateStore) -> Exit {
    let mut last = None;
    loop {
        let phase = std::fs::read(store.path(crate::state::STATE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<crate::state::AgentState>(&bytes).ok())
            .map(|state| state.phase);
        if phase != last {
            if let Some(phase) = &phase {
                eprintln!("daas-agent: the running agent is {phase}");
            }
            last.clone_from(&phase);
        }
        if phase == Some(Phase::Withdrawn) {
            return Exit::Left;
        }
        if lock::try_lock(store.dir()).ok().flatten().is_some() && phase != Some(Phase::Withdrawn) {
            return fail(
                "the running agent stopped before it left; run `daas-agent unstake` again",
                Exit::Failed,
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser as _;

    use super::*;

    #[test]
    fn flags_become_overrides() {
        let cli = Cli::try_parse_from([
            "daas-agent",
            "run",
            "--config",
            "/etc/w.yaml",
            "--sui-rpc-url",
            "http://127.0.0.1:1",
            "--staking-contract",
            "0x2",
            "--master-endpoint",
            "https://10.0.0.1:6443",
            "--stake-amount",
            "5.5",
        ])
        .unwrap();
        let Command::Run(RunArgs { common, seal_token }) = cli.command else {
            panic!("not run");
        };
        assert_eq!(seal_token, None);
        assert_eq!(common.config, PathBuf::from("/etc/w.yaml"));
        assert_eq!(common.sui_rpc_url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(common.staking_contract.as_deref(), Some("0x2"));
        assert_eq!(
            common.master_endpoint.as_deref(),
            Some("https://10.0.0.1:6443")
        );
        assert_eq!(common.stake_amount, Some(Mist::new(5_500_000_000)));
    }

    #[test]
    fn a_bad_stake_amount_is_a_usage_error() {
        let error =
            Cli::try_parse_from(["daas-agent", "run", "--stake-amount", "lots"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("stake-amount"), "{error}");
    }

    #[test]
    fn a_new_seal_token_is_named_by_its_object_id() {
        let id = format!("0x{}", "ab".repeat(32));
        for flag in ["--seal-token", "--token"] {
            let cli = Cli::try_parse_from(["daas-agent", "run", flag, &id]).unwrap();
            let Command::Run(run) = cli.command else {
                panic!("not run");
            };
            assert_eq!(run.seal_token.unwrap().to_string(), id);
        }
        let error =
            Cli::try_parse_from(["daas-agent", "run", "--seal-token", "0xnope"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("seal-token"), "{error}");
        let error =
            Cli::try_parse_from(["daas-agent", "unstake", "--seal-token", &id]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }
}
