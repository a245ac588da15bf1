//! The stack's wallets and on-chain set-up, kept in `stack.json` between
//! runs: the operator (admin, `EnclaveCap` and `SlasherCap` owner from
//! genesis) and the real worker, each an encrypted wallet with a random
//! passphrase in an owner-only file; their faucet funding; the
//! `EnclaveConfig` with the master's PCRs, the registration of the
//! master's dev enclave key, and the operator's super-tier stake.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use daas_core::chain::ChainClient;
use daas_core::chain::ptb::PcrArgs;
use daas_core::package::staking::SealToken;
use daas_core::package::{ENCLAVE_CAP_ID, MoveStruct as _, Role, SealTokenId, Tier};
use daas_core::private_file;
use daas_core::wallet::{BackendKind, Keypair, Passphrase, Scheme, WalletStore};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;

use crate::launcher::layout::Layout;

/// What the stack remembers between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Facts {
    /// Addresses the faucet has funded.
    #[serde(default)]
    pub funded: Vec<Address>,
    /// The `EnclaveConfig` and the PCRs (hex, 0–2) it was made with.
    #[serde(default)]
    pub enclave_config: Option<(Address, [String; 3])>,
}

impl Facts {
    /// The facts of `layout`, empty on a first run.
    ///
    /// # Errors
    /// The file is unreadable or not ours.
    pub fn load(layout: &Layout) -> anyhow::Result<Self> {
        let path = layout.facts_file();
        match private_file::read_if_exists(&path)? {
            None => Ok(Self::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not the stack's facts file", path.display())),
        }
    }

    /// Writes the facts (owner only, atomically).
    ///
    /// # Errors
    /// The write failed.
    pub fn save(&self, layout: &Layout) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self).context("encoding the facts")?;
        private_file::write_atomic(&layout.facts_file(), &json)?;
        Ok(())
    }
}

/// A wallet directory of one key, unlocked by a passphrase file.
#[derive(Debug)]
pub struct Account {
    dir: PathBuf,
    key: Keypair,
}

impl Account {
    /// The account kept in `dir` (`wallet/`, `passphrase`), made with a new
    /// key under `alias` on first use.
    ///
    /// # Errors
    /// The wallet or passphrase cannot be made, read or unlocked.
    pub fn open_or_create(dir: &Path, alias: &str) -> anyhow::Result<Self> {
        let passphrase_file = dir.join("passphrase");
        let wallet = dir.join("wallet");
        let passphrase = match private_file::read_if_exists(&passphrase_file)? {
            Some(bytes) => String::from_utf8(bytes)
                .with_context(|| format!("{} is not text", passphrase_file.display()))?
                .trim()
                .to_owned(),
            None => {
                // A wallet without its passphrase is unusable: start over.
                let _ = std::fs::remove_dir_all(&wallet);
                let mut secret = [0u8; 24];
                rand::thread_rng().fill_bytes(&mut secret);
                let passphrase = hex::encode(secret);
                private_file::write_atomic(&passphrase_file, format!("{passphrase}\n").as_bytes())?;
                passphrase
            }
        };
        let mut store = WalletStore::open_with(
            &wallet,
            BackendKind::EncryptedFile,
            Some(Passphrase::new(passphrase)),
        )
        .with_context(|| format!("opening the wallet {}", wallet.display()))?;
        if store.list().is_empty() {
            store
                .add(alias, &Keypair::generate(Scheme::Ed25519))
                .with_context(|| format!("adding a key to {}", wallet.display()))?;
        }
        let key = store
            .keypair(Some(alias))
            .with_context(|| format!("reading key {alias} of {}", wallet.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
        })
    }

    /// The address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The key.
    pub fn key(&self) -> &Keypair {
        &self.key
    }

    /// The wallet directory.
    pub fn wallet_dir(&self) -> PathBuf {
        self.dir.join("wallet")
    }

    /// The passphrase file (0600).
    pub fn passphrase_file(&self) -> PathBuf {
        self.dir.join("passphrase")
    }
}

/// The master's audit gas key (`suiprivkey1…`, 0600), made on the first
/// run and kept: with it the master creates its audit log on the devnet
/// and anchors its signed checkpoints there (about 0.005 SUI each). Its
/// address, for the faucet.
///
/// # Errors
/// The file cannot be read, holds no key, or cannot be written.
pub fn audit_gas_key(layout: &Layout) -> anyhow::Result<Address> {
    let path = layout.audit_gas_key();
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let key = Keypair::from_suiprivkey(text.trim())
            .with_context(|| format!("{} holds no key", path.display()))?;
        return Ok(key.address());
    }
    let key = Keypair::generate(Scheme::Ed25519);
    private_file::write_atomic(&path, key.to_suiprivkey().as_bytes())?;
    Ok(key.address())
}

/// Funds `address` from the faucet at `chain_url` once per stack.
///
/// # Errors
/// The faucet refused, or the facts could not be saved.
pub async fn fund_once(
    layout: &Layout,
    facts: &mut Facts,
    chain_url: &str,
    address: Address,
) -> anyhow::Result<()> {
    if facts.funded.contains(&address) {
        return Ok(());
    }
    let http = crate::devnet::http_client()?;
    crate::devnet::request_gas(&http, chain_url, address)
        .await
        .with_context(|| format!("funding {address} from the faucet"))?;
    facts.funded.push(address);
    facts.save(layout)
}

/// PCR 0, 1 and 2 (hex) of a master's security context.
///
/// # Errors
/// One is missing.
pub fn boot_pcrs(pcrs: &BTreeMap<u8, String>) -> anyhow::Result<[String; 3]> {
    let get = |i: u8| {
        pcrs.get(&i)
            .cloned()
            .with_context(|| format!("the master reports no PCR {i}"))
    };
    Ok([get(0)?, get(1)?, get(2)?])
}

/// The `EnclaveConfig` holding `pcrs`: the kept one, its PCRs replaced with
/// `update_pcrs` if a rebuilt master has new ones (so that worker configs
/// pinned to it stay valid, as a real deployment upgrades its image), or a
/// new one made by the operator (who owns the `EnclaveCap`).
///
/// # Errors
/// The PCRs are not hex, or the transaction failed.
pub async fn enclave_config(
    layout: &Layout,
    facts: &mut Facts,
    chain: &ChainClient,
    operator: &Account,
    pcrs: &[String; 3],
) -> anyhow::Result<Address> {
    let kept = match &facts.enclave_config {
        Some((id, kept)) if kept == pcrs => return Ok(*id),
        kept => kept.as_ref().map(|(id, _)| *id),
    };
    let bytes: Vec<Vec<u8>> = pcrs
        .iter()
        .map(|pcr| hex::decode(pcr).context("a PCR of the master is not hex"))
        .collect::<anyhow::Result<_>>()?;
    let args = PcrArgs {
        pcr0: &bytes[0],
        pcr1: &bytes[1],
        pcr2: &bytes[2],
    };
    let id = match kept {
        Some(id) => {
            chain
                .update_enclave_pcrs(operator.key(), id, ENCLAVE_CAP_ID, &args)
                .await
                .with_context(|| format!("updating the PCRs of EnclaveConfig {id}"))?;
            id
        }
        None => {
            chain
                .create_enclave_config(
                    operator.key(),
                    ENCLAVE_CAP_ID,
                    "k3s-daas local master (dev attestation)",
                    &args,
                )
                .await
                .context("creating the EnclaveConfig")?
                .event
                .config_id
        }
    };
    facts.enclave_config = Some((id, pcrs.clone()));
    facts.save(layout)?;
    Ok(id)
}

/// Registers the master's attested key against `config` from the
/// operator's wallet with `daas-console enclave register`.
///
/// # Errors
/// The console could not run or refused.
pub async fn register_enclave(
    console: &Path,
    layout: &Layout,
    operator: &Account,
    master_url: &str,
    config: Address,
) -> anyhow::Result<()> {
    let output = crate::binaries::console_command(console)
        .arg("--config-file")
        .arg(layout.console_config())
        .arg("--wallet-dir")
        .arg(operator.wallet_dir())
        .arg("--passphrase-file")
        .arg(operator.passphrase_file())
        .args(["enclave", "register", master_url, "--yes", "--config"])
        .arg(config.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running daas-console enclave register")?;
    ensure!(
        output.status.success(),
        "daas-console enclave register failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    if output.stdout.is_empty() {
        bail!("daas-console enclave register printed nothing");
    }
    Ok(())
}

/// The operator's active super-tier user seal token, staked now if it
/// holds none. The operator's console then sees what an operator sees
/// (every node's owner and stake, the agents' metrics, the audit log) and
/// its kubectl is cluster-admin, through stake like anyone else's.
///
/// # Errors
/// The chain could not be read, or the stake failed.
pub async fn operator_seal_token(
    chain: &ChainClient,
    operator: &Account,
) -> anyhow::Result<SealTokenId> {
    let now_ms = chain.clock_timestamp_ms().await?;
    let tag = SealToken::struct_tag(chain.package_id());
    for id in chain
        .owned_objects_of_type(operator.address(), &tag)
        .await?
    {
        let token = SealTokenId::new(id);
        let state = chain.seal_token_state(token).await?;
        if state.is_active(now_ms)
            && state.token.value.role == Role::User
            && state.tier() == Some(Tier::Super)
        {
            return Ok(token);
        }
    }
    let params = chain.stake_pool().await?.value.params;
    let amount = params.tiers.threshold(Tier::Super);
    let minted = chain
        .stake_and_mint(operator.key(), amount, Role::User, "")
        .await
        .context("staking the operator's super tier")?;
    Ok(minted.token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn an_account_is_made_once_and_then_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let made = Account::open_or_create(dir.path(), "operator").unwrap();
        let again = Account::open_or_create(dir.path(), "operator").unwrap();
        assert_eq!(made.address(), again.address());
        let mode = std::fs::metadata(made.passphrase_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "passphrase file mode {mode:o}");
    }

    #[test]
    fn a_wallet_without_its_passphrase_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let made = Account::open_or_create(dir.path(), "worker").unwrap();
        std::fs::remove_file(made.passphrase_file()).unwrap();
        let new = Account::open_or_create(dir.path(), "worker").unwrap();
        assert_ne!(made.address(), new.address());
    }

    #[test]
    fn facts_survive_a_round_trip_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_owned());
        assert!(Facts::load(&layout).unwrap().funded.is_empty());
        let facts = Facts {
            funded: vec![Address::ZERO],
            enclave_config: Some((Address::TWO, ["a".into(), "b".into(), "c".into()])),
        };
        facts.save(&layout).unwrap();
        let loaded = Facts::load(&layout).unwrap();
        assert_eq!(loaded.funded, facts.funded);
        assert_eq!(loaded.enclave_config, facts.enclave_config);

        std::fs::write(layout.facts_file(), "not json").unwrap();
        let error = format!("{:#}", Facts::load(&layout).unwrap_err());
        assert!(error.contains("stack.json"), "{error}");
    }

    #[test]
    fn boot_pcrs_need_pcr_0_1_and_2() {
        let mut pcrs: BTreeMap<u8, String> = [(0, "00".to_owned()), (1, "11".to_owned())].into();
        let error = boot_pcrs(&pcrs).unwrap_err().to_string();
        assert!(error.contains("PCR 2"), "{error}");
        pcrs.insert(2, "22".to_owned());
        assert_eq!(boot_pcrs(&pcrs).unwrap(), ["00", "11", "22"]);
    }
}
