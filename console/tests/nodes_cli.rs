//! `daas-console nodes list` when nothing answers: an error naming both
//! sources, not an empty table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn with_neither_the_master_nor_the_api_server_there_is_no_list() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n\
         users:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let config = dir.path().join("console.toml");
    std::fs::write(
        &config,
        "default_profile = \"p\"\n[profiles.p]\nmaster = \"https://127.0.0.1:1\"\n\
         [profiles.p.chain]\nprofile = \"devnet\"\nendpoint = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    for json in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_daas-console"));
        command
            .env_clear()
            .env("HOME", dir.path())
            .arg("--config-file")
            .arg(&config)
            .arg("--kube-config")
            .arg(&kubeconfig)
            .args(["--timeout", "5", "nodes", "list", "--public"]);
        if json {
            command.arg("--json");
        }
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "listed: {stdout}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("no view of the nodes: master: request to https://127.0.0.1:1/"),
            "{stderr}"
        );
        assert!(
            stderr.contains("; Kubernetes API: listing nodes: Connection refused"),
            "{stderr}"
        );
    }
}
