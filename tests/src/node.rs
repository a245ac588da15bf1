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
//!   `failCgroupV1: false`), and pods in `10.42.<slot>.0/24` (CNI `ptp`).
//!
//! All of it runs under a supervisor (see [`crate::supervisor`]): its
//! janitor kills the node's process groups when the [`Node`] is dropped or
//! the test process dies in any way, then removes the cgroups, the veth, the
//! slot claim and the data directory. [`Footprint::remaining`] lists what is
//! left of a node, for tests that check that nothing is.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::Client;
use kube::api::Api;
use rand::Rng as _;
use serde_json::json;

use crate::k3s::{BIN_DIR_ENV, Cluster, default_bin_dir, ensure_executable, log_tail};
use crate::supervisor::{CLEANUP_HOOK, Supervisor};
use crate::tls_bootstrap::BootstrapToken;

/// The pause image that `deploy/k3s/build.sh node` builds (its name must
/// match `PAUSE_IMAGE` there); containerd's sandbox image.
pub const PAUSE_IMAGE: &str = "localhost/k3s-daas/pause:3.10.2";

/// The kubelet's port on the node's IP.
pub const KUBELET_PORT: u16 = 10250;

/// The containerd release that `deploy/k3s/build.sh node` builds.
pub const CONTAINERD_VERSION: &str = "v2.4.2";

/// Environment variable naming the directory of the CNI plugins (default:
/// Debian's `/usr/lib/cni`, else `/opt/cni/bin`).
pub const CNI_BIN_DIR_ENV: &str = "DAAS_CNI_BIN_DIR";

/// Where the kubelet finds the API server inside the node.
const APISERVER_PROXY_PORT: u16 = 6443;
/// The node's end of its veth pair, inside its network namespace.
const NODE_INTERFACE: &str = "eth0";
/// Cluster DNS address (K3s's default: the tenth address of the service CIDR).
const CLUSTER_DNS: &str = "10.43.0.10";
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

/// The executables and images a node runs.
#[derive(Debug, Clone)]
pub struct NodeBinaries {
    /// kubelet.
    pub kubelet: PathBuf,
    /// containerd.
    pub containerd: PathBuf,
    /// containerd's runc shim, `containerd-shim-runc-v2`.
    pub containerd_shim: PathBuf,
    /// ctr, containerd's client (imports the images).
    pub ctr: PathBuf,
    /// runc.
    pub runc: PathBuf,
    /// The directory of the CNI plugins (`ptp`, `host-local`, `loopback`).
    pub cni_bin_dir: PathBuf,
    /// The pause image, an OCI archive.
    pub pause_image: PathBuf,
    /// The busybox image, an OCI archive.
    pub busybox_image: PathBuf,
}

impl NodeBinaries {
    /// Finds the node's binaries and images in `$DAAS_K8S_BIN_DIR` or in the
    /// links of `deploy/k3s/build.sh`, runc on `PATH`, and the CNI plugins in
    /// `$DAAS_CNI_BIN_DIR`, `/usr/lib/cni` or `/opt/cni/bin`.
    pub fn locate() -> Result<Self> {
        let dir = match std::env::var_os(BIN_DIR_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => default_bin_dir()?,
        };
        let find = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            ensure_executable(&path)?;
            Ok(path)
        };
        let image = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            ensure!(
                path.is_file(),
                "the image archive {} is missing: run deploy/k3s/build.sh node",
                path.display()
            );
            Ok(path)
        };
        Ok(Self {
            kubelet: find("kubelet")?,
            containerd: find("containerd")?,
            containerd_shim: find("containerd-shim-runc-v2")?,
            ctr: find("ctr")?,
            runc: on_path("runc").context(
                "runc is not on PATH: install the Debian package runc (deploy/dev/setup.sh does)",
            )?,
            cni_bin_dir: cni_bin_dir()?,
            pause_image: image("pause.oci.tar")?,
            busybox_image: image("busybox.oci.tar")?,
        })
    }
}

fn cni_bin_dir() -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os(CNI_BIN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => vec![PathBuf::from(dir)],
        _ => vec!["/usr/lib/cni".into(), "/opt/cni/bin".into()],
    };
    candidates
        .iter()
        .find(|dir| {
            ["ptp", "host-local", "loopback"]
                .iter()
                .all(|p| dir.join(p).is_file())
        })
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "no directory of {candidates:?} holds the CNI plugins ptp, host-local and \
                 loopback: install the Debian package containernetworking-plugins \
                 (deploy/dev/setup.sh does) or set {CNI_BIN_DIR_ENV}"
            )
        })
}

/// The first executable called `name` on `PATH`.
fn on_path(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| ensure_executable(candidate).is_ok())
        .ok_or_else(|| anyhow!("{name} is not on PATH"))
}

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

    fn validate(&self) -> Result<u16> {
        ensure!(
            !self.name.is_empty()
                && self.name.len() <= 63
                && self
                    .name
                    .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && self
                    .name
                    .ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "node name {:?} must be a DNS label: 1-63 characters of a-z, 0-9 and '-', \
             starting and ending with a letter or digit",
            self.name
        );
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
        };
        let node = Node {
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

/// The name of the image in an OCI archive of `build.sh`, from its
/// `index.json` (the busybox image's tag is the Debian busybox-static version
/// it was made of).
pub async fn image_reference(archive: &Path) -> Result<String> {
    let output = tokio::process::Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg("./index.json")
        .output()
        .await
        .context("running tar")?;
    ensure!(
        output.status.success(),
        "reading index.json of {}: {}",
        archive.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let index: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parsing index.json of {}", archive.display()))?;
    index["manifests"][0]["annotations"]["io.containerd.image.name"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} names no image", archive.display()))
}

/// One of 256 node slots, claimed by a file in the system's temporary
/// directory so that nodes of concurrent test processes never share one.
/// Slot `i` has the veth subnet `10.200.i.0/30` (no default route: nothing
/// of a node talks beyond the host) and pods in `10.42.i.0/24`.
#[derive(Debug)]
struct Slot {
    index: u8,
    claim: PathBuf,
}

impl Slot {
    fn claim() -> Result<Self> {
        let dir = std::env::temp_dir().join("daas-node-slots");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let start: u8 = rand::thread_rng().r#gen();
        for offset in 0..=255u8 {
            let index = start.wrapping_add(offset);
            let claim = dir.join(index.to_string());
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&claim)
            {
                Ok(_) => return Ok(Self { index, claim }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("claiming {}", claim.display())),
            }
        }
        bail!(
            "all 256 node slots in {} are taken: too many nodes run on this machine \
             (a claim whose node is gone can be deleted)",
            dir.display()
        )
    }

    /// `daas-node-<index>`: the node's cgroup root and host interface (at
    /// most 15 characters, as interface names must be).
    fn name(&self) -> String {
        format!("daas-node-{}", self.index)
    }

    fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.index, 1)
    }

    fn node_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.index, 2)
    }

    fn pod_cidr(&self) -> String {
        format!("10.42.{}.0/24", self.index)
    }
}

/// The mount points of the cgroup hierarchies (v1 and, in hybrid mode, v2).
fn cgroup_mounts() -> Result<Vec<PathBuf>> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    Ok(mountinfo
        .lines()
        .filter_map(|line| {
            // `<id> <parent> <dev> <root> <mount point> <options> ... - <fstype> ...`
            let (fields, rest) = line.split_once(" - ")?;
            let fstype = rest.split(' ').next()?;
            let mount_point = fields.split(' ').nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .collect())
}

/// Whether a cgroup mount is a v1 hierarchy (where the kubelet needs the
/// cgroup root to exist).
fn is_cgroup_v1(mount_point: &Path) -> bool {
    mount_point.join("cgroup.clone_children").exists()
}

/// Quotes `value` for a POSIX shell.
fn sh_quote(value: &Path) -> String {
    format!("'{}'", value.to_string_lossy().replace('\'', r"'\''"))
}

/// What a node leaves on the machine while it runs; all of it is removed when
/// the node stops.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// The node's data directory.
    pub dir: PathBuf,
    /// The node's cgroup root in every hierarchy.
    pub cgroups: Vec<PathBuf>,
    /// The host's end of the node's veth pair.
    pub host_interface: String,
    /// The node's slot claim.
    pub claim: PathBuf,
}

impl Footprint {
    /// What is left of the node: its directory, cgroups, veth, slot claim, a
    /// mount under its directory, or a process whose command line names its
    /// directory. Empty once the node is fully gone.
    pub fn remaining(&self) -> Vec<String> {
        let mut left = Vec::new();
        let dir = self.dir.to_string_lossy().into_owned();
        if self.dir.exists() {
            left.push(format!("directory {dir}"));
        }
        left.extend(
            self.cgroups
                .iter()
                .filter(|c| c.exists())
                .map(|c| format!("cgroup {}", c.display())),
        );
        if Path::new("/sys/class/net")
            .join(&self.host_interface)
            .exists()
        {
            left.push(format!("interface {}", self.host_interface));
        }
        if self.claim.exists() {
            left.push(format!("slot claim {}", self.claim.display()));
        }
        if let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") {
            left.extend(
                mountinfo
                    .lines()
                    .filter(|l| l.contains(&dir))
                    .map(|l| format!("mount {l}")),
            );
        }
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if cmdline.contains(&dir) {
                    left.push(format!(
                        "process {}: {}",
                        entry.file_name().to_string_lossy(),
                        cmdline.trim()
                    ));
                }
            }
        }
        left
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

    /// Writes the janitor's cleanup hook: remove the node's cgroups (deepest
    /// first, retrying while the killed processes leave them), its veth and
    /// its slot claim.
    fn write_cleanup_hook(&self) -> Result<()> {
        let mut script = String::from("i=0\nwhile [ \"$i\" -lt 100 ]; do\n  left=\n");
        for cgroup in &self.footprint.cgroups {
            let _ = writeln!(
                script,
                "  if [ -d {c} ]; then find {c} -depth -type d -exec rmdir {{}} + 2>/dev/null; \
                 [ -d {c} ] && left=1; fi",
                c = sh_quote(cgroup)
            );
        }
        script.push_str("  [ -z \"$left\" ] && break\n  sleep 0.1\n  i=$((i + 1))\ndone\n");
        let _ = writeln!(
            script,
            "ip link del {} 2>/dev/null\nrm -f {}",
            sh_quote(Path::new(&self.footprint.host_interface)),
            sh_quote(&self.footprint.claim)
        );
        let hook = self.path(CLEANUP_HOOK);
        fs::write(&hook, script).with_context(|| format!("writing {}", hook.display()))
    }

    /// Makes the node's cgroup root in every v1 hierarchy, which the kubelet
    /// insists on finding; a new cpuset gets its parent's CPUs and memory
    /// nodes, without which no process could join it.
    fn create_cgroups(&self) -> Result<()> {
        for cgroup in &self.footprint.cgroups {
            let Some(parent) = cgroup.parent() else {
                continue;
            };
            if !is_cgroup_v1(parent) {
                continue;
            }
            fs::create_dir(cgroup)
                .with_context(|| format!("creating cgroup {}", cgroup.display()))?;
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = fs::read_to_string(parent.join(file)) {
                    fs::write(cgroup.join(file), value.trim())
                        .with_context(|| format!("writing {}", cgroup.join(file).display()))?;
                }
            }
        }
        Ok(())
    }

    /// Writes the CA, the bootstrap kubeconfig, and the kubelet's, containerd's
    /// and CNI's configuration.
    fn write_files(&self, builder: &NodeBuilder) -> Result<()> {
        for sub in [
            "kubelet/pki",
            "container-logs",
            "pod-logs",
            "static-pods",
            "cni/net.d",
            "cni/ipam",
            "containerd/root",
            "containerd/state",
            "containerd/tmp",
            "runc",
        ] {
            fs::create_dir_all(self.path(sub))
                .with_context(|| format!("creating {}", self.path(sub).display()))?;
        }
        write_file(&self.path("ca.crt"), &builder.ca_pem, 0o644)?;
        let server = format!("https://127.0.0.1:{APISERVER_PROXY_PORT}");
        let bootstrap = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": {
                "server": server,
                "certificate-authority-data": BASE64.encode(&builder.ca_pem),
            }}],
            "users": [{"name": "kubelet-bootstrap", "user": {"token": builder.token.bearer()}}],
            "contexts": [{"name": "bootstrap", "context": {
                "cluster": "cluster", "user": "kubelet-bootstrap",
            }}],
            "current-context": "bootstrap",
        });
        // The bootstrap token is a secret: owner-only.
        write_file(
            &self.path("bootstrap.kubeconfig"),
            &bootstrap.to_string(),
            0o600,
        )?;
        write_file(
            &self.path("kubelet.json"),
            &self.kubelet_config().to_string(),
            0o644,
        )?;
        write_file(
            &self.path("containerd/config.toml"),
            &self.containerd_config(),
            0o644,
        )?;
        let cni = json!({
            "cniVersion": "1.0.0",
            "name": "daas-node",
            "plugins": [{
                "type": "ptp",
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": self.pod_cidr()}]],
                    "dataDir": self.path("cni/ipam"),
                },
            }],
        });
        write_file(
            &self.path("cni/net.d/10-daas-node.conflist"),
            &cni.to_string(),
            0o644,
        )
    }

    /// The kubelet's configuration file (JSON, which the kubelet reads like
    /// YAML).
    fn kubelet_config(&self) -> serde_json::Value {
        json!({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            // This machine runs cgroup v1, deprecated but still supported.
            "failCgroupV1": false,
            "failSwapOn": false,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "containerRuntimeEndpoint": format!("unix://{}", self.path("containerd.sock").display()),
            "address": self.internal_ip().to_string(),
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": false},
                "webhook": {"enabled": true},
                "x509": {"clientCAFile": self.path("ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "rotateCertificates": true,
            "staticPodPath": self.path("static-pods"),
            "podLogsDir": self.path("pod-logs"),
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": "cluster.local",
            // A busy shared test machine must not put the node under disk
            // pressure, nor may the images that cannot be pulled again be
            // collected.
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%",
                "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            // Root lacks CAP_SYS_RESOURCE here: the kubelet's default of -999
            // cannot be set (see restrict_oom_score_adj in containerd's).
            "oomScoreAdj": 0,
            // Graceful node shutdown needs systemd-logind.
            "shutdownGracePeriod": "0s",
            "serializeImagePulls": false,
        })
    }

    /// containerd's configuration (version 4): everything under the node's
    /// directory, the CRI plugin with runc, the node's CNI and the pause image
    /// as the pinned sandbox image.
    fn containerd_config(&self) -> String {
        // A JSON string is a valid TOML basic string.
        let q = |path: PathBuf| serde_json::Value::from(path.to_string_lossy()).to_string();
        let b = &self.binaries;
        format!(
            r#"version = 4
root = {root}
state = {state}
temp = {temp}
imports = []
required_plugins = ["io.containerd.grpc.v1.cri"]

[plugins.'io.containerd.server.v1.grpc']
  address = {sock}
[plugins.'io.containerd.server.v1.ttrpc']
  address = {ttrpc}
[plugins.'io.containerd.server.v1.debug']
  address = ""
[plugins.'io.containerd.server.v1.metrics']
  address = ""
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.internal.v1.opt']
  path = {opt}
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"
[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # Root lacks CAP_SYS_RESOURCE on these machines, so nothing may lower an
  # oom_score_adj (runc fails on the pause container's -998): never ask for
  # less than containerd's own, as in K3s's rootless mode.
  restrict_oom_score_adj = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = {shim}
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = {runc}
        Root = {runc_root}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [{cni_bin}]
    conf_dir = {cni_conf}
"#,
            root = q(self.path("containerd/root")),
            state = q(self.path("containerd/state")),
            temp = q(self.path("containerd/tmp")),
            sock = q(self.path("containerd.sock")),
            ttrpc = q(self.path("containerd.sock.ttrpc")),
            opt = q(self.path("containerd/opt")),
            shim = q(b.containerd_shim.clone()),
            runc = q(b.runc.clone()),
            runc_root = q(self.path("runc")),
            cni_bin = q(b.cni_bin_dir.clone()),
            cni_conf = q(self.path("cni/net.d")),
        )
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
    async fn boot(&self, builder: &NodeBuilder, apiserver_port: u16) -> Result<()> {
        let sandbox = self.start_sandbox().await?;
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

/// Writes `contents` to `path` with permissions `mode`.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the permissions of {}", path.display()))
}
