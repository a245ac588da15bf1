//! The console's configuration: cluster profiles and UI settings from one
//! TOML file, parsed once into typed [`Settings`].
//!
//! The file is `console.toml` in the platform config dir
//! (`~/.config/k3s-daas/console.toml` on Linux), or `--config FILE` /
//! `DAAS_CONSOLE_CONFIG`. Without a file the console uses one built-in
//! profile, `local`: the devnet on its default port and no master.
//!
//! ```toml
//! default_profile = "local"
//!
//! [ui]
//! theme = "dark"          # a file of themes/ (dark, light, high-contrast) or a path
//! tick_ms = 250
//! refresh_secs = 5
//!
//! [keys]                  # key bindings patch the defaults (see the README)
//! drain = "D"
//!
//! [profiles.local]
//! master = "https://127.0.0.1:8443"
//! faucet = "http://127.0.0.1:9000"
//! dev_root = "/tmp/daas/state/dev-root.pem"   # trust INSECURE dev attestation
//! readonly = false
//! key = "ops"             # wallet key (alias or address); default: the active key
//! kubeconfig = "~/.kube/config"                # for node operations
//! kube_context = "daas-admin"
//! wallet_dir = "/srv/ops/wallet"             # default: the platform data dir
//! passphrase_file = "/srv/ops/passphrase"    # else DAAS_WALLET_PASSPHRASE, the terminal
//! [profiles.local.chain]  # daas_core::chain::ChainConfig
//! profile = "devnet"
//! endpoint = "http://127.0.0.1:9000"
//! [profiles.local.pcrs]   # or leave out and set chain.enclave_config
//! 0 = "…96 hex…"
//! 1 = "…"
//! 2 = "…"
//! ```
//!
//! Unknown keys are refused; every error names the file and the key.
//! Global flags (`--profile`, `--master`, `--chain`, `--readonly`,
//! `--theme`, …) override the profile ([`Overrides`]). The profile's `key`
//! and `passphrase_file` belong to its `wallet_dir`: with another wallet
//! directory (`--wallet-dir`, `DAAS_WALLET_DIR`) neither applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use daas_core::attestation::ExpectedPcrs;
use daas_core::chain::{ChainConfig, Profile};
use serde::Deserialize;

/// The configuration file's name in the config dir.
pub const CONFIG_FILE: &str = "console.toml";
/// The profile used when neither the file nor a flag names one.
pub const DEFAULT_PROFILE: &str = "local";
/// The theme used when none is configured.
pub const DEFAULT_THEME: &str = "dark";
/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "DAAS_CONSOLE_CONFIG";
/// A configuration file larger than this is refused.
const MAX_CONFIG_LEN: u64 = 1024 * 1024;

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a bad or unknown key.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        message: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("{path}: `{key}`: {reason}")]
    Invalid {
        /// The file (or `command line`).
        path: PathBuf,
        /// The dotted key, e.g. `profiles.local.pcrs.0`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The profile asked for does not exist.
    #[error("no profile `{name}` in {path} (profiles: {known})")]
    UnknownProfile {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The profiles the file has.
        known: String,
    },
    /// No config directory could be found.
    #[error("cannot find the config directory; pass --config FILE")]
    NoConfigDir,
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    default_profile: Option<String>,
    #[serde(default)]
    ui: UiFile,
    #[serde(default)]
    keys: BTreeMap<String, String>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UiFile {
    theme: Option<String>,
    tick_ms: Option<u64>,
    refresh_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    chain: Option<ChainConfig>,
    faucet: Option<String>,
    master: Option<String>,
    pcrs: Option<BTreeMap<String, String>>,
    dev_root: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    kube_context: Option<String>,
    readonly: Option<bool>,
    theme: Option<String>,
    key: Option<String>,
    wallet_dir: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
}

/// Which PCRs the master must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcrSource {
    /// These values.
    Expected(ExpectedPcrs),
    /// Those of the on-chain `EnclaveConfig` with this id.
    EnclaveConfig(sui_sdk_types::Address),
    /// None configured: PCRs are shown, not compared (said loudly).
    Unchecked,
}

/// How the master is reached and trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterSettings {
    /// `https://host:port`.
    pub url: String,
    /// The PCRs it must have.
    pub pcrs: PcrSource,
    /// The dev root whose INSECURE development attestation is accepted;
    /// `None` accepts only AWS Nitro attestation.
    pub dev_root: Option<PathBuf>,
    /// Timeout of one request.
    pub timeout: Duration,
}

/// How the Kubernetes API server is reached for node operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    /// The kubeconfig (default: `$KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Its context (default: the current one).
    pub context: Option<String>,
}

/// Rates of the TUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UiRates {
    /// How often the screen redraws without input.
    pub tick: Duration,
    /// How often background tasks refresh data.
    pub refresh: Duration,
}

impl Default for UiRates {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(250),
            refresh: Duration::from_secs(5),
        }
    }
}

/// The resolved configuration: one profile with the flags applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The profile's name.
    pub profile: String,
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
    /// The chain.
    pub chain: ChainConfig,
    /// The faucet's URL (the devnet's endpoint by default on the devnet).
    pub faucet: Option<String>,
    /// The master, if configured.
    pub master: Option<MasterSettings>,
    /// The API server.
    pub kube: KubeSettings,
    /// Whether every mutating action is refused.
    pub readonly: bool,
    /// The theme's name or path.
    pub theme: String,
    /// The wallet key to use (alias or address); `None` for the active one.
    pub key: Option<String>,
    /// The wallet directory.
    pub wallet_dir: Option<PathBuf>,
    /// The file holding the wallet's passphrase (else
    /// `DAAS_WALLET_PASSPHRASE`, else the terminal).
    pub passphrase_file: Option<PathBuf>,
    /// TUI rates.
    pub ui: UiRates,
    /// Key binding overrides: action name → key.
    pub keys: BTreeMap<String, String>,
}

/// What the command line says over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--profile NAME`.
    pub profile: Option<String>,
    /// `--master URL`.
    pub master: Option<String>,
    /// `--chain URL`.
    pub chain: Option<String>,
    /// `--readonly`.
    pub readonly: bool,
    /// `--theme NAME`.
    pub theme: Option<String>,
    /// `--dev-root PEM` (with `--allow-insecure-dev`).
    pub dev_root: Option<PathBuf>,
    /// `--key NAME`.
    pub key: Option<String>,
    /// `--wallet-dir DIR`.
    pub wallet_dir: Option<PathBuf>,
    /// `--passphrase-file FILE`.
    pub passphrase_file: Option<PathBuf>,
    /// `--kubeconfig FILE`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context NAME`.
    pub kube_context: Option<String>,
    /// `--timeout SECONDS` for master requests.
    pub timeout: Option<Duration>,
}

/// The default configuration file, if a config dir exists.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("io", "k3s-daas", "k3s-daas")
        .map(|dirs| dirs.config_dir().join(CONFIG_FILE))
}

/// Loads the configuration (the file named by `overrides.config`, else the
/// default one if it exists) and resolves the chosen profile.
///
/// # Errors
/// The file is unreadable or invalid, or names no such profile.
pub fn load(overrides: &Overrides) -> Result<Settings, ConfigError> {
    let (path, text) = match &overrides.config {
        Some(path) => (Some(path.clone()), Some(read(path)?)),
        None => match default_path() {
            Some(path) if path.is_file() => {
                let text = read(&path)?;
                (Some(path), Some(text))
            }
            _ => (None, None),
        },
    };
    match (path, text) {
        (Some(path), Some(text)) => parse(&path, &text, overrides),
        _ => resolve(None, FileConfig::default(), overrides),
    }
}

/// Parses `text` (the contents of `path`) and resolves the chosen profile.
///
/// # Errors
/// As [`load`].
pub fn parse(path: &Path, text: &str, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|error| ConfigError::Parse {
        path: path.to_owned(),
        message: error.to_string().trim_end().to_owned(),
    })?;
    resolve(Some(path), file, overrides)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(error)?
        .take(MAX_CONFIG_LEN + 1)
        .read_to_string(&mut text)
        .map_err(error)?;
    if text.len() as u64 > MAX_CONFIG_LEN {
        return Err(ConfigError::Parse {
            path: path.to_owned(),
            message: "larger than 1 MiB".to_owned(),
        });
    }
    Ok(text)
}

fn resolve(
    path: Option<&Path>,
    mut file: FileConfig,
    overrides: &Overrides,
) -> Result<Settings, ConfigError> {
    let shown = path.map_or_else(|| PathBuf::from("(built-in configuration)"), Path::to_owned);
    let name = overrides
        .profile
        .clone()
        .or_else(|| file.default_profile.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    let profile = match file.profiles.remove(&name) {
        Some(profile) => profile,
        None if file.profiles.is_empty() && name == DEFAULT_PROFILE => ProfileFile::default(),
        None => {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            return Err(ConfigError::UnknownProfile {
                path: shown,
                name,
                known: if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                },
            });
        }
    };
    let invalid = |key: String, reason: String| ConfigError::Invalid {
        path: shown.clone(),
        key,
        reason,
    };
    let key = |field: &str| format!("profiles.{name}.{field}");

    let mut chain = profile
        .chain
        .unwrap_or_else(|| ChainConfig::new(Profile::Devnet));
    if let Some(endpoint) = &overrides.chain {
        chain.endpoint = Some(endpoint.clone());
    }
    chain
        .validate()
        .map_err(|error| invalid(key("chain"), error.to_string()))?;
    let faucet = profile
        .faucet
        .or_else(|| (chain.profile == Profile::Devnet).then(|| chain.endpoint().to_owned()));
    let pcrs = match profile.pcrs {
        Some(pcrs) => PcrSource::Expected(
            ExpectedPcrs::from_indexed(pcrs.iter().map(|(i, v)| (i.as_str(), v.as_str())))
                .map_err(|e| invalid(key(&e.field), e.reason))?,
        ),
        None => chain
            .enclave_config
            .map_or(PcrSource::Unchecked, PcrSource::EnclaveConfig),
    };
    let master_url = overrides.master.clone().or(profile.master);
    let master = match master_url {
        Some(url) => {
            if !url.starts_with("https://") {
                return Err(invalid(
                    key("master"),
                    format!("`{url}` is not an https:// URL"),
                ));
            }
            Some(MasterSettings {
                url,
                pcrs,
                dev_root: overrides.dev_root.clone().or(profile.dev_root),
                timeout: overrides.timeout.unwrap_or(Duration::from_secs(10)),
            })
        }
        None => None,
    };
    let ui = rates(&file.ui).map_err(|(field, reason)| invalid(format!("ui.{field}"), reason))?;
    // The profile's key and passphrase file belong to its wallet: another
    // wallet directory (`--wallet-dir`, `DAAS_WALLET_DIR`) takes neither,
    // so a new wallet there is never sealed with the profile's passphrase.
    let other_wallet = overrides
        .wallet_dir
        .as_ref()
        .is_some_and(|dir| profile.wallet_dir.as_ref() != Some(dir));
    let (profile_key, profile_passphrase) = match other_wallet {
        true => (None, None),
        false => (profile.key, profile.passphrase_file),
    };
    Ok(Settings {
        profile: name,
        source: path.map(Path::to_owned),
        chain,
        faucet,
        master,
        kube: KubeSettings {
            kubeconfig: overrides.kubeconfig.clone().or(profile.kubeconfig),
            context: overrides.kube_context.clone().or(profile.kube_context),
        },
        readonly: overrides.readonly || profile.readonly.unwrap_or(false),
        theme: overrides
            .theme
            .clone()
            .or(profile.theme)
            .or(file.ui.theme)
            .unwrap_or_else(|| DEFAULT_THEME.to_owned()),
        key: overrides.key.clone().or(profile_key),
        wallet_dir: overrides.wallet_dir.clone().or(profile.wallet_dir),
        passphrase_file: overrides.passphrase_file.clone().or(profile_passphrase),
        ui,
        keys: file.keys,
    })
}

fn rates(ui: &UiFile) -> Result<UiRates, (String, String)> {
    let mut rates = UiRates::default();
    if let Some(ms) = ui.tick_ms {
        if !(10..=10_000).contains(&ms) {
            return Err(("tick_ms".to_owned(), format!("{ms} is not in 10..=10000")));
        }
        rates.tick = Duration::from_millis(ms);
    }
    if let Some(secs) = ui.refresh_secs {
        if !(1..=3600).contains(&secs) {
            return Err((
                "refresh_secs".to_owned(),
                format!("{secs} is not in 1..=3600"),
            ));
        }
        rates.refresh = Duration::from_secs(secs);
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn settings(text: &str, overrides: &Overrides) -> Result<Settings, ConfigError> {
        parse(Path::new("/etc/console.toml"), text, overrides)
    }

    #[test]
    fn no_file_means_the_local_devnet_without_a_master() {
        let settings = resolve(None, FileConfig::default(), &Overrides::default()).unwrap();
        assert_eq!(settings.profile, "local");
        assert_eq!(settings.chain.endpoint(), "http://127.0.0.1:9000");
        assert_eq!(settings.faucet.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(settings.master.is_none());
        assert!(!settings.readonly);
        assert_eq!(settings.theme, "dark");
    }

    #[test]
    fn profiles_are_chosen_and_flags_override_them() {
        let text = r#"
            default_profile = "test"
            [ui]
            tick_ms = 100
            [profiles.test]
            master = "https://10.0.0.1:8443"
            readonly = true
            theme = "light"
            [profiles.test.chain]
            profile = "devnet"
            endpoint = "http://127.0.0.1:9100"
            [profiles.other]
            master = "https://other:8443"
            wallet_dir = "/srv/stack/operator/wallet"
            passphrase_file = "/srv/stack/operator/passphrase"
        "#;
        let chosen = settings(text, &Overrides::default()).unwrap();
        assert_eq!(chosen.profile, "test");
        assert_eq!(chosen.wallet_dir, None);
        assert!(chosen.readonly);
        assert_eq!(chosen.theme, "light");
        assert_eq!(chosen.ui.tick, Duration::from_millis(100));
        assert_eq!(chosen.chain.endpoint(), "http://127.0.0.1:9100");
        assert_eq!(chosen.master.unwrap().pcrs, PcrSource::Unchecked);
        let overridden = settings(
            text,
            &Overrides {
                profile: Some("other".into()),
                chain: Some("http://127.0.0.1:9200".into()),
                readonly: true,
                theme: Some("high-contrast".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(overridden.master.unwrap().url, "https://other:8443");
        assert_eq!(overridden.chain.endpoint(), "http://127.0.0.1:9200");
        assert!(overridden.readonly);
        assert_eq!(overridden.theme, "high-contrast");
        assert_eq!(
            overridden.wallet_dir.as_deref(),
            Some(Path::new("/srv/stack/operator/wallet"))
        );
        assert_eq!(
            overridden.passphrase_file.as_deref(),
            Some(Path::new("/srv/stack/operator/passphrase"))
        );
        let flags = settings(
            text,
            &Overrides {
                profile: Some("other".into()),
                wallet_dir: Some("/home/op/wallet".into()),
                passphrase_file: Some("/home/op/pass".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(
            flags.wallet_dir.as_deref(),
            Some(Path::new("/home/op/wallet"))
        );
        assert_eq!(
            flags.passphrase_file.as_deref(),
            Some(Path::new("/home/op/pass"))
        );
    }

    #[test]
    fn the_profiles_key_and_passphrase_stay_with_its_wallet() {
        let text = r#"
            [profiles.local]
            key = "operator"
            wallet_dir = "/srv/stack/operator/wallet"
            passphrase_file = "/srv/stack/operator/passphrase"
        "#;
        let wallet = |dir: &str, key: Option<&str>| Overrides {
            wallet_dir: Some(dir.into()),
            key: key.map(str::to_owned),
            ..Overrides::default()
        };
        let same = settings(text, &wallet("/srv/stack/operator/wallet", None)).unwrap();
        assert_eq!(same.key.as_deref(), Some("operator"));
        assert_eq!(
            same.passphrase_file.as_deref(),
            Some(Path::new("/srv/stack/operator/passphrase"))
        );
        let other = settings(text, &wallet("/home/me/wallet", None)).unwrap();
        assert_eq!(
            other.wallet_dir.as_deref(),
            Some(Path::new("/home/me/wallet"))
        );
        assert_eq!(other.key, None, "the active key of the other wallet");
        assert_eq!(
            other.passphrase_file, None,
            "never the profile's passphrase"
        );
        let named = settings(text, &wallet("/home/me/wallet", Some("me"))).unwrap();
        assert_eq!(named.key.as_deref(), Some("me"));
    }

    #[test]
    fn bad_configs_name_the_file_and_the_key() {
        let pcr = "ab".repeat(48);
        for (text, needles) in [
            (
                "[profiles.a]\nmaster_url = \"x\"",
                vec!["/etc/console.toml", "master_url"],
            ),
            ("[ui]\ncolour = 1", vec!["colour"]),
            ("[profiles.a]\nreadonly = \"yes\"", vec!["readonly"]),
            (
                "default_profile = \"a\"\n[profiles.a]\nmaster = \"http://x\"",
                vec!["profiles.a.master", "https://"],
            ),
            (
                "default_profile = \"a\"\n[profiles.a.pcrs]\n0 = \"zz\"",
                vec!["profiles.a.pcrs.0", "96 hex"],
            ),
            (
                &format!(
                    "default_profile = \"a\"\n[profiles.a.pcrs]\n0 = \"{pcr}\"\n1 = \"{pcr}\""
                ),
                vec!["profiles.a.pcrs.2", "missing"],
            ),
            (
                "default_profile = \"a\"\n[profiles.a.chain]\nprofile = \"testnet\"",
                vec!["profiles.a.chain", "package"],
            ),
            ("[ui]\ntick_ms = 1", vec!["ui.tick_ms"]),
            (
                "default_profile = \"nope\"\n[profiles.a]",
                vec!["no profile `nope`", "a"],
            ),
            ("not toml [", vec!["/etc/console.toml"]),
        ] {
            let error = settings(text, &Overrides::default())
                .unwrap_err()
                .to_string();
            for needle in needles {
                assert!(error.contains(needle), "{text:?}: {error}");
            }
        }
    }

    #[test]
    fn pcrs_pin_the_master() {
        let pcr = "ab".repeat(48);
        let text = format!(
            "default_profile = \"a\"\n[profiles.a]\nmaster = \"https://m:1\"\n[profiles.a.pcrs]\n0 = \"{pcr}\"\n1 = \"{pcr}\"\n2 = \"{pcr}\""
        );
        let master = settings(&text, &Overrides::default())
            .unwrap()
            .master
            .unwrap();
        assert!(matches!(master.pcrs, PcrSource::Expected(p) if p.pcr8.is_none()));
    }
}
