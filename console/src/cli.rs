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
}

/// `daas-console attest …`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AttestArgs {
    #[command(subcommand)]
    pub command: Option<AttestCommand>,
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
