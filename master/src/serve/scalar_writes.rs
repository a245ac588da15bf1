//! A byte stream that tells its writer it takes no vectored writes, so that
//! HTTP/2 copies answers of up to 1 KiB into its write buffer.
//!
//! h2 sends a DATA frame longer than 256 bytes on its own, chained after its
//! buffer (one write, one TLS record each), when the stream takes vectored
//! writes, and only one longer than 1 KiB otherwise. A TokenReview answer is
//! about 0.5 KB: with the TLS stream's vectored writes each left in a
//! `sendto` of its own (one per request at 32 in flight), while `/healthz`'s
//! 40 bytes were copied and left together. Copied, the answers ready at the
//! same time leave in one write.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `S`, reporting no vectored writes (each buffer is written in turn).
#[derive(Debug)]
pub(super) struct ScalarWrites<S>(pub(super) S);

impl<S: AsyncRead + Unpin> AsyncRead for ScalarWrites<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ScalarWrites<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test]
    async fn passes_bytes_both_ways_and_reports_no_vectored_writes() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = ScalarWrites(near);
        assert!(!stream.is_write_vectored());
        let parts = [io::IoSlice::new(b"ab"), io::IoSlice::new(b"cd")];
        let written = stream.write_vectored(&parts).await.unwrap();
        assert_eq!(written, 2, "only the first buffer is taken");
        stream.write_all(b"cd").await.unwrap();
        let mut got = [0u8; 4];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcd");
        far.write_all(b"back").await.unwrap();
        let mut back = [0u8; 4];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"back");
    }
}
