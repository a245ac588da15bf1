//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The K3s-DaaS operator console.
///
/// Without a subcommand it opens the terminal UI. Secrets are read from
/// standard input, a file or the terminal, never from the command line.
#[derive(Debug, Parser)]
#[command(name = "daas-console", version, propagate_version = true)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command; none opens the terminal UI.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options shared by every command; they override the profile.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Configuration file (default: ~/.config/k3s-daas/console.toml).
    #[arg(long, global = true, env = "DAAS_CONSOLE_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Cluster profile of the configuration file.
    #[arg(long, global = true, env = "DAAS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// The master's URL (https://HOST:PORT).
    #[arg(long, global = true, value_name = "URL")]
    pub master: Option<String>,
    /// The chain's gRPC endpoint.
    #[arg(long, global = true, alias = "chain-endpoint", value_name = "URL")]
    pub chain: Option<String>,
    /// Refuse every action that changes state.
    #[arg(long, global = true)]
    pub readonly: bool,
    /// TUI colour theme: dark, light, high-contrast, or a file.
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Wallet directory (default: the platform data dir, e.g. ~/.local/share/k3s-daas/wallet).
    #[arg(long, global = true, env = "DAAS_WALLET_DIR", value_name = "DIR")]
    pub wallet_dir: Option<PathBuf>,
    /// Wallet key to use, alias or address (default: the active key).
    #[arg(long, global = true, value_name = "NAME")]
    pub key: Option<String>,
    /// File holding the wallet passphrase (else DAAS_WALLET_PASSPHRASE, else the terminal).
    #[arg(
        long,
        global = true,
        env = crate::ops::unlock::PASSPHRASE_FILE_ENV,
        value_name = "FILE"
    )]
    pub passphrase_file: Option<PathBuf>,
    /// Accept INSECURE development attestation (needs --dev-root). No hardware guarantee.
    #[arg(long, global = true)]
    pub allow_insecure_dev: bool,
    /// The master's dev root, trusted only with `--allow-insecure-dev`.
    #[arg(
        long,
        global = true,
        value_name = "PEM",
        help = "The master's dev root (PEM, <state-dir>/dev-root.pem), trusted only with --allow-insecure-dev"
    )]
    pub dev_root: Option<PathBuf>,
    /// Kubeconfig for node operations (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kube_config: Option<PathBuf>,
    /// Context of that kubeconfig (default: its current one).
    #[arg(long, global = true, value_name = "NAME")]
    pub kube_context: Option<String>,
    /// Seconds before giving up on the master.
    #[arg(long, global = true, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Do not ask before signing or destroying: the answer is yes.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
}

/// The console's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, import, list and use wallet keys; balances and the devnet faucet.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Stake SUI for kubectl access (a tier) or for a worker node; manage the stake.
    Stake(StakeArgs),
    /// List nodes (master and API server), cordon, uncordon, drain.
    #[command(subcommand)]
    Nodes(NodesCommand),
    /// Verify Nitro attestation documents and attested masters.
    Attest(AttestArgs),
    /// Propose slashes, and review them with a SlasherCap.
    #[command(subcommand)]
    Slash(SlashCommand),
    /// Register an attested master's key on the chain.
    #[command(subcommand)]
    Enclave(EnclaveCommand),
    /// Submit Kubernetes API requests on chain; list and show them with their results.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Verify audit events against the chain; list the audit log's checkpoints.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// kubectl credential plugin: print a wallet-signed access token as an ExecCredential.
    ///
    /// Run by kubectl (client.authentication.k8s.io/v1 exec plugin), configured
    /// by `daas-console kubeconfig`. It first checks the seal token on chain and
    /// says on stderr why access would be refused. The token is cached until
    /// shortly before it expires. An encrypted-file wallet needs
    /// DAAS_WALLET_PASSPHRASE (or --passphrase-file) here: kubectl gives the
    /// plugin a terminal only in interactive use.
    Credential(CredentialArgs),
    /// Write or merge a kubeconfig whose user gets credentials from `daas-console credential`.
    Kubeconfig(KubeconfigArgs),
    /// Opaque seal tokens (the seed's 64-hex $SEAL_TOKEN) for curl or `kubectl --token`.
    #[command(subcommand)]
    SealToken(SealTokenCommand),
}

/// `daas-console seal-token …`
#[derive(Debug, Subcommand)]
pub enum SealTokenCommand {
    /// Issue an opaque seal token and print it (64 hex digits); it is shown only this once.
    ///
    /// It authenticates as your address with your seal token's tier, for
    /// `curl -H "Authorization: Bearer $SEAL_TOKEN"` to the master or
    /// `kubectl --token`, until it expires or the stake stops backing it.
    /// Keep it like a password: `export SEAL_TOKEN=$(daas-console seal-token issue)`.
    Issue {
        /// The seal token (object id) it authenticates through (default: your only active user token).
        #[arg(long, value_name = "ID")]
        seal_token: Option<String>,
        /// Print JSON: the token, its id (SHA-256), expiry, seal token and owner.
        #[arg(long)]
        json: bool,
    },
}

/// Where a new wallet keeps its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreArg {
    /// The OS keyring when reachable, else the encrypted file (and say so).
    Auto,
    /// The OS keyring (Secret Service, Keychain, Credential Manager); fail if unreachable.
    Keyring,
    /// An encrypted file in the wallet directory, under a passphrase.
    File,
}

/// `daas-console wallet …`
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Generate a new key.
    New {
        /// Name of the key in the wallet.
        #[arg(long)]
        alias: String,
        /// Signature scheme: ed25519, secp256k1 or secp256r1.
        #[arg(long, default_value = "ed25519")]
        scheme: String,
        /// Key store of a new wallet.
        #[arg(long, value_enum, default_value_t = StoreArg::Auto)]
        store: StoreArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import a key: a suiprivkey string or a mnemonic read from stdin, or a sui.keystore file.
    Import {
        /// Name of the key (with --keystore, a prefix: NAME-0, NAME-1, …).
        #[arg(long)]
        alias: String,
        #[command(flatten)]
        source: ImportSource,
        /// Scheme of a mnemonic-derived key.
        #[arg(long, default_value = "ed25519")]
        scheme: String,
        /// Derivation path of a mnemonic-derived key (default: Sui's path for the scheme).
        #[arg(long, value_name = "PATH")]
        derivation_path: Option<String>,
        /// Key store of a new wallet.
        #[arg(long, value_enum, default_value_t = StoreArg::Auto)]
        store: StoreArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the keys; the active one is marked with `*`.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a key the active one.
    Use {
        /// Alias or address.
        name: String,
    },
    /// Remove a key and its secret.
    Remove {
        /// Alias or address.
        name: String,
    },
    /// Print a key as a suiprivkey string (the secret!).
    Export {
        /// Alias or address.
        name: String,
    },
    /// The SUI balance of a key (default: the active one).
    Balance {
        /// Alias or address.
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask the profile's faucet (the devnet's) for SUI.
    Faucet {
        /// Alias or address (default: the active key).
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a message read from stdin as a Sui personal message; prints the Base64 signature.
    SignMessage,
    /// Verify a Base64 signature over a message read from stdin.
    VerifyMessage {
        /// The address expected to have signed.
        #[arg(long)]
        address: String,
        /// The Base64 serialized signature (flag || signature || public key).
        #[arg(long)]
        signature: String,
    },
}

/// Where an imported key comes from.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ImportSource {
    /// Read a `suiprivkey1…` string from stdin.
    #[arg(long)]
    pub suiprivkey: bool,
    /// Read a BIP-39 mnemonic from stdin.
    #[arg(long)]
    pub mnemonic: bool,
    /// Import every key of a Sui CLI keystore file.
    #[arg(long, value_name = "FILE")]
    pub keystore: Option<PathBuf>,
}

/// A tier by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    /// 0.5 SUI by default: read everything.
    Viewer,
    /// 2 SUI: edit in your own namespace.
    Developer,
    /// 5 SUI: administer workloads.
    Admin,
    /// 10 SUI: cluster-admin.
    Super,
}

/// `daas-console stake …`: without a subcommand, stake and mint a seal
/// token: as a user for a tier (or an amount), or as a worker for a node.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StakeArgs {
    #[command(subcommand)]
    pub command: Option<StakeCommand>,
    #[command(flatten)]
    pub new: StakeNewArgs,
}

/// What to stake for.
#[derive(Debug, Args)]
pub struct StakeNewArgs {
    /// Stake as a user for this tier (its threshold).
    #[arg(long, value_enum, conflicts_with_all = ["user_amount", "node"])]
    pub tier: Option<TierArg>,
    /// Stake as a user this much SUI (the tier follows).
    #[arg(long = "sui", value_name = "SUI", conflicts_with = "node")]
    pub user_amount: Option<String>,
    /// Stake as a worker for this Kubernetes node name.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// With --node: the stake (default: the pool's worker minimum).
    #[arg(long, requires = "node", value_name = "SUI")]
    pub worker_amount: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Managing a stake.
#[derive(Debug, Subcommand)]
pub enum StakeCommand {
    /// Add stake to a seal token.
    Add {
        /// SUI to add, e.g. 1.5.
        #[arg(long, value_name = "SUI")]
        amount: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Extend a seal token's expiry by its lifetime.
    Refresh(TokenArgs),
    /// Request unstake: access ends now, the stake unbonds.
    Unstake(TokenArgs),
    /// Withdraw the stake after unbonding (deletes the seal token).
    Withdraw(TokenArgs),
    /// Your seal tokens, stake, tier and state.
    Status {
        /// Whose (default: the active key's address).
        #[arg(long, value_name = "ADDRESS")]
        owner: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A seal token to act on.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The seal token (default: your only one that allows the action).
    #[arg(long, value_name = "ID")]
    pub seal_token: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `daas-console nodes …`
#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// Every node: the master's view (stake, heartbeats, metrics) joined with the API server's.
    List {
        /// Also read each node's stake from the chain (of the nodes whose seal token the master shows).
        #[arg(long)]
        stake: bool,
        /// List as the holder of this seal token (signs a short access token): an owner sees their nodes' seal token, owner and stake, the admin and super tiers every node's. Default: the wallet's widest-viewing active user seal token, when the wallet signs without asking (an OS keyring, or a passphrase given by file or environment), else publicly.
        #[arg(long, value_name = "OBJECT_ID")]
        seal_token: Option<String>,
        /// List as anyone sees it, signing nothing.
        #[arg(long, conflicts_with = "seal_token")]
        public: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mark a node unschedulable.
    Cordon {
        /// The node.
        node: String,
    },
    /// Mark a node schedulable again.
    Uncordon {
        /// The node.
        node: String,
    },
    /// Cordon a node and move its pods away (kubectl's and k9s's options).
    Drain(DrainArgs),
    /// Ask a node's agent for its metrics, over TLS pinned to the key the attested master relays.
    ///
    /// The master shows a node's agent endpoint to its owner and to the admin
    /// and super tiers, so the wallet signs a short access token first.
    Metrics {
        /// The node.
        node: String,
        /// The seal token to sign the access token for (default: the wallet's active user
        /// seal token of the highest tier, else the node's own, as its owner).
        #[arg(long, value_name = "OBJECT_ID")]
        seal_token: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `nodes drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The node.
    pub node: String,
    /// Seconds each pod gets to terminate (default: the pod's own).
    #[arg(long, value_name = "SECONDS")]
    pub grace_period: Option<u32>,
    /// Seconds to wait for the pods to leave; 0 waits forever.
    #[arg(long = "drain-timeout", value_name = "SECONDS", default_value_t = 120)]
    pub drain_timeout: u64,
    /// Also delete pods with emptyDir volumes (their data is lost).
    #[arg(long)]
    pub delete_emptydir_data: bool,
    /// Leave DaemonSet pods instead of stopping.
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Also delete pods no controller would recreate.
    #[arg(long)]
    pub force: bool,
    /// Delete pods instead of evicting them (ignores PodDisruptionBudgets).
    #[arg(long)]
    pub disable_eviction: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `daas-console slash …`
#[derive(Debug, Subcommand)]
pub enum SlashCommand {
    /// Propose slashing a seal token's stake (anyone may).
    Propose {
        /// The seal token, or a node name whose seal token the master knows.
        #[arg(long, value_name = "ID")]
        seal_token: Option<String>,
        /// The node whose seal token to slash (looked up on the master).
        #[arg(long, conflicts_with = "seal_token", value_name = "NAME")]
        node: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
        /// A file of evidence; its SHA-256 goes on chain (default: the reason's hash).
        #[arg(long, value_name = "FILE")]
        evidence: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pending proposals, and with --history the decided ones.
    List {
        /// Also list decided proposals (from the chain's events).
        #[arg(long)]
        history: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a proposal with your SlasherCap: the stake is slashed.
    Approve {
        /// The proposal's id.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a proposal with your SlasherCap.
    Reject {
        /// The proposal's id.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `daas-console enclave …`
#[derive(Debug, Subcommand)]
pub enum EnclaveCommand {
    /// Attest a master against an on-chain EnclaveConfig and register its key.
    ///
    /// Reads the PCRs the EnclaveConfig expects, attests the master with them
    /// (refusing before any gas is spent if they differ), then submits the
    /// verified document to `enclave::register_enclave` from the wallet key,
    /// which pays the gas: the enclave needs no SUI.
    Register {
        /// The master's URL (https://HOST:PORT; default: the profile's).
        #[arg(value_name = "MASTER_URL")]
        url: Option<String>,
        /// The EnclaveConfig (object id) whose PCRs the master must have.
        #[arg(long, value_name = "ID")]
        config: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The EnclaveConfig: the PCRs a master must attest to, which clients
    /// pinned to it trust.
    #[command(subcommand)]
    Config(EnclaveConfigCommand),
    /// Delete an enclave registered under an older version of its config
    /// (after `enclave config update`); anyone may, and the storage rebate
    /// is yours.
    Destroy {
        /// The stale Enclave (object id).
        enclave: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `daas-console enclave config …`
#[derive(Debug, Subcommand)]
pub enum EnclaveConfigCommand {
    /// Show an EnclaveConfig: its name, PCRs and version.
    Show {
        /// The EnclaveConfig (object id).
        config: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create an EnclaveConfig expecting a master image's PCRs (needs the
    /// package's EnclaveCap in the wallet).
    Create {
        /// What it pins, e.g. "k3s-daas master 1.4".
        #[arg(long)]
        name: String,
        #[command(flatten)]
        pcrs: ImagePcrsArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace the PCRs an EnclaveConfig expects with a new master image's
    /// (needs the EnclaveCap). Enclaves registered under the old PCRs stop
    /// being current: register the new master afterwards. Clients pinned to
    /// the config follow without a change of their own configuration.
    Update {
        /// The EnclaveConfig (object id).
        config: String,
        #[command(flatten)]
        pcrs: ImagePcrsArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A master image's PCR0, PCR1 and PCR2: a file or three values.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ImagePcrsArgs {
    /// The image's measurements: the pcrs.json of
    /// deploy/3-nautilus-tee-deploy.sh or nitro-cli build-enclave's output.
    #[arg(long, value_name = "FILE")]
    pub pcrs: Option<PathBuf>,
    /// One PCR as INDEX=HEX (96 hex digits); give 0, 1 and 2.
    #[arg(long, value_name = "INDEX=HEX")]
    pub pcr: Vec<String>,
}

/// `daas-console gateway …`
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Submit a Kubernetes API request on chain with your seal token.
    ///
    /// The master executes it as you (`sui:<address>`, your tier's groups,
    /// so RBAC applies as for kubectl) and records the status and the hash
    /// of the answer on chain, signed by its enclave. Shows what is signed
    /// and asks before sending. The payload is JSON; a POST must name its
    /// object (metadata.name); PATCH is a JSON merge patch.
    Submit {
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// API path, e.g. /api/v1/namespaces/NS/configmaps.
        path: String,
        /// The namespace (default: the one the path names; another is refused).
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// The resource type, e.g. configmaps (default: the one the path names).
        #[arg(long)]
        resource: Option<String>,
        /// A file holding the body (JSON).
        #[arg(long, value_name = "FILE")]
        payload: Option<PathBuf>,
        /// Your seal token (object id) whose stake pays the tier (default: the wallet's only active user seal token).
        #[arg(long, value_name = "ID")]
        seal_token: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Requests submitted on chain, with their results so far.
    List {
        /// Only requests of this address (default: every submitter).
        #[arg(long, value_name = "ADDRESS")]
        sender: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One request and its result.
    Show {
        /// The request (K8sRequest object id).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `daas-console audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify one audit event on your own: leaf → inclusion proof →
    /// checkpoint signature by the enclave key read from the chain → the
    /// checkpoint's anchor on chain. Exits non-zero if any step fails.
    ///
    /// The master serves an event only to a staker: the wallet signs an
    /// access token for its seal token; below the super tier, only events
    /// of its own identity are served.
    Verify {
        /// The event's auditID (the API server's Audit-Id response header).
        audit_id: String,
        /// The seal token (object id) to read with (default: your only active user token).
        #[arg(long, value_name = "ID")]
        seal_token: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the master's signed checkpoints and where each is anchored.
    Checkpoints {
        /// The seal token (object id) to read with (default: your only active user token).
        #[arg(long, value_name = "ID")]
        seal_token: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `daas-console credential`.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// The seal token (object id) whose stake grants the access.
    #[arg(long, value_name = "ID")]
    pub seal_token: String,
    /// The cluster the token is for (default: the server URL kubectl passes in KUBERNETES_EXEC_INFO).
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// Token lifetime in seconds (at most 900).
    #[arg(long, value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(2..=900))]
    pub lifetime: u64,
    /// Directory of the credential cache (default: the platform cache dir, e.g. ~/.cache/k3s-daas/credentials).
    #[arg(long, env = "DAAS_CREDENTIAL_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Always sign a new token; neither read nor write the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not check the seal token on chain first.
    #[arg(long)]
    pub no_check: bool,
}

/// Arguments of `daas-console kubeconfig`.
#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The seal token (object id) whose stake grants the access (default: your only active user token).
    #[arg(long, value_name = "ID")]
    pub seal_token: Option<String>,
    /// The API server URL (default: the attested master's, with its CA).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The audience of the access tokens (default: the master's, else the server URL).
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// PEM file of the CA that signs the API server's certificate.
    #[arg(
        long,
        value_name = "PEM",
        requires = "server",
        conflicts_with = "insecure_skip_tls_verify"
    )]
    pub ca_file: Option<PathBuf>,
    /// Do not check the API server's certificate (development only).
    #[arg(long, requires = "server")]
    pub insecure_skip_tls_verify: bool,
    /// Name of the cluster and context entries; the user entry is NAME-user.
    #[arg(long, default_value = "k3s-daas")]
    pub name: String,
    /// Default namespace of the context.
    #[arg(long)]
    pub namespace: Option<String>,
    /// The kubeconfig to write or merge into (default: the first path in $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Keep the current context instead of switching to the new one.
    #[arg(long)]
    pub keep_current_context: bool,
    /// The plugin command kubectl runs (default: daas-credential beside this executable, else this executable).
    #[arg(long, value_name = "PATH")]
    pub command: Option<String>,
    /// Print the kubeconfig entry as YAML instead of writing a file.
    #[arg(long)]
    pub stdout: bool,
}

/// `daas-console attest …`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AttestArgs {
    #[command(subcommand)]
    pub command: Option<AttestCommand>,
    #[command(flatten)]
    pub live: AttestLiveArgs,
}

/// `daas-console attest [MASTER_URL]`: attest a running master live.
///
/// Sends a fresh nonce to the master, verifies its attestation document
/// (signature, chain to the AWS root or an opted-in dev root, nonce, PCRs)
/// and that it binds the TLS key the master presented, then prints the
/// verified fields.
#[derive(Debug, Args)]
pub struct AttestLiveArgs {
    /// The master's URL (https://HOST:PORT; default: the profile's).
    #[arg(value_name = "MASTER_URL")]
    pub url: Option<String>,
    /// A PCR the master must have, as INDEX=HEX (repeatable; give 0, 1 and 2, and optionally 8).
    #[arg(long = "expect-pcr", value_name = "N=HEX")]
    pub expect_pcr: Vec<String>,
    /// Keep the verified document (raw CBOR) in this file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Attestation commands that work offline.
#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Verify an attestation document file (raw CBOR, Base64 or hex) and print its verified fields.
    ///
    /// Checks the COSE ES384 signature, the certificate chain to the AWS Nitro
    /// Enclaves Root G1 (or a dev root given with --dev-root) at the
    /// verification time, debug PCRs, and the PCRs given with --expect-pcr.
    Verify(VerifyArgs),
}

/// Arguments of `daas-console attest verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The document file.
    pub file: PathBuf,
    /// Verification time in milliseconds since the Unix epoch (default:
    /// now, with 30 s of clock skew); a document made after it is refused.
    #[arg(long, value_name = "UNIX_MS")]
    pub at: Option<u64>,
    /// A PCR the document must have, as INDEX=HEX (repeatable).
    #[arg(long = "expect-pcr", value_name = "N=HEX")]
    pub expect_pcr: Vec<String>,
    /// Accept debug-mode enclaves (all-zero PCR0/1/2).
    #[arg(long)]
    pub allow_debug: bool,
    /// Refuse documents older than this many seconds at the verification time.
    #[arg(long, value_name = "SECONDS")]
    pub max_age: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn stake_takes_one_target_and_json() {
        let parse =
            |args: &[&str]| Cli::try_parse_from([&["daas-console", "stake"], args].concat());
        let cli = parse(&["--tier", "developer", "--json", "--yes"]).unwrap();
        assert!(cli.global.yes);
        assert!(parse(&["--tier", "viewer", "--node", "n1"]).is_err());
        assert!(parse(&["--sui", "1", "--node", "n1"]).is_err());
        assert!(parse(&["--worker-amount", "5"]).is_err(), "needs --node");
        assert!(parse(&["unstake", "--json"]).is_ok());
    }
}
