//! The workspace's executables for tests that run them as processes.
//!
//! `$DAAS_<NAME>_BIN` (e.g. `DAAS_MASTER_BIN`) names a prebuilt one (a
//! relative path is taken from the workspace directory, since Cargo runs
//! tests and benches in their package's directory); otherwise the test runs `cargo build --workspace --bins
//! --examples --message-format=json` once per process and takes the paths
//! Cargo reports, so a test never runs a stale binary. One build of every
//! binary (one feature resolution) is much cheaper than one per package,
//! each of which would resolve features differently and rebuild shared
//! crates.
//!
//! `--examples` (the workspace has none) makes Cargo resolve features with
//! the dev-dependencies, as `cargo test --workspace` does: the binaries are
//! then the ones the test build made already. Without it, 47 crates and
//! every binary were built a second time with other features (a minute
//! and 0.8 GB on a clean checkout, and again after every edit of `core`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context as _, bail};

/// The arguments of the one build of every binary; `deploy/lib.sh`'s
/// `build_binaries` (what `deploy/dev/up.sh` builds) runs the same.
pub const BUILD_ARGS: [&str; 4] = ["build", "--workspace", "--bins", "--examples"];

/// Every binary by name, or why the build failed.
type Built = Result<HashMap<String, PathBuf>, String>;

/// `daas-devnet`.
pub const DEVNET: &str = "daas-devnet";
/// `daas-master`.
pub const MASTER: &str = "daas-master";
/// `daas-console`.
pub const CONSOLE: &str = "daas-console";
/// `daas-agent`.
pub const AGENT: &str = "daas-agent";
/// `daas-local`.
pub const LOCAL: &str = "daas-local";

/// Every environment variable `daas-console` reads. A console that the
/// stack or a test runs is given what it needs explicitly; these, from the
/// user's shell (say `DAAS_CONSOLE_CONFIG` of a stack that is up, as its
/// next steps suggest exporting), are removed first.
pub const CONSOLE_ENV: &[&str] = &[
    "DAAS_CONSOLE_CONFIG",
    "DAAS_PROFILE",
    "DAAS_WALLET_DIR",
    "DAAS_WALLET_PASSPHRASE",
    "DAAS_WALLET_PASSPHRASE_FILE",
    "DAAS_CREDENTIAL_CACHE_DIR",
];

/// `command` without the user's console settings ([`CONSOLE_ENV`]): for a
/// console, or a program that runs one.
pub fn without_console_env(command: &mut std::process::Command) -> &mut std::process::Command {
    for name in CONSOLE_ENV {
        command.env_remove(name);
    }
    command
}

/// `console` without the user's console settings ([`CONSOLE_ENV`]).
pub fn console_command(console: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(console);
    without_console_env(command.as_std_mut());
    command
}

/// The executable of workspace package `package` (whose binary has the
/// package's name), built if needed.
///
/// # Errors
/// The override names no file, or Cargo failed or reported no executable.
pub fn workspace_binary(package: &str) -> anyhow::Result<PathBuf> {
    let variable = override_variable(package);
    if let Some(path) = std::env::var_os(&variable) {
        let path = workspace_dir()?.join(path);
        if !path.is_file() {
            bail!("{variable}={} is not a file", path.display());
        }
        return Ok(path);
    }
    static BUILT: OnceLock<Mutex<Option<Built>>> = OnceLock::new();
    // Holding the lock while Cargo runs makes concurrent callers wait for
    // the one build.
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let binaries = built.get_or_insert_with(|| build_all().map_err(|error| format!("{error:#}")));
    match binaries {
        Ok(binaries) => binaries
            .get(package)
            .cloned()
            .with_context(|| format!("cargo built no {package} executable")),
        Err(error) => Err(anyhow::Error::msg(error.clone())),
    }
}

fn override_variable(package: &str) -> String {
    let name = package.trim_start_matches("daas-").to_uppercase();
    format!("DAAS_{name}_BIN")
}

/// The workspace this crate was built from (`deploy/local` is two levels
/// below it), where `cargo build` and `deploy/dev/setup.sh` run.
///
/// # Errors
/// The crate's directory has no grandparent.
pub fn workspace_dir() -> anyhow::Result<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("deploy/local has no workspace directory above it")
}

fn build_all() -> anyhow::Result<HashMap<String, PathBuf>> {
    let workspace = workspace_dir()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(&cargo);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_per_crate_variable) {
            command.env_remove(name);
        }
    }
    let output = command
        .current_dir(workspace)
        .args(BUILD_ARGS)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| {
            format!(
                "running {} {}",
                cargo.to_string_lossy(),
                BUILD_ARGS.join(" ")
            )
        })?;
    if !output.status.success() {
        bail!("cargo {} failed ({})", BUILD_ARGS.join(" "), output.status);
    }
    Ok(output
        .stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_owned();
            let executable = m["executable"].as_str()?;
            Some((name, PathBuf::from(executable)))
        })
        .collect())
}

/// The variables Cargo sets for the crate whose test is running. A nested
/// build must not inherit them: build scripts that read them (ring's does)
/// would rerun, and everything above them would rebuild, on every switch
/// between `cargo test` and a plain `cargo build`. Public for tests that
/// run the README's commands (which build) from inside `cargo test`.
pub fn is_per_crate_variable(name: &str) -> bool {
    const PREFIXES: [&str; 5] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_TARGET_TMPDIR",
    ];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || matches!(name, "CARGO_PRIMARY_PACKAGE" | "CARGO_RUSTC_CURRENT_DIR")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_variables_are_named_after_the_package() {
        assert_eq!(override_variable(MASTER), "DAAS_MASTER_BIN");
        assert_eq!(override_variable(DEVNET), "DAAS_DEVNET_BIN");
        assert_eq!(override_variable(CONSOLE), "DAAS_CONSOLE_BIN");
    }

    #[test]
    fn the_tests_and_the_first_command_build_the_same_way() {
        let lib = std::fs::read_to_string(workspace_dir().unwrap().join("deploy/lib.sh")).unwrap();
        let flags = BUILD_ARGS[1..].join(" ");
        let expected = format!("cargo build -q {flags}\n");
        assert!(lib.contains(&expected), "deploy/lib.sh lacks {expected:?}");
    }

    #[test]
    fn the_nested_build_keeps_cargo_itself_but_not_the_crate_under_test() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_BIN_EXE_daas-local",
        ] {
            assert!(is_per_crate_variable(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_INCREMENTAL",
        ] {
            assert!(!is_per_crate_variable(name), "{name}");
        }
    }
}
