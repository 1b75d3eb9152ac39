//! HTTP/2 over TLS: pingora drives the connection, so the deadline is kept by the stream it
//! reads from. `Watched` passes bytes through unchanged, follows the frame headers the client
//! sends, and fails reads once a header block (the connection preface and SETTINGS before
//! the first one) takes longer than the header timeout. Idle time between streams is
//! pingora's `h2_idle_timeout`. A shed connection fails its next read or write.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, IO, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::table::Conn;

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;

/// Follows the client's frames: only lengths, types and flags, never payloads.
#[derive(Debug, Default)]
pub struct Frames {
    /// Preface bytes still to skip; starts at `PREFACE_LEN`.
    preface: usize,
    header: [u8; FRAME_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    payload: usize,
    /// The current frame ends a header block once its payload is read.
    ends_block: bool,
    /// Inside a header block (a HEADERS frame without END_HEADERS, then CONTINUATIONs).
    in_block: bool,
}

/// What a chunk of client bytes did to the header-block state.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// A header block began (a deadline should start if none runs).
    pub block_started: bool,
    /// A header block was completed (a request header arrived).
    pub block_done: bool,
}

impl Frames {
    pub fn new() -> Frames {
        Frames {
            preface: PREFACE_LEN,
            ..Frames::default()
        }
    }

    /// Whether a header block is partly received.
    pub fn in_block(&self) -> bool {
        self.in_block
    }

    pub fn feed(&mut self, mut bytes: &[u8]) -> Seen {
        let mut seen = Seen::default();
        while !bytes.is_empty() {
            if self.preface > 0 {
                let n = self.preface.min(bytes.len());
                self.preface -= n;
                bytes = &bytes[n..];
            } else if self.payload > 0 {
                let n = self.payload.min(bytes.len());
                self.payload -= n;
                bytes = &bytes[n..];
            } else {
                let n = (FRAME_HEADER_LEN - self.have).min(bytes.len());
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have < FRAME_HEADER_LEN {
                    break;
                }
                self.have = 0;
                let h = self.header;
                self.payload = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                let (kind, flags) = (h[3], h[4]);
                self.ends_block = false;
                if kind == HEADERS || (kind == CONTINUATION && self.in_block) {
                    if !self.in_block {
                        self.in_block = true;
                        seen.block_started = true;
                    }
                    self.ends_block = flags & END_HEADERS != 0;
                }
            }
            if self.preface == 0 && self.payload == 0 && self.have == 0 && self.ends_block {
                self.ends_block = false;
                self.in_block = false;
                seen.block_done = true;
            }
        }
        seen
    }
}

pub struct Watched<S> {
    io: S,
    conn: Arc<Conn>,
    frames: Frames,
    header_timeout: Duration,
    /// Running while a header block (or the preface and first block) is awaited.
    deadline: Option<Pin<Box<Sleep>>>,
    first_done: bool,
    timed_out: bool,
}

impl<S> Watched<S> {
    /// `deadline`: when the preface, SETTINGS and first request header must have arrived.
    pub fn new(io: S, conn: Arc<Conn>, deadline: Instant, header_timeout: Duration) -> Self {
        Watched {
            io,
            conn,
            frames: Frames::new(),
            header_timeout,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
            first_done: false,
            timed_out: false,
        }
    }
}

fn shed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection shed")
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.slot.is_shed() {
            return Poll::Ready(Err(shed_error()));
        }
        this.conn.slot.register(cx.waker());
        if this.conn.slot.is_shed() {
            return Poll::Ready(Err(shed_error()));
        }
        if let Some(d) = this.deadline.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            if !this.timed_out {
                this.timed_out = true;
                this.conn.timeouts().inc();
            }
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request header not received in time",
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let seen = this.frames.feed(&buf.filled()[before..]);
            if seen.block_done && !this.first_done {
                this.first_done = true;
                // A request is under way: no longer a candidate for shedding.
                if !this.conn.busy() {
                    return Poll::Ready(Err(shed_error()));
                }
            }
            if !this.first_done {
                // The deadline from accept still runs.
            } else if !this.frames.in_block() {
                this.deadline = None;
            } else if seen.block_started || this.deadline.is_none() {
                this.deadline = Some(Box::pin(tokio::time::sleep(this.header_timeout)));
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.slot.is_shed() {
            return Poll::Ready(Err(shed_error()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.slot.is_shed() {
            return Poll::Ready(Err(shed_error()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<S: fmt::Debug> fmt::Debug for Watched<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched").field("io", &self.io).finish()
    }
}

#[async_trait]
impl<S: IO> Shutdown for Watched<S> {
    async fn shutdown(&mut self) {
        self.io.shutdown().await
    }
}

impl<S: IO> UniqueID for Watched<S> {
    fn id(&self) -> UniqueIDType {
        self.io.id()
    }
}

impl<S: IO> Ssl for Watched<S> {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.io.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.io.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.io.selected_alpn_proto()
    }
}

impl<S: IO> GetTimingDigest for Watched<S> {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.io.get_timing_digest()
    }
}

impl<S: IO> GetProxyDigest for Watched<S> {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.io.get_proxy_digest()
    }
}

impl<S: IO> GetSocketDigest for Watched<S> {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.io.get_socket_digest()
    }
}

#[async_trait]
impl<S: IO> Peek for Watched<S> {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.io.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len();
        let mut f = vec![
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    fn connection() -> Vec<u8> {
        let mut v = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        v.extend(frame(0x4, 0, &[0; 12])); // SETTINGS
        v
    }

    #[test]
    fn a_header_block_is_seen_through_continuations_at_any_split() {
        let mut all = connection();
        all.extend(frame(HEADERS, 0, &[1; 20]));
        all.extend(frame(CONTINUATION, 0, &[2; 5]));
        all.extend(frame(CONTINUATION, END_HEADERS, &[3; 7]));
        all.extend(frame(0x0, 0x1, &[4; 30])); // DATA, END_STREAM
        for chunk in [1, 2, 3, 7, 9, 10, 64, all.len()] {
            let mut f = Frames::new();
            let (mut started, mut done) = (0, 0);
            for c in all.chunks(chunk) {
                let s = f.feed(c);
                started += usize::from(s.block_started);
                done += usize::from(s.block_done);
            }
            assert_eq!((started, done), (1, 1), "chunk {chunk}");
            assert!(!f.in_block());
        }
    }

    #[test]
    fn an_unfinished_block_stays_open() {
        let mut f = Frames::new();
        f.feed(&connection());
        let s = f.feed(&frame(HEADERS, 0, &[0; 3]));
        assert!(s.block_started && !s.block_done && f.in_block());
        let mut g = Frames::new();
        let mut bytes = connection();
        bytes.extend(frame(HEADERS, END_HEADERS, &[0; 40]));
        let s = g.feed(&bytes[..bytes.len() - 1]);
        assert!(s.block_started && !s.block_done && g.in_block());
        assert!(g.feed(&bytes[bytes.len() - 1..]).block_done);
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let mut f = Frames::new();
        let mut x: u32 = 7;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let b = (x >> 16) as u8;
            let _ = f.feed(&[b, b ^ 0x5a, 0x04]);
        }
    }
}
