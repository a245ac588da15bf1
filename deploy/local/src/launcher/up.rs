//! `daas-local up`: starts or resumes the stack, then runs until `down`,
//! Ctrl-C or SIGTERM.

use std::ffi::OsStr;
use std::io::IsTerminal as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use daas_core::attested::AttestedClient;
use daas_core::chain::{ChainClient, ChainConfig};
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use sui_sdk_types::{Address, Ed25519PublicKey};
use tokio::signal::unix::{SignalKind, signal};

use crate::binaries::{self, AGENT, CONSOLE, DEVNET, MASTER};
use crate::k3s::{self, Cluster, ClusterBuilder};
use crate::launcher::accounts::{self, Account, Facts};
use crate::launcher::commands::report_stale;
use crate::launcher::layout::{Layout, Ports};
use crate::launcher::profile::StackView;
use crate::launcher::{LocalError, UpArgs, lock};
use crate::stack::{self, WebhookFiles};
use crate::supervisor::Supervisor;
use crate::{devnet, kwok, node};

/// The real worker's node name.
pub const NODE_NAME: &str = "local-worker";
/// Simulated agents' node names: `local-sim-<index>`.
const SIMULATED_PREFIX: &str = "local-sim";
/// How long the devnet may take to accept connections.
const DEVNET_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the real node may take to become Ready.
const NODE_TIMEOUT: Duration = Duration::from_secs(240);
/// How often the master signs and anchors an audit checkpoint when events
/// come in: each anchor costs the devnet about 0.005 SUI, so the master's
/// 2 s default would spend the faucet's 100 SUI in half a day.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);
/// Stake of the real worker, in MIST (5 SUI).
const WORKER_STAKE: u64 = 5_000_000_000;
/// The master's gas accounts are topped up from the faucet (100 SUI) when
/// they fall below this, in MIST: 20 SUI pay for about a day and a half of
/// audit anchors at one per [`CHECKPOINT_INTERVAL`], or thousands of
/// gateway results.
const GAS_FLOOR: u64 = 20_000_000_000;
/// How often a running stack checks the master's gas.
const GAS_CHECK: Duration = Duration::from_secs(600);

/// The executables the stack runs.
struct Programs {
    devnet: PathBuf,
    master: PathBuf,
    console: PathBuf,
    agent: PathBuf,
    /// This launcher, whose `node` subcommand is the agent's node runtime.
    launcher: PathBuf,
}

/// A running stack; dropping it stops the agents, the master and the
/// devnet, then the control plane.
struct Running {
    run: Supervisor,
    _cluster: Cluster,
    gas: MasterGas,
}

/// The master's accounts that spend gas as long as the stack runs: its
/// audit gas key (anchoring the audit log) and its enclave key's address
/// (the gateway's results).
struct MasterGas {
    chain: ChainClient,
    url: String,
    accounts: Vec<(&'static str, Address)>,
}

impl MasterGas {
    /// Keeps `address` funded from now on, topping it up first.
    async fn add(&mut self, name: &'static str, address: Address) -> anyhow::Result<()> {
        self.top_up(name, address).await?;
        self.accounts.push((name, address));
        Ok(())
    }

    /// Tops up from the faucet each account below [`GAS_FLOOR`]; the names
    /// of those it topped up.
    async fn keep_funded(&self) -> anyhow::Result<Vec<&'static str>> {
        let mut topped = Vec::new();
        for &(name, address) in &self.accounts {
            if self.top_up(name, address).await? {
                topped.push(name);
            }
        }
        Ok(topped)
    }

    async fn top_up(&self, name: &'static str, address: Address) -> anyhow::Result<bool> {
        devnet::top_up(&self.chain, &self.url, address, GAS_FLOOR)
            .await
            .with_context(|| format!("the master's {name}"))
    }
}

/// How long `up` waits for a port that a stack just stopped may still hold
/// (an API server finishing its shutdown).
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(15);

/// Waits until every port is free, at most [`PORT_RELEASE_WAIT`].
///
/// # Errors
/// The port still taken, or one given twice.
async fn wait_for_free_ports(ports: &Ports) -> Result<(), LocalError> {
    let deadline = Instant::now() + PORT_RELEASE_WAIT;
    loop {
        match ports.check_free() {
            Err(LocalError::PortBusy { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            result => return result,
        }
    }
}

/// Runs `up`.
///
/// # Errors
/// A prerequisite is missing, a port is taken, or a component failed.
pub async fn run(layout: &Layout, args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let Some(held) = lock::try_lock(layout)? else {
        let pid = lock::launcher_pid(layout)
            .map_or_else(|| "starting".to_owned(), |pid| format!("pid {pid}"));
        println!(
            "the local stack in {} is already running ({pid}); `daas-local status` shows it",
            layout.root().display()
        );
        return Ok(());
    };
    report_stale(&lock::clean_stale(layout));
    held.record_self()?;
    check_prerequisites()?;
    wait_for_free_ports(&args.ports).await?;
    let programs = programs().await?;
    let mut terminate = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let (running, view_text, console_env) = tokio::select! {
        result = start(layout, &args, &programs) => result?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted while starting; stopped"),
        _ = terminate.recv() => bail!("terminated while starting; stopped"),
    };
    println!("{view_text}");
    println!(
        "ready in {:.1} s; Ctrl-C or `daas-local down` stops it (state is kept)",
        started.elapsed().as_secs_f64()
    );
    let console = (!args.no_console && std::io::stdout().is_terminal())
        .then(|| open_console(&programs.console, &console_env));
    serve(&running, console, &mut terminate).await;
    eprintln!("stopping the local stack");
    drop(running);
    drop(held);
    Ok(())
}

/// Runs until Ctrl-C, SIGTERM or a component's death, waiting for the
/// console first if one was opened.
async fn serve(
    running: &Running,
    console: Option<anyhow::Result<tokio::process::Child>>,
    terminate: &mut tokio::signal::unix::Signal,
) {
    if let Some(console) = console {
        match console {
            Ok(mut child) => {
                tokio::select! {
                    _ = child.wait() => eprintln!(
                        "console closed; the stack keeps running until Ctrl-C or `daas-local down`"
                    ),
                    _ = tokio::signal::ctrl_c() => return,
                    _ = terminate.recv() => return,
                }
            }
            Err(error) => super::report(&error.context("could not open the console")),
        }
    }
    let mut check = tokio::time::interval(Duration::from_secs(2));
    // `start` funded every account just now.
    let mut gas = tokio::time::interval_at(tokio::time::Instant::now() + GAS_CHECK, GAS_CHECK);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = terminate.recv() => return,
            _ = check.tick() => {
                if let Err(error) = running.run.check_alive() {
                    super::report(&error);
                    return;
                }
            }
            _ = gas.tick() => match running.gas.keep_funded().await {
                Ok(topped) => for name in topped {
                    eprintln!("daas-local: topped up the master's {name} from the faucet");
                },
                // The master keeps its events and requests until it can pay.
                Err(error) => super::report(&error),
            },
        }
    }
}

/// Opens the console on this stack's profile; the user's own console
/// settings are removed from its environment, so the profile's operator
/// wallet is the one used.
fn open_console(
    console: &Path,
    (name, value): &(&'static str, String),
) -> anyhow::Result<tokio::process::Child> {
    binaries::console_command(console)
        .env(name, value)
        .spawn()
        .context("starting daas-console")
}

/// The control-plane and node binaries that `deploy/dev/setup.sh` builds.
fn check_prerequisites() -> Result<(), LocalError> {
    let missing = |what, error: anyhow::Error| LocalError::Prerequisite {
        what,
        detail: format!("{error:#}"),
    };
    k3s::Binaries::locate().map_err(|e| missing("the control-plane binaries", e))?;
    node::NodeBinaries::locate().map_err(|e| missing("the node binaries", e))?;
    kwok::binary().map_err(|e| missing("the kwok binary", e))?;
    Ok(())
}

/// The workspace's binaries, built by Cargo if missing or stale.
async fn programs() -> anyhow::Result<Programs> {
    tokio::task::spawn_blocking(|| {
        let build = |name| {
            binaries::workspace_binary(name).map_err(|e| LocalError::Prerequisite {
                what: "the workspace binaries",
                detail: format!("{e:#}"),
            })
        };
        Ok(Programs {
            devnet: build(DEVNET)?,
            master: build(MASTER)?,
            console: build(CONSOLE)?,
            agent: build(AGENT)?,
            // The fresh build, not this process's executable, which the
            // build may just have replaced.
            launcher: build(binaries::LOCAL)?,
        })
    })
    .await
    .context("locating the binaries")?
}

/// Starts every component in order and returns the running stack, the
/// next-steps text and the console's environment.
async fn start(
    layout: &Layout,
    args: &UpArgs,
    programs: &Programs,
) -> anyhow::Result<(Running, String, (&'static str, String))> {
    let ports = args.ports;
    let run = Supervisor::persistent(&layout.run_dir())?;
    let mut facts = Facts::load(layout)?;
    let operator = Account::open_or_create(&layout.operator_dir(), "operator")?;
    let worker = Account::open_or_create(&layout.worker_dir(), "worker")?;
    let chain_url = format!("http://127.0.0.1:{}", ports.devnet_port);
    let master_url = format!("https://127.0.0.1:{}", ports.master_port);

    spawn_devnet(&run, layout, programs, &operator, ports.devnet_port).await?;
    let chain = ChainClient::new(ChainConfig::devnet(chain_url.clone()))
        .context("building a chain client for the devnet")?;
    accounts::fund_once(layout, &mut facts, &chain_url, operator.address()).await?;
    let mut gas = MasterGas {
        chain: chain.clone(),
        url: chain_url.clone(),
        accounts: Vec::new(),
    };
    gas.add("audit gas", accounts::audit_gas_key(layout)?)
        .await?;
    let operator_token = accounts::operator_seal_token(&chain, &operator).await?;
    let files = stack::write_webhook_files(&layout.master_dir(), ports.webhook_port).await?;
    let cluster = start_cluster(layout, &files, ports.apiserver_port).await?;
    let master = spawn_master(&run, layout, programs, &cluster, &chain_url, args).await?;
    trust_master_root(&run, layout, programs, &operator, ports.devnet_port).await?;

    let context = master
        .security_context()
        .await
        .context("reading the master's PCRs")?;
    let pcrs = accounts::boot_pcrs(&context.pcrs)?;
    let config = accounts::enclave_config(layout, &mut facts, &chain, &operator, &pcrs).await?;
    let node_image = node::image_reference(&node::NodeBinaries::locate()?.busybox_image).await?;
    let view = StackView {
        layout,
        ports,
        pcrs: &pcrs,
        enclave_config: config,
        operator: operator.address(),
        operator_token,
        node: NODE_NAME,
        node_image: &node_image,
        simulated: args.agents,
        console: &programs.console,
        launcher: &programs.launcher,
    };
    daas_core::private_file::write_atomic(
        &layout.console_config(),
        view.console_toml().as_bytes(),
    )?;
    accounts::register_enclave(&programs.console, layout, &operator, &master_url, config).await?;
    // The key made at this boot pays for the gateway's results.
    let enclave_key = master.master().await.context("attesting the master")?;
    let enclave_gas = Ed25519PublicKey::new(enclave_key.signing_key().to_bytes()).derive_address();
    gas.add("gateway gas (its enclave key)", enclave_gas)
        .await?;

    accounts::fund_once(layout, &mut facts, &chain_url, worker.address()).await?;
    spawn_worker(&run, layout, programs, &worker, &view)?;
    if args.agents > 0 {
        kwok::ensure_running(&cluster).await?;
    }
    remove_simulated_nodes(&cluster, args.agents).await?;
    if args.agents > 0 {
        spawn_simulated(&run, layout, programs, &cluster, &view)?;
    }
    wait_node_ready(&run, &cluster).await?;
    let text = view.next_steps();
    // For `status`; the stack runs without it.
    if let Err(error) =
        daas_core::private_file::write_atomic(&layout.summary_file(), text.as_bytes())
    {
        super::report(
            &anyhow::Error::new(error)
                .context("warning: `status` will not repeat where everything is"),
        );
    }
    let env = view.console_env();
    Ok((
        Running {
            run,
            _cluster: cluster,
            gas,
        },
        text,
        env,
    ))
}

async fn spawn_devnet(
    run: &Supervisor,
    layout: &Layout,
    programs: &Programs,
    operator: &Account,
    port: u16,
) -> anyhow::Result<()> {
    let admin = operator.address().to_string();
    let mut args = vec![
        "start".to_owned(),
        "--data-dir".to_owned(),
        layout.devnet_ledger().display().to_string(),
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
        "--admin".to_owned(),
        admin.clone(),
        "--slasher".to_owned(),
        admin,
    ];
    let root = layout.devnet_dev_root();
    if root.is_file() {
        args.push("--insecure-dev-attestation-root".to_owned());
        args.push(root.display().to_string());
    }
    run.spawn(
        "devnet",
        &programs.devnet,
        &args,
        &[("RUST_LOG", OsStr::new("info"))],
    )?;
    let deadline = Instant::now() + DEVNET_TIMEOUT;
    while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .is_err()
    {
        run.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "the devnet did not listen on port {port} within {DEVNET_TIMEOUT:?}; its log:\n{}",
                k3s::log_tail(&layout.log("devnet"), 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Restarts the devnet trusting the master's dev attestation root if it
/// does not yet (the root exists only once the master has run).
async fn trust_master_root(
    run: &Supervisor,
    layout: &Layout,
    programs: &Programs,
    operator: &Account,
    port: u16,
) -> anyhow::Result<()> {
    let master_root = std::fs::read(layout.dev_root()).context("reading the master's dev root")?;
    if std::fs::read(layout.devnet_dev_root()).ok().as_deref() == Some(master_root.as_slice()) {
        return Ok(());
    }
    daas_core::private_file::write_atomic(&layout.devnet_dev_root(), &master_root)?;
    run.stop("devnet");
    spawn_devnet(run, layout, programs, operator, port).await
}

async fn start_cluster(
    layout: &Layout,
    files: &WebhookFiles,
    port: u16,
) -> anyhow::Result<Cluster> {
    ClusterBuilder::new()
        .state_dir(layout.cluster_dir())
        .apiserver_port(port)
        .token_webhook(&files.authentication, stack::TOKEN_CACHE_TTL)
        .authorization_config(&files.authorization)
        .admission_control_config(&files.admission)
        .audit_policy_file(&files.audit_policy)
        .audit_webhook_config_file(&files.audit_webhook)
        .apiserver_arg("audit-webhook-batch-max-wait", "1s")
        .start()
        .await
}

async fn spawn_master(
    run: &Supervisor,
    layout: &Layout,
    programs: &Programs,
    cluster: &Cluster,
    chain_url: &str,
    args: &UpArgs,
) -> anyhow::Result<AttestedClient> {
    let config = layout.master_dir().join("nautilus-config.yaml");
    let audit = format!(
        "audit:\n  gas_key_file: \"{}\"\n  checkpoint_interval_ms: {}\n",
        layout.audit_gas_key().display(),
        CHECKPOINT_INTERVAL.as_millis()
    );
    daas_core::private_file::write_atomic(
        &config,
        stack::master_config_for(chain_url, cluster, &audit).as_bytes(),
    )?;
    let master_args = vec![
        "serve".to_owned(),
        "--listen".to_owned(),
        format!("tcp:127.0.0.1:{}", args.ports.master_port),
        "--attestation".to_owned(),
        "dev".to_owned(),
        "--webhook-listen".to_owned(),
        format!("tcp:127.0.0.1:{}", args.ports.webhook_port),
        "--state-dir".to_owned(),
        layout.master_state().display().to_string(),
        "--config".to_owned(),
        config.display().to_string(),
    ];
    run.spawn(
        "master",
        &programs.master,
        &master_args,
        &[("RUST_LOG", OsStr::new("info"))],
    )?;
    let url = format!("https://127.0.0.1:{}", args.ports.master_port);
    // The dev root appears once the master has started.
    let deadline = Instant::now() + DEVNET_TIMEOUT;
    while !layout.dev_root().is_file() {
        run.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "the master wrote no dev root; its log:\n{}",
                k3s::log_tail(&layout.log("master"), 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = stack::dev_client(&url, &layout.master_state())?;
    stack::wait_master_ready(&client, &layout.log("master")).await?;
    Ok(client)
}

fn spawn_worker(
    run: &Supervisor,
    layout: &Layout,
    programs: &Programs,
    worker: &Account,
    view: &StackView<'_>,
) -> anyhow::Result<()> {
    let dir = layout.worker_dir();
    let config = dir.join("worker-config.yaml");
    let text = format!(
        "sui:\n  profile: devnet\n  rpc_endpoint: {chain:?}\n  wallet_dir: {wallet:?}\n  \
         passphrase_file: {passphrase:?}\n\
         k3s:\n  master_endpoint: {master:?}\n  data_dir: {data:?}\n\
         node:\n  id: {NODE_NAME}\n  stake_amount: {WORKER_STAKE}\n\
         security:\n  dev_root: {dev_root:?}\n  allow_insecure_dev: true\n  \
         enclave_config: \"{config}\"\n\
         agent:\n  state_dir: {state:?}\n  api_listen: \"127.0.0.1:{api}\"\n  heartbeat_secs: 5\n  \
         drain_timeout_secs: 60\n\
         runtime:\n  command: [{launcher:?}, \"node\"]\n  extra_args: [\"--ca-file\", \"{{ca_file}}\"]\n  \
         restart_backoff_max_secs: 5\n",
        chain = view.chain_url(),
        wallet = worker.wallet_dir().display().to_string(),
        passphrase = worker.passphrase_file().display().to_string(),
        master = view.master_url(),
        data = dir.join("k3s").display().to_string(),
        dev_root = layout.dev_root().display().to_string(),
        config = view.enclave_config,
        state = dir.join("state").display().to_string(),
        api = view.ports.agent_api_port,
        launcher = programs.launcher.display().to_string(),
    );
    daas_core::private_file::write_atomic(&config, text.as_bytes())?;
    let args = vec![
        "run".to_owned(),
        "--config".to_owned(),
        config.display().to_string(),
    ];
    run.spawn(
        "agent",
        &programs.agent,
        &args,
        &[("RUST_LOG", OsStr::new("info"))],
    )?;
    Ok(())
}

fn spawn_simulated(
    run: &Supervisor,
    layout: &Layout,
    programs: &Programs,
    cluster: &Cluster,
    view: &StackView<'_>,
) -> anyhow::Result<()> {
    let args = vec![
        "simulate".to_owned(),
        "--count".to_owned(),
        view.simulated.to_string(),
        "--master".to_owned(),
        view.master_url(),
        "--chain".to_owned(),
        view.chain_url(),
        "--kubeconfig".to_owned(),
        cluster.kubeconfig_path().display().to_string(),
        "--dev-root".to_owned(),
        layout.dev_root().display().to_string(),
        "--audience".to_owned(),
        cluster.server().to_owned(),
        "--prefix".to_owned(),
        SIMULATED_PREFIX.to_owned(),
        "--state-dir".to_owned(),
        layout.simulated_dir().display().to_string(),
    ];
    run.spawn(
        "simulated-agents",
        &programs.agent,
        &args,
        &[("RUST_LOG", OsStr::new("info"))],
    )?;
    Ok(())
}

/// Deletes the Node objects of simulated agents this run does not start
/// (`--agents` lowered, or the per-run names of earlier versions), which
/// nothing would heartbeat. Their kept keys stay, for a later larger
/// `--agents`.
async fn remove_simulated_nodes(cluster: &Cluster, count: usize) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(cluster.client().await?);
    let list = nodes
        .list(&kube::api::ListParams::default())
        .await
        .context("listing nodes")?;
    let kept: Vec<String> = (0..count)
        .map(|index| format!("{SIMULATED_PREFIX}-{index}"))
        .collect();
    for node in list {
        let Some(name) = node.metadata.name else {
            continue;
        };
        if name.starts_with(SIMULATED_PREFIX) && !kept.contains(&name) {
            nodes
                .delete(&name, &kube::api::DeleteParams::default())
                .await
                .with_context(|| format!("deleting the simulated node {name}"))?;
        }
    }
    Ok(())
}

/// Waits until the real worker's node is Ready.
async fn wait_node_ready(run: &Supervisor, cluster: &Cluster) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(cluster.client().await?);
    let deadline = Instant::now() + NODE_TIMEOUT;
    loop {
        run.check_alive()?;
        cluster.check_alive()?;
        if let Ok(Some(node)) = nodes.get_opt(NODE_NAME).await
            && kwok::node_ready(&node)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "node {NODE_NAME} was not Ready within {NODE_TIMEOUT:?}; the agent's log ({}) ends with:\n{}",
                run.log_path("agent").display(),
                k3s::log_tail(&run.log_path("agent"), 30)
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
