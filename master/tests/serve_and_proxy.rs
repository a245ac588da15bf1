//! `daas-master serve` on TCP and on a Unix socket, reached through
//! `daas-master proxy` (the parent-side forwarder; vsock loopback is not
//! available here, so the same generic code is run over TCP and Unix), the
//! PROXY v2 header that names each client through it, per-client limits,
//! attestation `auto` without a Nitro Secure Module, refused
//! configurations, and graceful shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use daas_core::api::attestation::SecurityContext;
use daas_core::api::{ATTESTATION_PATH, HEALTHZ_PATH, SECURITY_CONTEXT_PATH};
use daas_core::attested::AttestedClient;
use daas_core::attested::tls::{ServerKeyVerifier, client_config};
use reqwest::StatusCode;
use support::{Master, Process};

/// Starts `daas-master proxy --listen tcp:127.0.0.1:0 --to TARGET` and
/// returns it with the https URL of its listening side.
async fn start_proxy(target: &str) -> (Process, String) {
    start_proxy_with(target, &[]).await
}

/// [`start_proxy`] with more flags.
async fn start_proxy_with(target: &str, flags: &[&str]) -> (Process, String) {
    let mut args = vec!["proxy", "--listen", "tcp:127.0.0.1:0", "--to", target];
    args.extend_from_slice(flags);
    let proxy = Process::start(&args).await;
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

    // A master with a cluster must name its chain, and reach a public one
    // over TLS; each refusal names the key and the file.
    let cluster = "k3s:\n  kubeconfig: \"/nonexistent/k3s.yaml\"\n";
    for (text, key) in [
        (cluster.to_owned(), "sui.profile"),
        (
            format!(
                "{cluster}sui:\n  profile: mainnet\n  rpc_endpoint: \"http://fullnode.example:9000\"\n  \
                 package_id: \"0x7f\"\n  stake_pool_id: \"0x70\"\n"
            ),
            "sui.rpc_endpoint",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let output = tokio::process::Command::new(support::MASTER)
            .args([
                "serve",
                "--attestation",
                "dev",
                "--config",
                config.to_str().unwrap(),
            ])
            .arg("--state-dir")
            .arg(dir.path())
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(key) && stderr.contains(config.to_str().unwrap()),
            "{stderr}"
        );
    }
}

/// An HTTPS client that accepts any server key, opens a new connection per
/// request, and connects from `source` (any 127.0.0.0/8 address is this
/// machine).
fn client_from(source: &str) -> reqwest::Client {
    let source: IpAddr = source.parse().unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config(ServerKeyVerifier::capture()).unwrap())
        .local_address(source)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("nautilus-config.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn through_the_proxy_limits_key_by_the_client_address_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("master.sock");
    let listen = format!("unix:{}", socket.display());
    let config = write_config(
        dir.path(),
        "api:\n  proxy_protocol: true\n  client_rate_limit_per_minute: 3\n",
    );
    let state = dir.path().join("state");
    let mut master = Process::start(&[
        "serve",
        "--listen",
        &listen,
        "--state-dir",
        state.to_str().unwrap(),
        "--attestation",
        "dev",
        "--config",
        &config,
    ])
    .await;
    let (mut proxy, url) = start_proxy_with(&listen, &["--proxy-protocol", "true"]).await;

    // Each request is a new connection from a new source port: the budget
    // is the address's.
    let first = client_from("127.0.0.1");
    for _ in 0..3 {
        let response = first
            .get(format!("{url}{HEALTHZ_PATH}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = first
        .get(format!("{url}{HEALTHZ_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    // Another client behind the same proxy has its own budget: the master
    // keys by the address in the header, not by the proxy's connection.
    let second = client_from("127.0.0.2");
    let response = second
        .get(format!("{url}{HEALTHZ_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Straight to the master, without a header: closed before TLS.
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        client_config(ServerKeyVerifier::capture()).unwrap(),
    ));
    let name = rustls::pki_types::ServerName::try_from("daas-master").unwrap();
    assert!(connector.connect(name, stream).await.is_err());

    exits_cleanly_on_sigterm(&mut proxy).await;
    exits_cleanly_on_sigterm(&mut master).await;
}

#[tokio::test]
async fn attestation_is_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "tee:\n  attestation_rate_limit_per_minute: 2\n");
    let state = dir.path().join("state");
    let process = Process::start(&[
        "serve",
        "--listen",
        "tcp:127.0.0.1:0",
        "--state-dir",
        state.to_str().unwrap(),
        "--attestation",
        "dev",
        "--config",
        &config,
    ])
    .await;
    let url = process
        .first_line
        .strip_prefix("daas-master listening on ")
        .unwrap()
        .to_owned();
    let client = client_from("127.0.0.1");
    let attest = || {
        client
            .post(format!("{url}{ATTESTATION_PATH}"))
            .json(&serde_json::json!({ "nonce": "ab".repeat(32) }))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attest().await.unwrap().status(), StatusCode::OK);
    }
    let refused = attest().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = refused.text().await.unwrap();
    assert!(body.contains("rate limit"), "{body}");
    // Other endpoints are not charged for attestations.
    let context = client
        .get(format!("{url}{SECURITY_CONTEXT_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(context.status(), StatusCode::OK);
}

#[tokio::test]
async fn auto_attestation_without_nsm_falls_back_only_when_allowed_and_says_so() {
    if Path::new("/dev/nsm").exists() {
        eprintln!("skipped: this machine has a Nitro Secure Module");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let refused = tokio::process::Command::new(support::MASTER)
        .args(["serve", "--listen", "tcp:127.0.0.1:0", "--state-dir", state])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("/dev/nsm") && stderr.contains("--allow-dev-fallback"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "it listened anyway");

    let log = dir.path().join("master.log");
    let process = Process::start_logged(
        &[
            "serve",
            "--listen",
            "tcp:127.0.0.1:0",
            "--state-dir",
            state,
            "--allow-dev-fallback",
        ],
        &log,
    )
    .await;
    let url = process
        .first_line
        .strip_prefix("daas-master listening on ")
        .unwrap()
        .to_owned();
    let context: SecurityContext = client_from("127.0.0.1")
        .get(format!("{url}{SECURITY_CONTEXT_PATH}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(context.dev_fallback && context.insecure, "{context:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("FELL BACK to INSECURE dev attestation"),
        "{log}"
    );

    // The same, allowed by the configuration file.
    let config = write_config(
        dir.path(),
        "tee:\n  type: auto\n  allow_dev_fallback: true\n",
    );
    let process = Process::start(&[
        "serve",
        "--listen",
        "tcp:127.0.0.1:0",
        "--state-dir",
        state,
        "--config",
        &config,
    ])
    .await;
    assert!(process.first_line.starts_with("daas-master listening on "));
}

#[tokio::test]
async fn under_a_low_open_file_limit_a_flood_is_refused_without_exhausting_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("master.log");
    // 300 descriptors: 256 reserved, the rest split between the listeners.
    let script = format!(
        "ulimit -n 300 && exec {} serve --listen tcp:127.0.0.1:0 --attestation dev --state-dir {}",
        support::MASTER,
        state.display()
    );
    let process = Process::start_in_shell(&script, &log).await;
    let url = process
        .first_line
        .strip_prefix("daas-master listening on ")
        .unwrap()
        .to_owned();
    let address = url.strip_prefix("https://").unwrap().to_owned();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("connection caps lowered"), "{text}");

    // More connections than the master has descriptors: the ones over the
    // cap are closed at once, and it never runs out.
    let mut flood = Vec::new();
    for _ in 0..400 {
        flood.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let mut newest = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::AsyncReadExt::read(&mut newest, &mut buf),
    )
    .await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    drop(flood);
    let client = client_from("127.0.0.1");
    let healthy = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(response) = client.get(format!("{url}{HEALTHZ_PATH}")).send().await {
                return response.status();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(healthy, StatusCode::OK);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("accept failed"), "{text}");
}
