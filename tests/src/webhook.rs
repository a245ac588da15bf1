//! The master's webhooks from the API server's side: the credentials of
//! the webhook kubeconfigs `daas-master webhook-files` writes
//! ([`WebhookKubeconfig`]), and a minimal HTTP/1.1 server standing in for
//! the master's webhooks in tests that exercise the API server's webhook
//! plumbing on its own.

use std::future::Future;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::Value;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What a webhook kubeconfig gives the API server: where the master
/// listens, the name its certificate holds, and the PEM trust anchor,
/// client certificate and key.
pub struct WebhookKubeconfig {
    /// `https://HOST:PORT`.
    pub server: String,
    /// The name to check the server's certificate for.
    pub tls_server_name: String,
    /// The CA certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// The client certificate (PEM).
    pub client_certificate_pem: Vec<u8>,
    /// The client key (PEM; a secret).
    pub client_key_pem: Vec<u8>,
}

impl WebhookKubeconfig {
    /// Reads the kubeconfig at `path` (its first cluster and user).
    ///
    /// # Errors
    /// The file is unreadable, not a kubeconfig, or lacks a field.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the webhook kubeconfig {}", path.display()))?;
        let config = daas_core::access::kubeconfig::from_yaml(&text)?;
        let field = |pointer: &str| {
            config
                .pointer(pointer)
                .and_then(Value::as_str)
                .with_context(|| format!("no {pointer} in {}", path.display()))
        };
        let pem = |pointer: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(field(pointer)?)
                .with_context(|| format!("{pointer} in {} is not base64", path.display()))
        };
        Ok(Self {
            server: field("/clusters/0/cluster/server")?.to_owned(),
            tls_server_name: field("/clusters/0/cluster/tls-server-name")?.to_owned(),
            ca_pem: pem("/clusters/0/cluster/certificate-authority-data")?,
            client_certificate_pem: pem("/users/0/user/client-certificate-data")?,
            client_key_pem: pem("/users/0/user/client-key-data")?,
        })
    }
}

/// A webhook config file (kubeconfig format) pointing the API server at `url`.
pub fn config_file(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: master\n  cluster:\n    server: {url}\n\
         users:\n- name: apiserver\n  user: {{}}\ncontexts:\n- name: master\n  context:\n    \
         cluster: master\n    user: apiserver\ncurrent-context: master\n"
    )
}

/// Serves every connection on `listener`: each request's path and body go to
/// `answer`, whose string is sent back as a `200 application/json` body.
pub async fn serve<F, Fut>(listener: TcpListener, answer: F)
where
    F: Fn(String, Vec<u8>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_connection(stream, answer.clone()));
    }
}

async fn serve_connection<F, Fut>(mut stream: TcpStream, answer: F)
where
    F: Fn(String, Vec<u8>) -> Fut,
    Fut: Future<Output = String>,
{
    let mut buf = Vec::new();
    while let Some((path, body)) = read_request(&mut stream, &mut buf).await {
        let body = answer(path, body).await;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one request: headers up to the blank line, then Content-Length bytes.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        read_more(stream, buf).await?;
    }
    let body = buf.drain(..header_end + length).skip(header_end).collect();
    Some((path, body))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}
