//! Command-line interface of `daas-console`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The K3s-DaaS operator console.
///
/// Manage the wallets whose stake grants cluster access. Secrets are read
/// from standard input or the terminal, never from the command line.
#[derive(Debug, Parser)]
#[command(name = "daas-console", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Wallet directory (default: the platform data dir, e.g. ~/.local/share/k3s-daas/wallet).
    #[arg(long, global = true, env = "DAAS_WALLET_DIR", value_name = "DIR")]
    pub wallet_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, import, list and use wallet keys; sign and verify messages.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Verify Nitro attestation documents and attested masters.
    Attest(AttestArgs),
    /// kubectl credential plugin: print a wallet-signed access token as an ExecCredential.
    ///
    /// Run by kubectl (client.authentication.k8s.io/v1 exec plugin), configured
    /// by `daas-console kubeconfig`. The token is cached until shortly before it
    /// expires. An encrypted-file wallet needs DAAS_WALLET_PASSPHRASE here:
    /// kubectl gives the plugin a terminal only in interactive use.
    Credential(CredentialArgs),
    /// Write or merge a kubeconfig whose user gets credentials from `daas-console credential`.
    Kubeconfig(KubeconfigArgs),
    /// Register an attested master's key on the chain.
    #[command(subcommand)]
    Enclave(EnclaveCommand),
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
    Register(EnclaveRegisterArgs),
}

/// Arguments of `daas-console enclave register`.
#[derive(Debug, Args)]
pub struct EnclaveRegisterArgs {
    /// The master's URL (https://HOST:PORT).
    #[arg(value_name = "MASTER_URL")]
    pub url: String,
    /// The EnclaveConfig (object id) whose PCRs the master must have.
    #[arg(long, value_name = "ID")]
    pub config: String,
    /// The chain's gRPC endpoint (the devnet's by default).
    #[arg(long, value_name = "URL", default_value = daas_core::chain::profile::DEVNET_ENDPOINT)]
    pub chain_endpoint: String,
    /// Wallet key that signs and pays, alias or address (default: the active key).
    #[arg(long)]
    pub key: Option<String>,
    #[command(flatten)]
    pub trust: MasterTrustArgs,
}

/// How a master is trusted, shared by `attest <url>` and `enclave register`.
#[derive(Debug, Args)]
pub struct MasterTrustArgs {
    /// Accept INSECURE development attestation (needs --dev-root). No hardware guarantee.
    #[arg(long)]
    pub allow_insecure_dev: bool,
    /// The master's dev root (PEM, <state-dir>/dev-root.pem), trusted only with --allow-insecure-dev.
    #[arg(long, value_name = "PEM")]
    pub dev_root: Option<PathBuf>,
    /// Seconds before giving up on the master.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
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
    /// Wallet key to sign with, alias or address (default: the active key).
    #[arg(long)]
    pub key: Option<String>,
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
}

/// Arguments of `daas-console kubeconfig`.
#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The API server URL.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The seal token (object id) whose stake grants the access.
    #[arg(long, value_name = "ID")]
    pub seal_token: String,
    /// The audience of the access tokens (default: the server URL).
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// PEM file of the CA that signs the API server's certificate.
    #[arg(long, value_name = "PEM", conflicts_with = "insecure_skip_tls_verify")]
    pub ca_file: Option<PathBuf>,
    /// Do not check the API server's certificate (development only).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Name of the cluster and context entries; the user entry is NAME-user.
    #[arg(long, default_value = "k3s-daas")]
    pub name: String,
    /// Default namespace of the context.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Wallet key the plugin signs with, alias or address (default: the active key).
    #[arg(long)]
    pub key: Option<String>,
    /// The kubeconfig to write or merge into (default: the first path in $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Keep the current context instead of switching to the new one.
    #[arg(long)]
    pub keep_current_context: bool,
    /// The plugin command kubectl runs (default: this executable's path).
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

/// `daas-console attest <master-url>`: attest a running master live.
///
/// Sends a fresh nonce to the master, verifies its attestation document
/// (signature, chain to the AWS root or an opted-in dev root, nonce, PCRs)
/// and that it binds the TLS key the master presented, then prints the
/// verified fields.
#[derive(Debug, Args)]
pub struct AttestLiveArgs {
    /// The master's URL (https://HOST:PORT).
    #[arg(value_name = "MASTER_URL")]
    pub url: Option<String>,
    /// A PCR the master must have, as INDEX=HEX (repeatable; give 0, 1 and 2, and optionally 8).
    #[arg(long = "expect-pcr", value_name = "N=HEX")]
    pub expect_pcr: Vec<String>,
    #[command(flatten)]
    pub trust: MasterTrustArgs,
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
    /// Verification time in milliseconds since the Unix epoch (default: now).
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
    /// Also trust this local development root (PEM). Insecure: no hardware guarantee.
    #[arg(long, value_name = "PEM")]
    pub dev_root: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `daas-console wallet …`
///
/// The keys live in the OS keyring when one is reachable, otherwise in an
/// encrypted file whose passphrase comes from DAAS_WALLET_PASSPHRASE or the terminal.
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
    /// Sign a message read from stdin as a Sui personal message; prints the Base64 signature.
    SignMessage {
        /// Alias or address (default: the active key).
        #[arg(long)]
        key: Option<String>,
    },
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
