//! Several `daas-master serve` replicas on one control plane, behind one
//! address (ARCHITECTURE.md, "State and scale": every replica answers the
//! webhooks and the API; one, elected by a Lease, leads).
//!
//! The API server's webhooks (authentication, authorization, audit) and the
//! users each reach the replicas through a [`Forwarder`]: a round-robin TCP
//! forwarder that passes the bytes through untouched, so TLS, and with it
//! attestation, stays end to end between the caller and one replica. A
//! replica that refuses connections (killed) is skipped, so the webhooks
//! keep working while any replica lives.
//!
//! The replicas share what enclaves of one build behind one address share:
//! the webhook identity (the certificate authority the API server's
//! kubeconfigs trust; `webhook-ca.*`) and, with dev attestation, the dev
//! root that stands in for the hardware vendor's (`dev-root*.pem`).
//! Everything else is each replica's own: its attested TLS key and enclave
//! signing key (new at every boot), its state directory and its log.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use daas_core::attested::AttestedClient;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::devnet::Devnet;
use crate::k3s::{self, Cluster};
use crate::stack::{
    MasterProcess, StackOptions, cluster_builder, dev_client, master_config_for,
    write_webhook_files,
};

/// How long the forwarder waits for one replica to accept before trying
/// the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The files of the webhook identity, shared by every replica.
const WEBHOOK_IDENTITY_FILES: [&str; 2] = ["webhook-ca.crt", "webhook-ca.key"];
/// The files of the dev attestation root, shared by every replica.
const DEV_ROOT_FILES: [&str; 2] = ["dev-root.pem", "dev-root-key.pem"];

/// A round-robin TCP forwarder on `127.0.0.1`: every accepted connection
/// goes to the next backend that accepts it, bytes copied both ways
/// unchanged. Stops accepting when dropped.
pub struct Forwarder {
    address: SocketAddr,
    accept: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on a free port of `127.0.0.1` and forwards to `backends`.
    ///
    /// # Errors
    /// No backend was given, or no port could be bound.
    pub async fn start(backends: Vec<SocketAddr>) -> anyhow::Result<Self> {
        ensure!(!backends.is_empty(), "a forwarder needs a backend");
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the forwarder")?;
        let address = listener
            .local_addr()
            .context("reading the forwarder's address")?;
        let backends: Arc<[SocketAddr]> = backends.into();
        let next = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let first = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(client, Arc::clone(&backends), first));
            }
        });
        Ok(Self { address, accept })
    }

    /// The address callers use.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `https://` and the address.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Connects `client` to the first backend from index `first` on that
/// accepts, and copies until either side closes.
async fn forward(mut client: TcpStream, backends: Arc<[SocketAddr]>, first: usize) {
    for offset in 0..backends.len() {
        let backend = backends[(first + offset) % backends.len()];
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend)).await {
            Ok(Ok(mut server)) => {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                return;
            }
            Ok(Err(error)) => debug!(%backend, %error, "backend refused; trying the next"),
            Err(_) => debug!(%backend, "backend did not accept in time; trying the next"),
        }
    }
    debug!("no backend accepted the connection");
}

/// The devnet, the control plane and N master replicas behind one webhook
/// address and one API address. Dropping it stops everything.
pub struct ReplicatedStack {
    /// The chain.
    pub devnet: Devnet,
    /// The control plane, whose webhooks point at [`Self::webhooks`].
    pub cluster: Cluster,
    /// The replicas, in start order; each also answers on its own address.
    pub masters: Vec<MasterProcess>,
    /// The address of every replica's webhook listener.
    pub webhooks: Forwarder,
    /// The address of every replica's attested API.
    pub api: Forwarder,
    config: PathBuf,
    _config_dir: TempDir,
}

impl ReplicatedStack {
    /// Starts the devnet, the control plane and `replicas` masters on one
    /// configuration (`options.master_config` appended), and waits until
    /// every replica is ready.
    ///
    /// # Errors
    /// `replicas` is zero, or a component failed to start.
    pub async fn start(options: StackOptions, replicas: usize) -> anyhow::Result<Self> {
        ensure!(replicas > 0, "a replicated stack needs at least one master");
        let devnet = Devnet::start_with(options.devnet.clone()).await?;
        let dirs = (0..replicas)
            .map(|_| tempfile::tempdir().context("making a master's directory"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ports = (0..replicas)
            .map(|_| k3s::free_port())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let webhooks = Forwarder::start(ports.iter().map(|&p| localhost(p)).collect()).await?;
        let files = write_webhook_files(dirs[0].path(), webhooks.address().port()).await?;
        for dir in &dirs[1..] {
            share_files(dirs[0].path(), dir.path(), &WEBHOOK_IDENTITY_FILES)?;
        }
        let cluster = cluster_builder(&files, &options).start().await?;
        let config_dir = tempfile::tempdir().context("making the config directory")?;
        let config = config_dir.path().join("nautilus-config.yaml");
        std::fs::write(
            &config,
            master_config_for(devnet.url(), &cluster, &options.master_config),
        )
        .context("writing the masters' config")?;
        let mut masters = Vec::with_capacity(replicas);
        for (dir, port) in dirs.into_iter().zip(ports) {
            // The first replica makes the dev root; the others load it.
            if let Some(first) = masters.first().map(MasterProcess::dir) {
                share_files(&first, dir.path(), &DEV_ROOT_FILES)?;
            }
            let master = MasterProcess::start(dir, config.clone(), port).await?;
            master.wait_ready().await?;
            masters.push(master);
        }
        let api = Forwarder::start(
            masters
                .iter()
                .map(|m| socket_address(m.url()))
                .collect::<anyhow::Result<_>>()?,
        )
        .await?;
        Ok(Self {
            devnet,
            cluster,
            masters,
            webhooks,
            api,
            config,
            _config_dir: config_dir,
        })
    }

    /// An attested client of the replicas behind [`Self::api`] (dev
    /// attestation, any measurement).
    ///
    /// # Errors
    /// The dev root is unreadable.
    pub fn client(&self) -> anyhow::Result<AttestedClient> {
        dev_client(&self.api.url(), &self.masters[0].state_dir())
    }

    /// The replicas' shared configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }
}

/// Starts another master beside `of` (a running stack's master), serving
/// on the configuration `config`, with its own directory, state, webhook
/// port and enclave key, and `of`'s webhook identity and dev root, as
/// replicas of one deployment share them: the API server's webhook client
/// certificate is accepted by both, and one `--dev-root` attests either.
/// Does not wait until it is ready.
///
/// # Errors
/// The shared files cannot be copied, the configuration written, or the
/// process did not start.
pub async fn replica_of(of: &MasterProcess, config: &str) -> anyhow::Result<MasterProcess> {
    let dir = tempfile::tempdir().context("making the replica's directory")?;
    share_files(
        &of.dir(),
        dir.path(),
        &[WEBHOOK_IDENTITY_FILES, DEV_ROOT_FILES].concat(),
    )?;
    let path = dir.path().join("nautilus-config.yaml");
    std::fs::write(&path, config).context("writing the replica's configuration")?;
    MasterProcess::start(dir, path, k3s::free_port()?).await
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// The socket address of an `https://HOST:PORT` URL.
fn socket_address(url: &str) -> anyhow::Result<SocketAddr> {
    let Some(address) = url.strip_prefix("https://") else {
        bail!("{url} is not an https:// URL");
    };
    address
        .parse()
        .with_context(|| format!("{url} does not name an IP address and port"))
}

/// Copies `names` from `from/state` into `to/state` (made 0700), keeping
/// each file's mode (the keys stay 0600).
fn share_files(from: &Path, to: &Path, names: &[&str]) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    let target = to.join("state");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&target)
        .with_context(|| format!("making {}", target.display()))?;
    for name in names {
        let source = from.join("state").join(name);
        std::fs::copy(&source, target.join(name))
            .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// An echo server that prefixes what it echoes with `tag`.
    async fn tagged_echo(tag: u8) -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut byte = [0u8; 1];
                    while stream.read_exact(&mut byte).await.is_ok() {
                        if stream.write_all(&[tag, byte[0]]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    async fn round_trip(forwarder: &Forwarder, byte: u8) -> Option<[u8; 2]> {
        let mut stream = TcpStream::connect(forwarder.address()).await.unwrap();
        stream.write_all(&[byte]).await.unwrap();
        let mut answer = [0u8; 2];
        stream.read_exact(&mut answer).await.ok().map(|_| answer)
    }

    #[tokio::test]
    async fn connections_alternate_and_bytes_pass_unchanged() {
        let (a, b) = (tagged_echo(b'a').await, tagged_echo(b'b').await);
        let forwarder = Forwarder::start(vec![a, b]).await.unwrap();
        let mut tags = Vec::new();
        for byte in [0x16, 0x03, 0xff, 0x00] {
            let answer = round_trip(&forwarder, byte).await.unwrap();
            assert_eq!(answer[1], byte);
            tags.push(answer[0]);
        }
        assert_eq!(tags, b"abab");
    }

    #[tokio::test]
    async fn a_dead_backend_is_skipped_and_none_alive_closes() {
        let dead = localhost(k3s::free_port().unwrap());
        let alive = tagged_echo(b'b').await;
        let forwarder = Forwarder::start(vec![dead, alive]).await.unwrap();
        for byte in 0..4 {
            assert_eq!(round_trip(&forwarder, byte).await, Some([b'b', byte]));
        }
        let nobody = Forwarder::start(vec![dead]).await.unwrap();
        assert_eq!(round_trip(&nobody, 1).await, None);
        assert!(Forwarder::start(Vec::new()).await.is_err());
    }

    #[test]
    fn replica_urls_must_be_https_addresses() {
        assert_eq!(
            socket_address("https://127.0.0.1:8443").unwrap(),
            localhost(8443)
        );
        assert!(socket_address("http://127.0.0.1:8443").is_err());
        assert!(socket_address("https://master:8443").is_err());
    }
}
