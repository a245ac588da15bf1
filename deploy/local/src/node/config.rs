//! The node's configuration files: the cluster CA, the kubelet's bootstrap
//! kubeconfig and configuration, containerd's configuration and the CNI
//! network, all under the node's directory.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::private_file::write_atomic;
use serde_json::json;

use super::{APISERVER_PROXY_PORT, KUBELET_PORT, Node, NodeBuilder, PAUSE_IMAGE};

/// Cluster DNS address (K3s's default: the tenth address of the service CIDR).
const CLUSTER_DNS: &str = "10.43.0.10";

impl Node {
    /// Writes the CA, the bootstrap kubeconfig, and the kubelet's, containerd's
    /// and CNI's configuration.
    pub(super) fn write_files(&self, builder: &NodeBuilder) -> Result<()> {
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
        write_file(&self.path("ca.crt"), &builder.ca_pem)?;
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
        // The bootstrap token is a secret: owner-only from the start.
        let path = self.path("bootstrap.kubeconfig");
        write_atomic(&path, bootstrap.to_string().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        write_file(
            &self.path("kubelet.json"),
            &self.kubelet_config().to_string(),
        )?;
        write_file(
            &self.path("containerd/config.toml"),
            &self.containerd_config(),
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
            // These nodes share their host's disk and memory with whatever
            // else runs there (a CI build): node-pressure eviction would fail
            // pods and taint the node for the host's state, so every
            // threshold is off ("0%" disables one). Nor may the images that
            // cannot be pulled again be collected.
            "evictionHard": {"memory.available": "0%", "nodefs.available": "0%",
                "imagefs.available": "0%", "nodefs.inodesFree": "0%"},
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
}

/// Writes a file that holds no secret.
fn write_file(path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
