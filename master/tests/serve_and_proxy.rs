//! `daas-master serve` on TCP and on a Unix socket, reached through
//! `daas-master proxy` (the parent-side forwarder; vsock loopback is not
//! available here, so the same generic code is run over TCP and Unix), and
//! graceful shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use daas_core::attested::AttestedClient;
use support::{Master, Process};

/// Starts `daas-master proxy --listen tcp:127.0.0.1:0 --to TARGET` and
/// returns it with the https URL of its listening side.
async fn start_proxy(target: &str) -> (Process, String) {
    let proxy = Process::start(&["proxy", "--listen", "tcp:127.0.0.1:0", "--to", target]).await;
    let bound = proxy
        .first_line
        .strip_prefix("daas-master proxy listening on tcp:")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("unexpected first line {:?}", proxy.first_line))
        .to_owned();
    (proxy, format!("https://{bound}"))
}

async fn exits_cleanly_on_sigterm(process: &mut Process) {
    process.terminate();
    let status = tokio::time::timeout(Duration::from_secs(15), process.child.wait())
        .await
        .expect("no exit within 15 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn attested_client_through_a_tcp_proxy_to_a_tcp_master() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = Master::start(dir.path()).await;
    let target = format!("tcp:{}", master.url.strip_prefix("https://").unwrap());
    let (mut proxy, proxy_url) = start_proxy(&target).await;

    let client = AttestedClient::new(&proxy_url, master.dev_client_config()).unwrap();
    let attested = client.master().await.unwrap();
    let context = client.security_context().await.unwrap();
    assert_eq!(
        context.tls_spki_sha256,
        hex::encode(attested.tls_spki_sha256())
    );

    exits_cleanly_on_sigterm(&mut proxy).await;
    exits_cleanly_on_sigterm(&mut master.process).await;
}

#[tokio::test]
async fn attested_client_through_a_tcp_proxy_to_a_unix_socket_master() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("master.sock");
    let listen = format!("unix:{}", socket.display());
    let mut master = Master::start_on(&dir.path().join("state"), &listen).await;
    assert_eq!(master.url, format!("{listen} (https)"));
    assert!(socket.exists());
    let (mut proxy, proxy_url) = start_proxy(&listen).await;

    let client = AttestedClient::new(&proxy_url, master.dev_client_config()).unwrap();
    let attested = client.master().await.unwrap();
    assert!(attested.is_insecure_dev());
    let context = client.security_context().await.unwrap();
    assert_eq!(
        context.signing_public_key,
        hex::encode(attested.signing_key().as_bytes())
    );

    exits_cleanly_on_sigterm(&mut master.process).await;
    // The socket file goes away with the listener.
    assert!(!socket.exists());
    // With the master gone the proxy still runs, and the client fails
    // with a transport error instead of hanging.
    let error = client.security_context().await.unwrap_err();
    assert!(error.to_string().contains("failed"), "{error}");
    exits_cleanly_on_sigterm(&mut proxy).await;
}

#[tokio::test]
async fn bad_command_lines_fail_with_a_message() {
    let output = tokio::process::Command::new(support::MASTER)
        .args([
            "serve",
            "--listen",
            "udp:1:2",
            "--state-dir",
            "/nonexistent",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown kind"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nautilus-config.yaml");
    std::fs::write(&config, "tee:\n  type: SGX\n").unwrap();
    let output = tokio::process::Command::new(support::MASTER)
        .args(["serve", "--config", config.to_str().unwrap()])
        .arg("--state-dir")
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tee.type"), "{stderr}");
}
