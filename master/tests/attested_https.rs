//! Acceptance tests of attested HTTPS: the `daas-core` attested client
//! against real `daas-master serve --attestation dev` processes on
//! loopback, and the attacks it must refuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use daas_core::api::ATTESTATION_PATH;
use daas_core::api::attestation::{AttestationRequest, AttestationResponse, TeeType};
use daas_core::attestation::{Pcr, PcrPolicy, TrustRoots};
use daas_core::attested::tls::{ServerKeyVerifier, client_config};
use daas_core::attested::{AttestedClient, AttestedClientConfig, AttestedError};
use daas_master::endpoint::{Endpoint, Listener};
use daas_master::identity::MasterIdentity;
use rustls::pki_types::ServerName;
use support::{Master, expected_pcrs};

/// Serves `router` over TLS with a key of its own (not a master's) on a
/// free loopback port; returns its URL.
async fn serve_with_own_key(router: Router) -> String {
    let identity = MasterIdentity::generate().unwrap();
    let listener = Listener::bind(&Endpoint::Tcp("127.0.0.1:0".to_owned()))
        .await
        .unwrap();
    let url = format!("https://{}", listener.tcp_addr().unwrap());
    let tls = identity.server_config().unwrap();
    tokio::spawn(daas_master::serve::serve_tls(
        listener,
        tls,
        router,
        daas_master::serve::ServeOptions::new("test"),
        std::future::pending(),
    ));
    url
}

/// An HTTP client that accepts whatever key it meets first.
fn capturing_http() -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config(ServerKeyVerifier::capture()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn accepts_the_dev_master_with_opt_in_and_expected_pcrs() {
    let dir = tempfile::tempdir().unwrap();
    let master = Master::start(dir.path()).await;
    assert!(
        master.url.starts_with("https://127.0.0.1:"),
        "{}",
        master.url
    );

    let client = AttestedClient::new(&master.url, master.dev_client_config()).unwrap();
    let attested = client.master().await.unwrap();
    assert!(attested.is_insecure_dev());
    assert_eq!(attested.response().tee_type, TeeType::DevInsecure);
    assert_eq!(attested.response().security_level, 0);
    assert_eq!(
        attested.attestation().pcrs().get(0),
        Some(&expected_pcrs().pcr0)
    );

    // Requests go over the connection pinned to the attested key, and the
    // master's own account of its keys matches what was attested.
    let context = client.security_context().await.unwrap();
    assert!(context.insecure);
    assert_eq!(context.tee_type, TeeType::DevInsecure);
    assert_eq!(
        context.signing_public_key,
        hex::encode(attested.signing_key().as_bytes())
    );
    assert_eq!(
        context.tls_spki_sha256,
        hex::encode(attested.tls_spki_sha256())
    );
    assert_eq!(context.pcrs[&0], expected_pcrs().pcr0.to_string());

    // A zero interval re-attests (fresh nonce, fresh document) each time.
    let eager = AttestedClient::new(
        &master.url,
        master
            .dev_client_config()
            .with_reattest_interval(Duration::ZERO),
    )
    .unwrap();
    let first = eager.master().await.unwrap();
    let second = eager.master().await.unwrap();
    assert_ne!(first.attestation().nonce(), second.attestation().nonce());
    assert_eq!(first.tls_spki_sha256(), second.tls_spki_sha256());
}

#[tokio::test]
async fn refuses_a_master_with_other_pcrs() {
    let dir = tempfile::tempdir().unwrap();
    let master = Master::start(dir.path()).await;
    let mut expected = expected_pcrs();
    expected.pcr2 = Pcr::new([0x42; 48]);
    let config = AttestedClientConfig::new(
        TrustRoots::insecure_dev_only(master.dev_root()),
        PcrPolicy::Expect(expected),
    )
    .allow_insecure_dev(true);
    let client = AttestedClient::new(&master.url, config).unwrap();
    let error = client.master().await.unwrap_err();
    match &error {
        AttestedError::PcrMismatch {
            index, expected, ..
        } => {
            assert_eq!(*index, 2);
            assert_eq!(expected, &"42".repeat(48));
        }
        other => panic!("expected PcrMismatch, got {other:?}"),
    }
    assert!(error.to_string().contains("PCR2"), "{error}");
    // Nothing else is sent to a refused master.
    assert!(client.security_context().await.is_err());
}

#[tokio::test]
async fn refuses_dev_attestation_without_explicit_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let master = Master::start(dir.path()).await;

    // Production roots: the dev document is named as such, not as an
    // unknown root.
    let production =
        AttestedClientConfig::new(TrustRoots::aws(), PcrPolicy::Expect(expected_pcrs()));
    let error = AttestedClient::new(&master.url, production)
        .unwrap()
        .master()
        .await
        .unwrap_err();
    assert!(
        matches!(error, AttestedError::DevAttestationNotAllowed { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("INSECURE"), "{error}");

    // Even with the dev root at hand, the opt-in is what counts.
    let no_opt_in = AttestedClientConfig::new(
        TrustRoots::insecure_dev_only(master.dev_root()),
        PcrPolicy::Expect(expected_pcrs()),
    );
    let error = AttestedClient::new(&master.url, no_opt_in)
        .unwrap()
        .master()
        .await
        .unwrap_err();
    assert!(
        matches!(error, AttestedError::DevAttestationNotAllowed { .. }),
        "{error:?}"
    );

    // Opting in without a dev root is a configuration error.
    let no_root = AttestedClientConfig::new(TrustRoots::aws(), PcrPolicy::Expect(expected_pcrs()))
        .allow_insecure_dev(true);
    assert!(matches!(
        AttestedClient::new(&master.url, no_root),
        Err(AttestedError::DevRootMissing)
    ));
}

/// A TLS-terminating man in the middle with its own certificate that
/// relays the attestation request to the real master: the client gets a
/// genuine, fresh document, but it binds the master's TLS key, not the
/// proxy's.
#[tokio::test]
async fn refuses_a_tls_proxy_with_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let master = Master::start(dir.path()).await;

    async fn relay(
        State(upstream): State<Arc<(reqwest::Client, String)>>,
        body: Bytes,
    ) -> impl IntoResponse {
        let (http, url) = &*upstream;
        let response = http
            .post(format!("{url}{ATTESTATION_PATH}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            response.bytes().await.unwrap(),
        )
    }
    let router = Router::new()
        .route(ATTESTATION_PATH, post(relay))
        .with_state(Arc::new((capturing_http(), master.url.clone())));
    let proxy_url = serve_with_own_key(router).await;

    let client = AttestedClient::new(&proxy_url, master.dev_client_config()).unwrap();
    let error = client.master().await.unwrap_err();
    assert!(
        matches!(error, AttestedError::TlsKeyNotAttested { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("man in the middle"), "{error}");
}

/// A second master (same dev root, so a genuinely attested one) presents
/// another TLS key: a connection pinned to the first master's key refuses
/// it.
#[tokio::test]
async fn pinned_connection_refuses_another_masters_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = Master::start(dir.path()).await;
    let second = Master::start(dir.path()).await;
    let attested = AttestedClient::new(&first.url, first.dev_client_config())
        .unwrap()
        .master()
        .await
        .unwrap();

    let handshake = |url: String, verifier: Arc<ServerKeyVerifier>| async move {
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(client_config(verifier).unwrap()));
        let tcp = tokio::net::TcpStream::connect(url.strip_prefix("https://").unwrap())
            .await
            .unwrap();
        connector
            .connect(ServerName::try_from("daas-master").unwrap(), tcp)
            .await
    };
    let pinned = ServerKeyVerifier::pinned(attested.tls_spki_sha256());
    assert!(
        handshake(first.url.clone(), Arc::clone(&pinned))
            .await
            .is_ok()
    );
    assert!(pinned.rejected().is_none());
    let error = handshake(second.url.clone(), Arc::clone(&pinned))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("certificate"), "{error}");
    let second_key = AttestedClient::new(&second.url, second.dev_client_config())
        .unwrap()
        .master()
        .await
        .unwrap()
        .tls_spki_sha256();
    assert_ne!(second_key, attested.tls_spki_sha256());
    assert_eq!(pinned.rejected(), Some(second_key));
}

/// A document captured for one client's nonce, served to another client
/// from a fake endpoint, is refused as a replay.
#[tokio::test]
async fn refuses_a_replayed_document() {
    let dir = tempfile::tempdir().unwrap();
    let master = Master::start(dir.path()).await;
    let captured: AttestationResponse = capturing_http()
        .post(format!("{}{ATTESTATION_PATH}", master.url))
        .json(&AttestationRequest::new(&[0x5a; 32]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let replay = Router::new().route(
        ATTESTATION_PATH,
        post(move || {
            let captured = captured.clone();
            async move { (StatusCode::OK, axum::Json(captured)) }
        }),
    );
    let fake_url = serve_with_own_key(replay).await;
    let client = AttestedClient::new(&fake_url, master.dev_client_config()).unwrap();
    let error = client.master().await.unwrap_err();
    match &error {
        AttestedError::NonceMismatch { got, .. } => assert_eq!(got, &"5a".repeat(32)),
        other => panic!("expected NonceMismatch, got {other:?}"),
    }
    assert!(error.to_string().contains("replayed"), "{error}");
}

/// Picks a loopback port that is free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn stop(master: &mut Master) {
    master.process.terminate();
    tokio::time::timeout(Duration::from_secs(15), master.process.child.wait())
        .await
        .unwrap()
        .unwrap();
}

/// A master restarted on the same address comes back with new keys: the
/// client meets an unexpected key on reconnect, re-attests, and goes on
/// when the new master attests under the same root and PCRs, but fails
/// with the attestation error when it does not.
#[tokio::test]
async fn reattests_when_the_master_comes_back_with_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("tcp:127.0.0.1:{}", free_port());
    let mut first = Master::start_on(dir.path(), &listen).await;
    let client = AttestedClient::new(&first.url, first.dev_client_config()).unwrap();
    let before = client.master().await.unwrap();
    client.security_context().await.unwrap();

    stop(&mut first).await;
    let mut second = Master::start_on(dir.path(), &listen).await;
    let context = client.security_context().await.unwrap();
    let after = client.master().await.unwrap();
    assert_ne!(after.tls_spki_sha256(), before.tls_spki_sha256());
    assert_eq!(
        context.tls_spki_sha256,
        hex::encode(after.tls_spki_sha256())
    );
    assert_ne!(after.signing_key(), before.signing_key());

    // An impostor with a root of its own on the same address.
    stop(&mut second).await;
    let other = tempfile::tempdir().unwrap();
    let _impostor = Master::start_on(other.path(), &listen).await;
    let error = client.security_context().await.unwrap_err();
    assert!(matches!(error, AttestedError::Attestation(_)), "{error:?}");
    // Its root has the same name as the real one, so the chain check
    // reports the impostor's root signature as not made by the trusted key.
    assert!(error.to_string().contains("attestation refused"), "{error}");
}
