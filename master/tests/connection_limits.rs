//! Every phase of a connection is bounded, over real sockets against the
//! master's serve loop: a client that completes TLS and sends nothing, a
//! slow request head, a slow body, an idle HTTP/2 connection and a
//! handshake that never finishes are all closed; at its connection cap a
//! listener closes the newest connection while another listener keeps
//! answering; a PROXY v2 header is required where configured and never
//! trusted elsewhere.
//!
//! The tests assert that connections *are* closed, never how fast: each
//! wait has a generous ceiling only so that a regression fails instead of
//! hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use daas_core::attested::tls::{ServerKeyVerifier, client_config};
use daas_master::endpoint::{Endpoint, Listener, Peer};
use daas_master::http::client_limit::ClientKey;
use daas_master::http::{ApiJson, app};
use daas_master::identity::MasterIdentity;
use daas_master::proxy_protocol::{self, Header};
use daas_master::serve::{
    ConnectionLimits, ConnectionMetrics, ProxyProtocol, ServeOptions, serve_tls,
};
use prometheus_client::registry::Registry;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Ceiling of every wait for a close: far above every bound under test.
const CEILING: Duration = Duration::from_secs(60);

/// Short bounds, so the tests finish quickly.
fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        handshake_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    }
}

/// The routes under test: who the server thinks the client is, and a JSON
/// echo that reads its body.
fn routes() -> Router {
    app(Router::new()
        .route(
            "/peer",
            get(
                |ConnectInfo(peer): ConnectInfo<Peer>, ClientKey(key): ClientKey| async move {
                    format!("{peer} {key}")
                },
            ),
        )
        .route(
            "/json",
            post(|ApiJson(value): ApiJson<serde_json::Value>| async move { value.to_string() }),
        ))
}

/// Serves [`routes`] on `endpoint` with `options`; returns the bound
/// endpoint.
async fn serve(endpoint: &Endpoint, options: ServeOptions) -> Endpoint {
    let listener = Listener::bind(endpoint).await.unwrap();
    let bound = listener.local_endpoint().unwrap();
    let tls = MasterIdentity::generate().unwrap().server_config().unwrap();
    tokio::spawn(serve_tls(
        listener,
        tls,
        routes(),
        options,
        std::future::pending(),
    ));
    bound
}

async fn serve_tcp(options: ServeOptions) -> SocketAddr {
    match serve(&Endpoint::Tcp("127.0.0.1:0".to_owned()), options).await {
        Endpoint::Tcp(address) => address.parse().unwrap(),
        other => panic!("not TCP: {other}"),
    }
}

fn options(limits: ConnectionLimits) -> ServeOptions {
    ServeOptions {
        limits,
        ..ServeOptions::new("test")
    }
}

/// TLS 1.3 over `stream`, accepting the server's key, offering `alpn`.
async fn tls<S>(stream: S, alpn: &[u8]) -> std::io::Result<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut config = client_config(ServerKeyVerifier::capture()).unwrap();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("daas-master").unwrap(), stream)
        .await
}

async fn tls_tcp(address: SocketAddr) -> TlsStream<TcpStream> {
    tls(TcpStream::connect(address).await.unwrap(), b"http/1.1")
        .await
        .unwrap()
}

/// Whether the server closes `stream` (end of stream or an error) within
/// [`CEILING`]; whatever it sends first is read and dropped.
async fn closed_by_server<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(CEILING, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Sends a one-shot HTTP/1.1 request and returns the whole answer.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: master\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(CEILING, stream.read_to_string(&mut answer)).await;
    answer
}

#[tokio::test]
async fn a_client_that_completes_tls_and_sends_nothing_is_closed() {
    let address = serve_tcp(options(short_limits())).await;
    let mut silent = tls_tcp(address).await;
    assert!(closed_by_server(&mut silent).await);
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_closed() {
    let address = serve_tcp(options(short_limits())).await;
    let mut silent = TcpStream::connect(address).await.unwrap();
    assert!(closed_by_server(&mut silent).await);
    // Half a TLS record header, then nothing.
    let mut partial = TcpStream::connect(address).await.unwrap();
    partial.write_all(&[0x16, 0x03]).await.unwrap();
    assert!(closed_by_server(&mut partial).await);
}

#[tokio::test]
async fn a_request_head_sent_byte_by_byte_is_closed() {
    let address = serve_tcp(options(short_limits())).await;
    let stream = tls_tcp(address).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let trickle = tokio::spawn(async move {
        let head = b"GET /peer HTTP/1.1\r\nhost: master\r\nx-slow: ";
        for byte in head.iter().copied().chain(std::iter::repeat(b'a')) {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(closed_by_server(&mut reader).await);
    trickle.abort();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_answer() {
    let address = serve_tcp(options(short_limits())).await;
    let mut stream = tls_tcp(address).await;
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nhost: master\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(closed_by_server(&mut stream).await);
}

#[tokio::test]
async fn a_slow_body_is_cut() {
    let limits = ConnectionLimits {
        idle_timeout: Duration::from_secs(60),
        ..short_limits()
    };
    let address = serve_tcp(options(limits)).await;
    let stream = tls_tcp(address).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let finished = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&finished);
    let body_len = 200;
    let slow = tokio::spawn(async move {
        let head = format!(
            "POST /json HTTP/1.1\r\nhost: master\r\ncontent-type: application/json\r\n\
             content-length: {body_len}\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        for _ in 0..body_len {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done.store(true, Ordering::SeqCst);
    });
    let mut answer = String::new();
    tokio::time::timeout(CEILING, reader.read_to_string(&mut answer))
        .await
        .expect("the server never closed the connection")
        .ok();
    assert!(
        !finished.load(Ordering::SeqCst),
        "the whole body was accepted"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
    slow.abort();
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let address = serve_tcp(options(short_limits())).await;
    let stream = tls(TcpStream::connect(address).await.unwrap(), b"h2")
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, connection) = h2::client::handshake(stream).await.unwrap();
    let connection = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = axum::http::Request::get("https://master/peer")
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    // The client keeps the connection; only the server can end it.
    let ended = tokio::time::timeout(CEILING, connection).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection stayed open");
}

#[tokio::test]
async fn at_the_cap_the_newest_connection_is_closed_and_another_listener_answers() {
    let mut registry = Registry::default();
    let metrics = ConnectionMetrics::register(&mut registry);
    let held_open = ConnectionLimits {
        max_connections: NonZeroU32::new(3).unwrap(),
        handshake_timeout: Duration::from_secs(600),
        ..ConnectionLimits::default()
    };
    let public = serve_tcp(ServeOptions {
        name: "public",
        limits: held_open,
        proxy_protocol: ProxyProtocol::Off,
        metrics: Some(metrics.clone()),
    })
    .await;
    let webhooks = serve_tcp(ServeOptions {
        name: "webhooks",
        limits: held_open,
        proxy_protocol: ProxyProtocol::Off,
        metrics: Some(metrics),
    })
    .await;

    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(public).await.unwrap());
    }
    let mut newest = TcpStream::connect(public).await.unwrap();
    assert!(closed_by_server(&mut newest).await);

    // The other listener has its own budget.
    let answer = request(&mut tls_tcp(webhooks).await, "/peer").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A freed slot is used again.
    held.pop();
    let answer = tokio::time::timeout(CEILING, async {
        loop {
            let mut stream = TcpStream::connect(public).await.unwrap();
            if let Ok(mut tls) = tls(&mut stream, b"http/1.1").await {
                return request(&mut tls, "/peer").await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"connections_refused_total{listener="public",reason="cap"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"connections_open{listener="public"} 2"#)
            || text.contains(r#"connections_open{listener="public"} 3"#),
        "{text}"
    );
}

/// A unix-socket listener requiring a PROXY v2 header; returns its path.
async fn serve_unix_with_proxy_protocol(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("master.sock");
    let options = ServeOptions {
        proxy_protocol: ProxyProtocol::Required,
        ..options(short_limits())
    };
    serve(&Endpoint::Unix(path.clone()), options).await;
    path
}

#[tokio::test]
async fn a_required_proxy_header_names_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let socket = serve_unix_with_proxy_protocol(dir.path()).await;
    let named = |source: &str| Header::Proxy {
        source: source.parse().unwrap(),
        destination: "10.0.0.1:8443".parse().unwrap(),
    };
    for (header, expected) in [
        (named("203.0.113.9:4242"), "203.0.113.9:4242 203.0.113.9"),
        (
            named("[2001:db8:5:6:7::8]:443"),
            "[2001:db8:5:6:7::8]:443 2001:db8:5:6::/64",
        ),
        (
            Header::Local,
            &*format!("unix:{0} unix:{0}", socket.display()),
        ),
    ] {
        let mut stream = UnixStream::connect(&socket).await.unwrap();
        stream
            .write_all(&proxy_protocol::encode(&header))
            .await
            .unwrap();
        let answer = request(&mut tls(stream, b"http/1.1").await.unwrap(), "/peer").await;
        assert!(answer.ends_with(expected), "{header:?}: {answer}");
    }
}

#[tokio::test]
async fn without_a_valid_header_a_required_listener_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let socket = serve_unix_with_proxy_protocol(dir.path()).await;
    // TLS straight away: the ClientHello is no header.
    let stream = UnixStream::connect(&socket).await.unwrap();
    assert!(tls(stream, b"http/1.1").await.is_err());
    // Version 1 (text), a header for UDP, and a truncated header.
    let udp = {
        let mut bytes = proxy_protocol::encode(&Header::Proxy {
            source: "192.0.2.1:1".parse().unwrap(),
            destination: "192.0.2.2:2".parse().unwrap(),
        });
        bytes[13] = 0x12;
        bytes
    };
    for bad in [
        b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n".to_vec(),
        udp,
        proxy_protocol::SIGNATURE[..9].to_vec(),
    ] {
        let mut stream = UnixStream::connect(&socket).await.unwrap();
        stream.write_all(&bad).await.unwrap();
        assert!(closed_by_server(&mut stream).await, "{bad:?}");
    }
}

#[tokio::test]
async fn a_listener_without_the_proxy_protocol_never_reads_a_header() {
    let address = serve_tcp(options(short_limits())).await;
    // A client forging a header gets no further than the TLS handshake.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let forged = Header::Proxy {
        source: "198.51.100.1:1".parse().unwrap(),
        destination: "10.0.0.1:8443".parse().unwrap(),
    };
    stream
        .write_all(&proxy_protocol::encode(&forged))
        .await
        .unwrap();
    assert!(tls(stream, b"http/1.1").await.is_err());
    // Without one it is known by its real address.
    let answer = request(&mut tls_tcp(address).await, "/peer").await;
    assert!(answer.ends_with(" 127.0.0.1"), "{answer}");
}
