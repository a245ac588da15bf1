//! The executables and images of a node: the kubelet, containerd, its shim
//! and ctr, and the two OCI image archives from `deploy/k3s/build.sh node`;
//! runc and the CNI plugins from Debian.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, ensure};

use crate::k3s::{BIN_DIR_ENV, default_bin_dir, ensure_executable};

/// Environment variable naming the directory of the CNI plugins (default:
/// Debian's `/usr/lib/cni`, else `/opt/cni/bin`).
pub const CNI_BIN_DIR_ENV: &str = "DAAS_CNI_BIN_DIR";

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
pub(super) fn on_path(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| ensure_executable(candidate).is_ok())
        .ok_or_else(|| anyhow!("{name} is not on PATH"))
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
