//! `deploy/worker/install.sh` and the systemd unit: `--dry-run` changes
//! nothing and says what it would do; an install under `--root` lays out
//! the binary, the configuration and the passphrase owner-only, and the
//! unit in K3s's manner; bad arguments are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/worker/install.sh")
}

fn install(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn dry_run_changes_nothing_and_names_every_step() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("r");
    let out = install(&[
        "--binary",
        "/bin/true",
        "--root",
        target.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "/usr/local/bin/daas-agent",
        "/etc/daas-agent/worker-config.yaml",
        "/etc/systemd/system/daas-agent.service",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!target.exists(), "a dry run created {}", target.display());

    let out = install(&["--binary", "/bin/true", "--dry-run"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("would run: systemctl daemon-reload"),
        "{text}"
    );
    assert!(
        text.contains("would run: systemctl enable --now daas-agent.service"),
        "{text}"
    );
}

#[test]
fn an_install_under_a_root_is_owner_only_where_it_matters() {
    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("pass");
    std::fs::write(&passphrase, "secret\n").unwrap();
    let root = dir.path().join("root");
    let out = install(&[
        "--binary",
        "/bin/true",
        "--passphrase-file",
        passphrase.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--no-start",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&root.join("usr/local/bin/daas-agent")), 0o755);
    assert_eq!(mode(&root.join("etc/daas-agent")), 0o700);
    assert_eq!(mode(&root.join("etc/daas-agent/worker-config.yaml")), 0o600);
    assert_eq!(mode(&root.join("etc/daas-agent/wallet-passphrase")), 0o600);
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/daas-agent.service")).unwrap();
    for directive in [
        "Type=exec",
        "Restart=always",
        "KillMode=process",
        "Delegate=yes",
        "LoadCredential=wallet-passphrase:/etc/daas-agent/wallet-passphrase",
        "RestartPreventExitStatus=2 10 11 12 78",
        "ExecStart=/usr/local/bin/daas-agent run --config /etc/daas-agent/worker-config.yaml",
    ] {
        assert!(unit.lines().any(|l| l == directive), "{directive}");
    }
    assert!(!unit.contains("secret"));
}

#[test]
fn bad_arguments_are_refused() {
    for (args, needle) in [
        (vec![], "--binary PATH is required"),
        (
            vec!["--binary", "/nonexistent/daas-agent"],
            "not an executable",
        ),
        (
            vec!["--binary", "/bin/true", "--frobnicate"],
            "unknown argument",
        ),
        (
            vec!["--binary", "/bin/true", "--config", "/nonexistent.yaml"],
            "does not exist",
        ),
    ] {
        let out = install(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}
