//! A minimal HTTP/1.1 server standing in for the master's webhooks in tests
//! that exercise the API server's webhook plumbing on its own.

use std::future::Future;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

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
