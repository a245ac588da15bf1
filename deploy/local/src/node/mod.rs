//! A real Kubernetes worker node for the end-to-end tests: containerd, runc,
//! the CNI plugins and the kubelet, joining a test [`Cluster`] by TLS
//! bootstrapping with a bootstrap token, as `k3s agent` does.
//!
//! K3s cannot be built here (see `deploy/k3s/README.md`), so a node is made of
//! the upstream parts that `k3s agent` bundles, built by `deploy/k3s/build.sh
//! node`: kubelet v1.37.2, containerd v2 with its runc shim, Debian's runc
//! and CNI plugins, and the pause and busybox images as OCI archives that are
//! imported into containerd (there is no registry).
//!
//! Each node is a small machine of its own on this one:
//!
//! - a **PID namespace**, so that killing its first process kills every
//!   process of the node, shims and containers included;
//! - a **mount namespace**, so that every mount the kubelet and containerd
//!   make (volumes, container root file systems, pinned network namespaces,
//!   the tmpfs over containerd's fixed `/run/containerd`, the binds over the
//!   kubelet's fixed `/var/lib/kubelet` and `/var/log/containers`) exists only
//!   there and goes away with it;
//! - a **network namespace** with a veth pair to the host: the node's IP is
//!   `10.200.<slot>.2` (the kubelet refuses a loopback node IP), its kubelet
//!   serves on port 10250 there, the API server reaches it through the veth,
//!   and the kubelet reaches the API server at `127.0.0.1:6443` inside the
//!   node, where a `socat` pair relays to the API server's loopback port
//!   through a unix socket (K3s's agent has its API load balancer at
//!   `127.0.0.1:6444` in the same way);
//! - its own **cgroup root** `/daas-node-<slot>` in every cgroup v1 hierarchy
//!   (this machine runs cgroup v1, which kubelet 1.37 accepts with
//!   `failCgroupV1: false`), and pods in `10.42.<slot>.0/24` (CNI `ptp`);
//! - **no node-pressure eviction and no image garbage collection**: the
//!   disk and memory are the host's, shared with whatever else runs there,
//!   so the kubelet would fail pods and taint the node (for minutes) over
//!   the host's state, and the images cannot be pulled again.
//!
//! All of it runs under a supervisor (the `supervisor` module): its
//! janitor kills the node's process groups when the [`Node`] is dropped or
//! the test process dies in any way, then removes the cgroups, the veth, the
//! slot claim and the data directory. [`Footprint::remaining`] lists what is
//! left of a node, for tests that check that nothing is.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use daas_core::access::NodeName;
use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::Client;
use kube::api::Api;

use self::binaries::on_path;
pub use self::binaries::{CNI_BIN_DIR_ENV, NodeBinaries, image_reference};
pub use self::host::Footprint;
use self::host::{NAMESPACES_FILE, Slot, cgroup_mounts};
use crate::k3s::{Cluster, log_tail};
use crate::supervisor::Supervisor;
use crate::tls_bootstrap::BootstrapToken;

mod binaries;
mod config;
mod host;

/// The pause image that `deploy/k3s/build.sh node` builds (its name must
/// match `PAUSE_IMAGE` there); containerd's sandbox image.
pub const PAUSE_IMAGE: &str = "localhost/k3s-daas/pause:3.10.2";

/// The kubelet's port on the node's IP.
pub const KUBELET_PORT: u16 = 10250;

/// The containerd release that `deploy/k3s/build.sh node` builds.
pub const CONTAINERD_VERSION: &str = "v2.4.2";

/// Where the kubelet finds the API server inside the node.
const APISERVER_PROXY_PORT: u16 = 6443;
/// The node's end of its veth pair, inside its network namespace.
const NODE_INTERFACE: &str = "eth0";
/// How long containerd may take to serve its socket.
const CONTAINERD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the node's namespaces may take to be set up.
const SANDBOX_TIMEOUT: Duration = Duration::from_secs(30);

/// The first process of the node's namespaces (PID 1 there), run as `sh -c`
/// with `$1` the node's directory. It makes the mounts that give the
/// kubelet's and containerd's fixed paths a per-node home, brings up the
/// loopback interface, says it is ready, and then reaps orphans (the
/// containerd shims end up as its children) until it is killed, which kills
/// the whole node.
const SANDBOX_SCRIPT: &str = r#"set -e
dir="$1"
mkdir -p /run/containerd /var/lib/kubelet /var/log/containers
mount -t tmpfs -o mode=0711 daas-node /run/containerd
mount --bind "$dir/kubelet" /var/lib/kubelet
mount --bind "$dir/container-logs" /var/log/containers
ip link set lo up
touch "$dir/sandbox-ready"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait; done
"#;

/// How a node is started.
pub struct NodeBuilder {
    name: String,
    server: String,
    ca_pem: String,
    token: BootstrapToken,
    labels: Vec<(String, String)>,
    binaries: Option<NodeBinaries>,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// A node called `name` that joins `cluster` with the bootstrap `token`.
    /// Who approves its client certificate is the caller's concern (see
    /// [`crate::tls_bootstrap`]).
    pub fn new(cluster: &Cluster, name: &str, token: &BootstrapToken) -> Self {
        Self::for_server(cluster.server(), cluster.ca_pem(), name, token)
    }

    /// A node that joins the API server at `server` (`https://127.0.0.1:<port>`,
    /// as the test clusters serve), whose serving certificate `ca_pem` signed.
    pub fn for_server(server: &str, ca_pem: &str, name: &str, token: &BootstrapToken) -> Self {
        Self {
            name: name.to_owned(),
            server: server.to_owned(),
            ca_pem: ca_pem.to_owned(),
            token: token.clone(),
            labels: Vec::new(),
            binaries: None,
        }
    }

    /// A label the kubelet registers its Node with (`--node-labels`; the
    /// NodeRestriction admission plugin refuses some prefixes).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Uses these binaries instead of [`NodeBinaries::locate`].
    pub fn binaries(mut self, binaries: NodeBinaries) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// Checks the builder; returns the API server's port.
    fn validate(&self) -> Result<u16> {
        // The names the master accepts, by the same rule.
        self.name.parse::<NodeName>()?;
        for (key, value) in &self.labels {
            ensure!(
                !key.is_empty()
                    && !format!("{key}{value}").contains([',', '=', ' ', '\n', '"', '\'']),
                "node label {key:?}={value:?} must not be empty or contain , = quotes or spaces"
            );
        }
        let port = self
            .server
            .strip_prefix("https://127.0.0.1:")
            .and_then(|port| port.parse::<u16>().ok())
            .with_context(|| {
                format!(
                    "API server URL {:?} is not https://127.0.0.1:<port>, which the node's \
                     API relay expects",
                    self.server
                )
            })?;
        ensure!(
            self.ca_pem.contains("-----BEGIN CERTIFICATE-----"),
            "the cluster CA is not a PEM certificate"
        );
        Ok(port)
    }

    /// Starts containerd and the kubelet and returns once the kubelet runs;
    /// it then asks for its client certificate. Wait with
    /// [`Node::wait_ready`] after the CSR is approved.
    pub async fn start(self) -> Result<Node> {
        let apiserver_port = self.validate()?;
        let binaries = match &self.binaries {
            Some(b) => b.clone(),
            None => NodeBinaries::locate()?,
        };
        let busybox_image = image_reference(&binaries.busybox_image).await?;
        let cgroup_mounts = cgroup_mounts()?;
        let supervisor = Supervisor::start("daas-node-")?;
        let slot = Slot::claim()?;
        let footprint = Footprint {
            dir: supervisor.dir().to_owned(),
            cgroups: cgroup_mounts.iter().map(|m| m.join(slot.name())).collect(),
            host_interface: slot.name(),
            claim: slot.claim.clone(),
            namespaces: Vec::new(),
        };
        let mut node = Node {
            name: self.name.clone(),
            cgroup_root: format!("/{}", slot.name()),
            slot,
            busybox_image,
            footprint,
            binaries,
            supervisor,
        };
        // The hook first, so that whatever is made below is also undone.
        if let Err(e) = node.write_cleanup_hook() {
            let _ = fs::remove_file(&node.footprint.claim);
            return Err(e);
        }
        node.create_cgroups()?;
        node.write_files(&self)?;
        node.boot(&self, apiserver_port).await?;
        Ok(node)
    }
}

/// A running node. Dropping it kills every process of the node and removes
/// all it made; so does the test process ending in any way.
pub struct Node {
    name: String,
    slot: Slot,
    busybox_image: String,
    footprint: Footprint,
    cgroup_root: String,
    binaries: NodeBinaries,
    supervisor: Supervisor,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("ip", &self.internal_ip())
            .field("dir", &self.footprint.dir)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// The node's name (`--hostname-override`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's IP, where its kubelet serves on [`KUBELET_PORT`].
    pub fn internal_ip(&self) -> Ipv4Addr {
        self.slot.node_ip()
    }

    /// The range the node's pods get their IPs from.
    pub fn pod_cidr(&self) -> String {
        self.slot.pod_cidr()
    }

    /// The busybox image in the node's containerd (pods use it with
    /// `imagePullPolicy: Never`).
    pub fn busybox_image(&self) -> &str {
        &self.busybox_image
    }

    /// The node's data directory (removed when the node goes away).
    pub fn data_dir(&self) -> &Path {
        self.supervisor.dir()
    }

    /// What the node leaves on the machine (see [`Footprint::remaining`]).
    pub fn footprint(&self) -> &Footprint {
        &self.footprint
    }

    /// Where a component's output goes: `kubelet`, `containerd`, `sandbox`,
    /// `apiserver-bridge`, `apiserver-proxy`.
    pub fn log_path(&self, component: &str) -> PathBuf {
        self.supervisor.log_path(component)
    }

    /// The kubeconfig the kubelet writes for its own client certificate
    /// (it refers to [`Self::client_certificate_path`]).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.path("kubelet.kubeconfig")
    }

    /// Where the kubelet keeps its client certificate once it is signed
    /// (and its rotations): `kubelet-client-current.pem` in its cert dir.
    pub fn client_certificate_path(&self) -> PathBuf {
        self.path("kubelet/pki/kubelet-client-current.pem")
    }

    /// Fails, quoting its log, if a component of the node has exited.
    pub fn check_alive(&self) -> Result<()> {
        self.supervisor.check_alive()
    }

    /// Waits until the node's Node object is Ready and returns it.
    pub async fn wait_ready(&self, client: &Client, timeout: Duration) -> Result<NodeObject> {
        let nodes: Api<NodeObject> = Api::all(client.clone());
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let node = nodes
                .get_opt(&self.name)
                .await
                .with_context(|| format!("reading node {}", self.name))?;
            if let Some(node) = node.filter(crate::kwok::node_ready) {
                return Ok(node);
            }
            if Instant::now() > deadline {
                bail!(
                    "node {} was not Ready within {timeout:?}; the kubelet's log ends with:\n{}",
                    self.name,
                    log_tail(&self.log_path("kubelet"), 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.data_dir().join(name)
    }

    /// `nsenter` arguments that run `program args` inside the node's
    /// namespaces, whose first process (outside view) is `sandbox_pid`.
    fn inside(sandbox_pid: u32, program: &Path, args: &[String]) -> Vec<String> {
        let ns = |kind: &str| format!("/proc/{sandbox_pid}/ns/{kind}");
        let mut all = vec![
            format!("--pid={}", ns("pid_for_children")),
            format!("--mount={}", ns("mnt")),
            format!("--net={}", ns("net")),
            "--".to_owned(),
            program.to_string_lossy().into_owned(),
        ];
        all.extend_from_slice(args);
        all
    }

    /// Starts the node's namespaces, network, API relay, containerd (with the
    /// images) and the kubelet.
    async fn boot(&mut self, builder: &NodeBuilder, apiserver_port: u16) -> Result<()> {
        let sandbox = self.start_sandbox().await?;
        self.footprint.namespaces = ["pid_for_children", "mnt", "net"]
            .iter()
            .map(|kind| {
                let link = format!("/proc/{sandbox}/ns/{kind}");
                fs::read_link(&link)
                    .map(|ns| ns.to_string_lossy().into_owned())
                    .with_context(|| format!("reading {link}"))
            })
            .collect::<Result<_>>()?;
        let namespaces = self.path(NAMESPACES_FILE);
        fs::write(&namespaces, self.footprint.namespaces.join("\n"))
            .with_context(|| format!("writing {}", namespaces.display()))?;
        self.connect_network(sandbox).await?;
        let socket = self.path("apiserver.sock");
        let socat = on_path("socat").context(
            "socat is not on PATH: install the Debian package socat (deploy/dev/setup.sh does)",
        )?;
        self.supervisor.spawn(
            "apiserver-bridge",
            &socat,
            &[
                format!("UNIX-LISTEN:{},fork,mode=600", socket.display()),
                format!("TCP:127.0.0.1:{apiserver_port}"),
            ],
            &[],
        )?;
        let nsenter = on_path("nsenter")?;
        self.supervisor.spawn(
            "apiserver-proxy",
            &nsenter,
            &Self::inside(
                sandbox,
                &socat,
                &[
                    format!("TCP-LISTEN:{APISERVER_PROXY_PORT},bind=127.0.0.1,reuseaddr,fork"),
                    format!("UNIX-CONNECT:{}", socket.display()),
                ],
            ),
            &[],
        )?;
        self.supervisor.spawn(
            "containerd",
            &nsenter,
            &Self::inside(
                sandbox,
                &self.binaries.containerd,
                &[format!(
                    "--config={}",
                    self.path("containerd/config.toml").display()
                )],
            ),
            &[],
        )?;
        self.wait_containerd().await?;
        self.import_images().await?;
        let mut args = vec![
            format!("--config={}", self.path("kubelet.json").display()),
            format!(
                "--bootstrap-kubeconfig={}",
                self.path("bootstrap.kubeconfig").display()
            ),
            format!("--kubeconfig={}", self.kubeconfig_path().display()),
            format!("--cert-dir={}", self.path("kubelet/pki").display()),
            format!("--root-dir={}", self.path("kubelet").display()),
            format!("--hostname-override={}", self.name),
            format!("--node-ip={}", self.internal_ip()),
            "--v=2".to_owned(),
        ];
        if !builder.labels.is_empty() {
            let labels: Vec<String> = builder
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            args.push(format!("--node-labels={}", labels.join(",")));
        }
        self.supervisor.spawn(
            "kubelet",
            &nsenter,
            &Self::inside(sandbox, &self.binaries.kubelet, &args),
            &[],
        )?;
        tracing::info!(node = %self.name, ip = %self.internal_ip(), dir = %self.data_dir().display(), "node started");
        Ok(())
    }

    /// Starts the node's first process in new PID, mount and network
    /// namespaces and waits until it has made its mounts; returns its pid
    /// (outside view), through which the others enter.
    async fn start_sandbox(&self) -> Result<u32> {
        let unshare = on_path("unshare")?;
        let pid = self.supervisor.spawn(
            "sandbox",
            &unshare,
            &[
                "--pid".to_owned(),
                "--mount".to_owned(),
                "--net".to_owned(),
                "--fork".to_owned(),
                // The first process dies with unshare, and the node with it.
                "--kill-child".to_owned(),
                "--mount-proc".to_owned(),
                "--propagation=private".to_owned(),
                "--".to_owned(),
                "sh".to_owned(),
                "-c".to_owned(),
                SANDBOX_SCRIPT.to_owned(),
                "daas-node-sandbox".to_owned(),
                self.data_dir().to_string_lossy().into_owned(),
            ],
            &[],
        )?;
        let ready = self.path("sandbox-ready");
        self.wait_until("the node's namespaces", SANDBOX_TIMEOUT, "sandbox", || {
            let ready = ready.clone();
            async move { Ok(ready.exists()) }
        })
        .await?;
        Ok(pid)
    }

    /// Connects the node's network namespace to the host with a veth pair:
    /// `10.200.<slot>.1` on the host, the node's IP on its `eth0`.
    async fn connect_network(&self, sandbox: u32) -> Result<()> {
        let host_if = &self.footprint.host_interface;
        let net_ns = format!("--net=/proc/{sandbox}/ns/net");
        let steps = [
            format!("ip link add {host_if} type veth peer name {NODE_INTERFACE} netns {sandbox}"),
            format!("ip addr add {}/30 dev {host_if}", self.slot.host_ip()),
            format!("ip link set {host_if} up"),
            format!(
                "nsenter {net_ns} ip addr add {}/30 dev {NODE_INTERFACE}",
                self.internal_ip()
            ),
            format!("nsenter {net_ns} ip link set {NODE_INTERFACE} up"),
        ];
        // No word of these commands holds a space.
        for step in &steps {
            run(&step.split(' ').collect::<Vec<_>>()).await?;
        }
        Ok(())
    }

    /// Waits until containerd answers on its socket.
    async fn wait_containerd(&self) -> Result<()> {
        let ctr = self.binaries.ctr.clone();
        let socket = self.path("containerd.sock");
        self.wait_until("containerd", CONTAINERD_TIMEOUT, "containerd", || {
            let (ctr, socket) = (ctr.clone(), socket.clone());
            async move {
                if !socket.exists() {
                    return Ok(false);
                }
                let status = tokio::process::Command::new(&ctr)
                    .arg("--address")
                    .arg(&socket)
                    .arg("version")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .await
                    .context("running ctr version")?;
                Ok(status.success())
            }
        })
        .await
    }

    /// Imports the pause and busybox images into containerd's `k8s.io`
    /// namespace (the CRI's), and pins busybox so that the kubelet's image
    /// garbage collector never removes what no registry can give back.
    async fn import_images(&self) -> Result<()> {
        let ctr = |rest: &[&OsStr]| -> Vec<OsString> {
            let mut argv: Vec<OsString> = vec![
                self.binaries.ctr.clone().into(),
                "--address".into(),
                self.path("containerd.sock").into(),
                "--namespace".into(),
                "k8s.io".into(),
            ];
            argv.extend(rest.iter().map(|a| (*a).to_owned()));
            argv
        };
        for archive in [&self.binaries.pause_image, &self.binaries.busybox_image] {
            run(&ctr(&[
                "images".as_ref(),
                "import".as_ref(),
                "--local".as_ref(),
                archive.as_ref(),
            ]))
            .await?;
        }
        run(&ctr(&[
            "images".as_ref(),
            "label".as_ref(),
            self.busybox_image.as_ref(),
            "io.cri-containerd.pinned=pinned".as_ref(),
        ]))
        .await
    }

    /// Polls `probe` every 100 ms until it says yes, failing after `timeout`
    /// with the log of `component`, or at once if a component died.
    async fn wait_until<F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        component: &str,
        mut probe: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if probe().await? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{what} did not come up within {timeout:?}; the {component} log ends with:\n{}",
                    log_tail(&self.log_path(component), 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs a command to completion, failing with its stderr.
async fn run<S: AsRef<OsStr>>(argv: &[S]) -> Result<()> {
    let (program, args) = argv.split_first().context("an empty command")?;
    let shown = || {
        argv.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", shown()))?;
    ensure!(
        output.status.success(),
        "`{}` failed ({}): {}",
        shown(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn builder(name: &str, server: &str) -> NodeBuilder {
        NodeBuilder::for_server(server, CA, name, &BootstrapToken::generate())
    }

    #[test]
    fn a_valid_builder_yields_the_api_server_port() {
        let port = builder("node-1.example", "https://127.0.0.1:6443")
            .label("daas.e2e/real-node", "true")
            .validate()
            .unwrap();
        assert_eq!(port, 6443);
    }

    #[test]
    fn bad_node_names_are_refused_by_name() {
        let long = "a".repeat(64);
        for name in [
            "",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "a..b",
            ".a",
            long.as_str(),
        ] {
            let err = builder(name, "https://127.0.0.1:6443")
                .validate()
                .unwrap_err();
            assert!(err.to_string().contains("node name"), "{name:?}: {err}");
        }
    }

    #[test]
    fn a_server_the_relay_cannot_reach_is_refused() {
        for server in [
            "http://127.0.0.1:6443",
            "https://10.0.0.1:6443",
            "https://127.0.0.1",
            "https://127.0.0.1:99999",
        ] {
            let err = builder("node", server).validate().unwrap_err();
            assert!(
                err.to_string().contains("API server URL"),
                "{server}: {err}"
            );
        }
    }

    #[test]
    fn bad_labels_and_a_ca_that_is_not_pem_are_refused() {
        for (key, value) in [("", "x"), ("a,b", "x"), ("k", "x=y"), ("k", "a b")] {
            let err = builder("node", "https://127.0.0.1:6443")
                .label(key, value)
                .validate()
                .unwrap_err();
            assert!(
                err.to_string().contains("node label"),
                "{key}={value}: {err}"
            );
        }
        let err = NodeBuilder::for_server(
            "https://127.0.0.1:6443",
            "not a certificate",
            "node",
            &BootstrapToken::generate(),
        )
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("cluster CA"), "{err}");
    }
}
