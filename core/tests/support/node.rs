//! Runs the project's Node scripts (tests/js) that compute reference values
//! with the official TypeScript SDK `@mysten/sui`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The npm package with the pinned `@mysten/sui`.
fn js_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/js"))
}

/// Runs `tests/js/<script>` with `input` as JSON on stdin and returns its JSON output.
///
/// Panics with instructions when Node or the npm packages are missing: these
/// cross-checks must run, never be skipped.
pub fn run_script(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let dir = js_dir();
    assert!(
        dir.join("node_modules/@mysten/sui").is_dir(),
        "@mysten/sui is not installed in {}: run deploy/dev/setup.sh",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run node (install Node.js >= 18, see deploy/dev/setup.sh): {e}")
        });
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(input.to_string().as_bytes())
        .expect("write to node");
    drop(stdin);
    let output = child.wait_with_output().expect("wait for node");
    assert!(
        output.status.success(),
        "node {script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "node {script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
