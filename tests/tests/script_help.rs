//! Every script a person runs answers `--help` with its usage (the comment
//! block at its top), exits 0, and does nothing else: no setup, no build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn each_script_prints_its_usage_and_only_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (script, opening) in [
        (
            "deploy/dev/setup.sh",
            "Installs everything the K3s-DaaS test suite needs",
        ),
        ("deploy/dev/up.sh", "The whole K3s-DaaS on this machine"),
        ("deploy/k3s/build.sh", "Build the Kubernetes control plane"),
        (
            "deploy/worker/install.sh",
            "Installs the K3s-DaaS worker agent",
        ),
        (
            "deploy/1-sui-contracts-deploy.sh",
            "Step 1 of the deployment guide",
        ),
        (
            "deploy/2-ec2-worker-deploy.sh",
            "Step 2 of the deployment guide",
        ),
        (
            "deploy/3-nautilus-tee-deploy.sh",
            "Step 3 of the deployment guide",
        ),
        (
            "deploy/4-system-integration-test.sh",
            "Step 4 of the deployment guide",
        ),
        (
            "deploy/deploy-all.sh",
            "The whole deployment guide in order",
        ),
    ] {
        let out = Command::new("bash")
            .arg(root.join(script))
            .arg("--help")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.starts_with(opening), "{script}: {text}");
        assert!(text.contains("sage"), "{script} names no usage: {text}");
        for code in ["set -e", "==>", "# "] {
            assert!(!text.contains(code), "{script} printed {code:?}: {text}");
        }
    }
}
