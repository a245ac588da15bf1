//! Where the master listens and where the proxy forwards: TCP, a Unix
//! socket, or vsock (inside a Nitro Enclave), behind one byte-stream type
//! so the serving and forwarding code does not care which.
//!
//! Endpoints are written `tcp:HOST:PORT` (`tcp:127.0.0.1:8443`,
//! `tcp:[::1]:0`), `unix:/path/to.sock` or `vsock:CID:PORT`
//! (`vsock:16:8443`).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio_vsock::{VsockAddr, VsockListener, VsockStream};

/// A listening or connecting address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP `host:port` (port 0 picks a free one).
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
    /// vsock context id and port.
    Vsock {
        /// Context id (3+ for enclaves, 2 for the parent, 1 for local).
        cid: u32,
        /// Port.
        port: u32,
    },
}

/// Why an endpoint string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad endpoint {text:?}: {reason} (expected tcp:HOST:PORT, unix:/PATH or vsock:CID:PORT)")]
pub struct EndpointError {
    text: String,
    reason: &'static str,
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| EndpointError {
            text: text.to_owned(),
            reason,
        };
        let (kind, rest) = text
            .split_once(':')
            .ok_or_else(|| error("no kind prefix"))?;
        match kind {
            "tcp" => {
                let (host, port) = rest.rsplit_once(':').ok_or_else(|| error("no port"))?;
                if host.is_empty() {
                    return Err(error("no host"));
                }
                port.parse::<u16>()
                    .map_err(|_| error("port is not 0..=65535"))?;
                Ok(Self::Tcp(rest.to_owned()))
            }
            "unix" if !rest.is_empty() => Ok(Self::Unix(PathBuf::from(rest))),
            "unix" => Err(error("no path")),
            "vsock" => {
                let (cid, port) = rest.split_once(':').ok_or_else(|| error("no port"))?;
                Ok(Self::Vsock {
                    cid: cid.parse().map_err(|_| error("CID is not a number"))?,
                    port: port.parse().map_err(|_| error("port is not a number"))?,
                })
            }
            _ => Err(error("unknown kind")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "tcp:{address}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
            Self::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
        }
    }
}

/// The other end of a connection: what the listener saw or, behind the
/// enclave's parent proxy, the client its PROXY v2 header named. Handlers
/// read it with `ConnectInfo<Peer>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// An IP client.
    Ip(SocketAddr),
    /// A client of the Unix socket at this path (they have no address).
    Unix(Arc<Path>),
    /// A vsock peer: the parent instance (CID 3+ for enclaves' peers).
    Vsock {
        /// Context id.
        cid: u32,
        /// The peer's source port, new for each connection.
        port: u32,
    },
}

impl Peer {
    /// The key that rate-limits this client: its IP address without the
    /// port (the /64 for IPv6, which any holder has whole; IPv4-mapped
    /// addresses as IPv4), the vsock CID (never the source port, which a
    /// peer picks anew per connection), or the socket path.
    pub fn rate_limit_key(&self) -> String {
        match self {
            Self::Ip(address) => match address.ip().to_canonical() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => {
                    let [a, b, c, d, ..] = ip.segments();
                    format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
                }
            },
            Self::Unix(path) => format!("unix:{}", path.display()),
            Self::Vsock { cid, .. } => format!("vsock:{cid}"),
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(address) => write!(f, "{address}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
            Self::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
        }
    }
}

/// A bound listener of any kind.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket (the path is removed on drop).
    Unix(UnixListener, Arc<Path>),
    /// vsock.
    Vsock(VsockListener),
}

impl Listener {
    /// Binds `endpoint`. A stale Unix socket file is replaced.
    ///
    /// # Errors
    /// The I/O error of binding.
    pub async fn bind(endpoint: &Endpoint) -> io::Result<Self> {
        match endpoint {
            Endpoint::Tcp(address) => TcpListener::bind(address.as_str()).await.map(Self::Tcp),
            Endpoint::Unix(path) => {
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|meta| std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()))
                {
                    std::fs::remove_file(path)?;
                }
                UnixListener::bind(path).map(|listener| Self::Unix(listener, Arc::from(&**path)))
            }
            Endpoint::Vsock { cid, port } => {
                VsockListener::bind(VsockAddr::new(*cid, *port)).map(Self::Vsock)
            }
        }
    }

    /// The endpoint actually bound (the real port when 0 was asked).
    ///
    /// # Errors
    /// The I/O error of asking the socket.
    pub fn local_endpoint(&self) -> io::Result<Endpoint> {
        match self {
            Self::Tcp(listener) => listener
                .local_addr()
                .map(|address| Endpoint::Tcp(address.to_string())),
            Self::Unix(_, path) => Ok(Endpoint::Unix(path.to_path_buf())),
            Self::Vsock(listener) => listener.local_addr().map(|address| Endpoint::Vsock {
                cid: address.cid(),
                port: address.port(),
            }),
        }
    }

    /// The bound TCP address, if a TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(listener) => listener.local_addr().ok(),
            _ => None,
        }
    }

    /// Accepts one connection; returns the stream and its peer.
    ///
    /// # Errors
    /// The I/O error of accepting.
    pub async fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Self::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), Peer::Ip(peer)))
            }
            Self::Unix(listener, path) => {
                let (stream, _) = listener.accept().await?;
                Ok((Stream::Unix(stream), Peer::Unix(Arc::clone(path))))
            }
            Self::Vsock(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok((
                    Stream::Vsock(stream),
                    Peer::Vsock {
                        cid: peer.cid(),
                        port: peer.port(),
                    },
                ))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Self::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A connected byte stream of any kind.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix socket.
    Unix(UnixStream),
    /// vsock.
    Vsock(VsockStream),
}

impl Stream {
    /// The local address of a TCP stream (where its client connected to).
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(stream) => stream.local_addr().ok(),
            Self::Unix(_) | Self::Vsock(_) => None,
        }
    }
}

/// Connects to `endpoint`.
///
/// # Errors
/// The I/O error of connecting.
pub async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp(address) => {
            let stream = TcpStream::connect(address.as_str()).await?;
            let _ = stream.set_nodelay(true);
            Ok(Stream::Tcp(stream))
        }
        Endpoint::Unix(path) => UnixStream::connect(path).await.map(Stream::Unix),
        Endpoint::Vsock { cid, port } => VsockStream::connect(VsockAddr::new(*cid, *port))
            .await
            .map(Stream::Vsock),
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Vsock(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Vsock(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Self::Unix(stream) => Pin::new(stream).poll_flush(cx),
            Self::Vsock(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Vsock(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_endpoints() {
        for text in [
            "tcp:127.0.0.1:8443",
            "tcp:[::1]:0",
            "tcp:localhost:1",
            "unix:/run/daas.sock",
            "vsock:16:8443",
        ] {
            let endpoint: Endpoint = text.parse().unwrap();
            assert_eq!(endpoint.to_string(), text);
        }
        for bad in [
            "127.0.0.1:8443",
            "tcp:8443",
            "tcp::1",
            "tcp:host:99999",
            "unix:",
            "vsock:x:1",
            "vsock:16",
            "udp:1:2",
        ] {
            let error = bad.parse::<Endpoint>().unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
        }
    }

    #[test]
    fn rate_limit_keys_are_addresses_without_ports() {
        let ip = |text: &str| Peer::Ip(text.parse().unwrap()).rate_limit_key();
        assert_eq!(ip("10.0.0.7:5123"), "10.0.0.7");
        assert_eq!(ip("10.0.0.7:5124"), "10.0.0.7");
        assert_eq!(ip("[::ffff:10.0.0.7]:1"), "10.0.0.7");
        assert_eq!(ip("[2001:db8:1:2:3:4:5:6]:443"), "2001:db8:1:2::/64");
        assert_eq!(ip("[2001:db8:1:2:ffff::1]:443"), "2001:db8:1:2::/64");
        assert_eq!(ip("[::1]:443"), "::/64");
        let vsock = |port| Peer::Vsock { cid: 3, port }.rate_limit_key();
        assert_eq!(vsock(8443), "vsock:3");
        assert_eq!(vsock(1234), vsock(8443));
        let unix = Peer::Unix(Arc::from(Path::new("/run/m.sock")));
        assert_eq!(unix.rate_limit_key(), "unix:/run/m.sock");
        assert_eq!(unix.to_string(), "unix:/run/m.sock");
        assert_eq!(Peer::Vsock { cid: 3, port: 9 }.to_string(), "vsock:3:9");
    }
}
