//! The PROXY protocol, version 2 (binary), as far as the master needs it:
//! the parent's `daas-master proxy` writes one header naming the client's
//! address before the forwarded bytes, and the master's vsock listener
//! reads it, because vsock shows only the parent (CID and source port).
//!
//! Wire format (haproxy's `proxy-protocol.txt`, section 2.2):
//!
//! | bytes | field |
//! |---|---|
//! | 12 | signature `\r\n\r\n\0\r\nQUIT\n` |
//! | 1 | version (high nibble, 2) and command (low: 0 `LOCAL`, 1 `PROXY`) |
//! | 1 | family (high: 0 unspec, 1 IPv4, 2 IPv6, 3 unix) and transport (low: 1 stream) |
//! | 2 | length of what follows, big-endian |
//! | 12 / 36 | IPv4: source, destination (4 + 4), ports (2 + 2); IPv6: 16 + 16 + 2 + 2 |
//! | rest | TLVs, skipped |
//!
//! Only a listener configured for it reads a header (a header arriving
//! elsewhere is just bytes that fail the TLS handshake), and it then
//! requires one: a connection without a valid header is closed. The
//! reader takes exactly the header's bytes, never the TLS bytes after it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// The 12 bytes every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Length of the fixed part: signature, version and command, family and
/// transport, length.
pub const FIXED_LEN: usize = 16;
/// Longest address-and-TLV part accepted. Ours carries no TLVs; this leaves
/// room for a load balancer's, and bounds what a peer makes the master read.
pub const MAX_PAYLOAD_LEN: usize = 512;

const IPV4_LEN: usize = 12;
const IPV6_LEN: usize = 36;

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The proxy's own connection (a health check, or a client without an
    /// IP address): the connection's real peer stands.
    Local,
    /// A relayed TCP client.
    Proxy {
        /// The client.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
}

/// Why a header was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The stream does not start with the version 2 signature.
    #[error("no PROXY protocol v2 signature")]
    Signature,
    /// The version nibble is not 2.
    #[error("PROXY protocol version {0} is not supported (expected 2)")]
    Version(u8),
    /// The command nibble is neither `LOCAL` nor `PROXY`.
    #[error("unknown PROXY protocol command {0:#x}")]
    Command(u8),
    /// A family or transport other than TCP over IPv4 or IPv6 with `PROXY`.
    #[error(
        "unsupported PROXY protocol address family/transport {0:#04x} (expected TCP over IPv4 or IPv6)"
    )]
    Family(u8),
    /// The length cannot hold the family's addresses.
    #[error("PROXY protocol length {len} is too short for the addresses ({needed} bytes)")]
    Short {
        /// The length given.
        len: usize,
        /// What the family needs.
        needed: usize,
    },
    /// Fewer bytes follow than the length says.
    #[error("the PROXY protocol header ends early: {have} of {len} bytes")]
    Truncated {
        /// The bytes there are.
        have: usize,
        /// The length given.
        len: usize,
    },
    /// The length is beyond [`MAX_PAYLOAD_LEN`].
    #[error("PROXY protocol length {0} is longer than {MAX_PAYLOAD_LEN} bytes")]
    TooLong(usize),
    /// The stream failed or ended inside the header.
    #[error("cannot read the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one header from the start of `stream`, and nothing after it.
///
/// # Errors
/// [`HeaderError`]: the header is missing, malformed or cut short.
pub async fn read_header<R: AsyncRead + Unpin>(stream: &mut R) -> Result<Header, HeaderError> {
    let mut fixed = [0u8; FIXED_LEN];
    stream.read_exact(&mut fixed).await?;
    let len = payload_len(&fixed)?;
    let mut payload = [0u8; MAX_PAYLOAD_LEN];
    let payload = payload.get_mut(..len).ok_or(HeaderError::TooLong(len))?;
    stream.read_exact(payload).await?;
    parse(&fixed, payload)
}

/// Checks the fixed part and returns the length of the rest.
///
/// # Errors
/// A wrong signature or version, or a length beyond [`MAX_PAYLOAD_LEN`].
pub fn payload_len(fixed: &[u8; FIXED_LEN]) -> Result<usize, HeaderError> {
    if fixed[..12] != SIGNATURE {
        return Err(HeaderError::Signature);
    }
    let version = fixed[12] >> 4;
    if version != 2 {
        return Err(HeaderError::Version(version));
    }
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if len > MAX_PAYLOAD_LEN {
        return Err(HeaderError::TooLong(len));
    }
    Ok(len)
}

/// Parses a whole header: its fixed part and the [`payload_len`] bytes
/// after it.
///
/// # Errors
/// [`HeaderError`] naming what is wrong.
pub fn parse(fixed: &[u8; FIXED_LEN], payload: &[u8]) -> Result<Header, HeaderError> {
    let len = payload_len(fixed)?;
    if payload.len() != len {
        return Err(HeaderError::Truncated {
            have: payload.len(),
            len,
        });
    }
    match fixed[12] & 0x0f {
        0x0 => return Ok(Header::Local),
        0x1 => {}
        command => return Err(HeaderError::Command(command)),
    }
    let (source, destination) = match fixed[13] {
        0x11 => {
            let a = addresses::<IPV4_LEN>(payload)?;
            let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(a[at], a[at + 1], a[at + 2], a[at + 3]));
            (
                SocketAddr::new(ip(0), port(a[8], a[9])),
                SocketAddr::new(ip(4), port(a[10], a[11])),
            )
        }
        0x21 => {
            let a = addresses::<IPV6_LEN>(payload)?;
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            (
                SocketAddr::new(ip(0), port(a[32], a[33])),
                SocketAddr::new(ip(16), port(a[34], a[35])),
            )
        }
        other => return Err(HeaderError::Family(other)),
    };
    Ok(Header::Proxy {
        source,
        destination,
    })
}

/// The first `N` bytes of the payload.
fn addresses<const N: usize>(payload: &[u8]) -> Result<[u8; N], HeaderError> {
    payload
        .get(..N)
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .ok_or(HeaderError::Short {
            len: payload.len(),
            needed: N,
        })
}

fn port(high: u8, low: u8) -> u16 {
    u16::from_be_bytes([high, low])
}

/// The header for `header`, without TLVs. A `PROXY` header needs both
/// addresses in one family: an IPv4 one is mapped into IPv6 otherwise.
pub fn encode(header: &Header) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(FIXED_LEN + IPV6_LEN);
    bytes.extend_from_slice(&SIGNATURE);
    match *header {
        Header::Local => bytes.extend_from_slice(&[0x20, 0x00, 0, 0]),
        Header::Proxy {
            source,
            destination,
        } => match (source.ip(), destination.ip()) {
            (IpAddr::V4(from), IpAddr::V4(to)) => {
                bytes.extend_from_slice(&[0x21, 0x11, 0, IPV4_LEN as u8]);
                bytes.extend_from_slice(&from.octets());
                bytes.extend_from_slice(&to.octets());
                bytes.extend_from_slice(&source.port().to_be_bytes());
                bytes.extend_from_slice(&destination.port().to_be_bytes());
            }
            (from, to) => {
                bytes.extend_from_slice(&[0x21, 0x21, 0, IPV6_LEN as u8]);
                bytes.extend_from_slice(&v6(from).octets());
                bytes.extend_from_slice(&v6(to).octets());
                bytes.extend_from_slice(&source.port().to_be_bytes());
                bytes.extend_from_slice(&destination.port().to_be_bytes());
            }
        },
    }
    bytes
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(ip) => ip.to_ipv6_mapped(),
        IpAddr::V6(ip) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header from the start of `bytes`, as `read_header` takes it.
    fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        let fixed: [u8; FIXED_LEN] = bytes
            .get(..FIXED_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(HeaderError::Signature)?;
        let len = payload_len(&fixed)?;
        let rest = &bytes[FIXED_LEN..];
        parse(&fixed, rest.get(..len).unwrap_or(rest))
    }

    fn proxied(source: &str, destination: &str) -> Header {
        Header::Proxy {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    #[test]
    fn round_trips_ipv4_ipv6_and_local() {
        for header in [
            proxied("203.0.113.7:51234", "10.0.0.1:8443"),
            proxied("[2001:db8::1]:443", "[2001:db8::2]:8443"),
            Header::Local,
        ] {
            assert_eq!(decode(&encode(&header)).unwrap(), header);
        }
        // Mixed families travel as IPv6 with the IPv4 address mapped.
        let mixed = proxied("203.0.113.7:1", "[2001:db8::2]:2");
        let Header::Proxy { source, .. } = decode(&encode(&mixed)).unwrap() else {
            panic!("not a proxy header");
        };
        assert_eq!(source.ip().to_canonical().to_string(), "203.0.113.7");
    }

    #[test]
    fn the_reference_ipv4_header_parses() {
        // haproxy's documented layout, written out byte by byte.
        let mut bytes = SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c]);
        bytes.extend_from_slice(&[192, 0, 2, 10, 198, 51, 100, 1, 0x1f, 0x90, 0x20, 0xfb]);
        assert_eq!(
            decode(&bytes).unwrap(),
            proxied("192.0.2.10:8080", "198.51.100.1:8443")
        );
    }

    #[test]
    fn tlvs_after_the_addresses_are_skipped() {
        let mut bytes = encode(&proxied("192.0.2.1:1", "192.0.2.2:2"));
        bytes[15] += 7;
        bytes.extend_from_slice(&[0x04, 0x00, 0x04, b'n', b'o', b'o', b'p']);
        assert_eq!(
            decode(&bytes).unwrap(),
            proxied("192.0.2.1:1", "192.0.2.2:2")
        );
    }

    #[test]
    fn bad_headers_are_named() {
        let good = encode(&proxied("192.0.2.1:1", "192.0.2.2:2"));
        let with = |at: usize, byte: u8| {
            let mut bytes = good.clone();
            bytes[at] = byte;
            bytes
        };
        let cases: [(Vec<u8>, &str); 8] = [
            (
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdef".to_vec(),
                "signature",
            ),
            (with(12, 0x11), "version 1"),
            (with(12, 0x2f), "command 0xf"),
            (with(13, 0x12), "0x12"),
            (with(13, 0x31), "0x31"),
            (with(15, 4), "too short"),
            (
                {
                    let mut bytes = with(14, 0x02);
                    bytes[15] = 0x01;
                    bytes
                },
                "longer than 512",
            ),
            (good[..good.len() - 1].to_vec(), "ends early: 11 of 12"),
        ];
        for (bytes, needle) in cases {
            let error = decode(&bytes).unwrap_err().to_string();
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[tokio::test]
    async fn reads_exactly_the_header_and_leaves_the_rest() {
        let mut bytes = encode(&proxied("198.51.100.9:40000", "10.0.0.1:8443"));
        bytes.extend_from_slice(b"\x16\x03\x01 the TLS ClientHello");
        let mut reader = bytes.as_slice();
        let header = read_header(&mut reader).await.unwrap();
        assert_eq!(header, proxied("198.51.100.9:40000", "10.0.0.1:8443"));
        assert_eq!(reader, b"\x16\x03\x01 the TLS ClientHello");

        // Cut anywhere inside, the header is an error, not a hang or panic.
        let whole = encode(&proxied("[2001:db8::1]:1", "[2001:db8::2]:2"));
        for cut in 0..whole.len() {
            let mut reader = &whole[..cut];
            assert!(read_header(&mut reader).await.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // A deterministic xorshift stream: every length, every byte value,
        // and headers with a valid prefix and random rest.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let len = usize::try_from(next() % 80).unwrap();
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && bytes.len() >= 14 {
                bytes[..12].copy_from_slice(&SIGNATURE);
                bytes[12] = 0x20 | (next() as u8 & 0x01);
            }
            if let Ok(Header::Proxy { source, .. }) = decode(&bytes) {
                assert!(bytes[13] == 0x11 || bytes[13] == 0x21, "{source}");
            }
        }
    }
}
