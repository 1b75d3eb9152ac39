//! The stream pingora reads from and writes to, so that the gate's limits hold while pingora
//! drives the connection. `Watched` passes bytes through unchanged. A shed connection fails
//! its next read (a blocked read is woken); writes go through, so that the app's answer to
//! the failed read is delivered rather than logged as a write error.
//!
//! HTTP/1.x (`Watched::h1`): it tells the table whether the app is blocked reading the
//! client (the request body) and whether the answer has begun.
//!
//! HTTP/2 (`Watched::h2`): it follows the frame headers (never payloads) both ways:
//! - reads fail once a request header block (and, before the first one, the connection
//!   preface and SETTINGS) takes longer than the header timeout;
//! - the connection is busy while a request stream is open (its header block received, the
//!   answer not yet ended), and waiting otherwise — so an idle HTTP/2 connection can be shed
//!   like an idle HTTP/1.1 one. pingora's `h2_idle_timeout` closes it after the keep-alive
//!   timeout.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
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
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// What the frame follower saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A frame header: type, flags, stream.
    Frame(u8, u8, u32),
    /// A header block began.
    BlockStarted,
    /// A header block (HEADERS and its CONTINUATIONs) was received whole, on this stream.
    BlockDone(u32),
}

/// Follows one direction's frames: only lengths, types, flags and stream IDs.
#[derive(Debug, Default)]
pub struct Frames {
    /// Preface bytes still to skip (the client's direction starts with `PREFACE_LEN`).
    preface: usize,
    header: [u8; FRAME_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    payload: usize,
    /// The current frame ends a header block once its payload is read.
    ends_block: bool,
    /// Inside a header block (a HEADERS frame without END_HEADERS, then CONTINUATIONs).
    in_block: bool,
    block_stream: u32,
}

impl Frames {
    /// The client's direction (it begins with the connection preface).
    pub fn client() -> Frames {
        Frames {
            preface: PREFACE_LEN,
            ..Frames::default()
        }
    }

    /// The server's direction.
    pub fn server() -> Frames {
        Frames::default()
    }

    /// Whether a header block is partly received.
    pub fn in_block(&self) -> bool {
        self.in_block
    }

    pub fn feed(&mut self, mut bytes: &[u8], mut on: impl FnMut(Event)) {
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
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                on(Event::Frame(kind, flags, stream));
                self.ends_block = false;
                if kind == HEADERS || (kind == CONTINUATION && self.in_block) {
                    if !self.in_block {
                        self.in_block = true;
                        self.block_stream = stream;
                        on(Event::BlockStarted);
                    }
                    self.ends_block = flags & END_HEADERS != 0;
                }
            }
            if self.preface == 0 && self.payload == 0 && self.have == 0 && self.ends_block {
                self.ends_block = false;
                self.in_block = false;
                on(Event::BlockDone(self.block_stream));
            }
        }
    }
}

pub struct Watched<S> {
    io: S,
    conn: Arc<Conn>,
    reads: Frames,
    writes: Frames,
    /// Request streams received and not yet ended by hookgate's answer (or a reset).
    open: BTreeSet<u32>,
    /// The highest stream a request was received on: a header block on a lower one is a
    /// trailer (or a protocol error), not a new request.
    highest: u32,
    header_timeout: Duration,
    /// Running while a header block (or the preface and first block) is awaited.
    deadline: Option<Pin<Box<Sleep>>>,
    first_done: bool,
    timed_out: bool,
    h2: bool,
    /// Bytes the gate read before handing the connection over, returned first.
    replay: BytesMut,
}

impl<S> Watched<S> {
    /// HTTP/1.x: request headers are read (under their deadline) by the gate itself.
    pub fn h1(io: S, conn: Arc<Conn>) -> Self {
        Watched::with(io, conn, false, None, Duration::ZERO)
    }

    /// `deadline`: when the preface, SETTINGS and first request header must have arrived.
    pub fn h2(io: S, conn: Arc<Conn>, deadline: Instant, header_timeout: Duration) -> Self {
        let sleep = Box::pin(tokio::time::sleep_until(deadline));
        Watched::with(io, conn, true, Some(sleep), header_timeout)
    }

    fn with(
        io: S,
        conn: Arc<Conn>,
        h2: bool,
        deadline: Option<Pin<Box<Sleep>>>,
        header_timeout: Duration,
    ) -> Self {
        Watched {
            h2,
            io,
            conn,
            reads: Frames::client(),
            writes: Frames::server(),
            open: BTreeSet::new(),
            highest: 0,
            header_timeout,
            deadline,
            first_done: false,
            timed_out: false,
            replay: BytesMut::new(),
        }
    }

    /// Returns `bytes` (already read from `io`) before reading `io` again.
    pub fn replaying(mut self, bytes: BytesMut) -> Self {
        self.replay = bytes;
        self
    }

    /// Busy while a request is open, waiting otherwise; `false` when shed meanwhile.
    fn account(&mut self, was_open: bool) -> bool {
        match (was_open, !self.open.is_empty()) {
            (false, true) => self.conn.busy(),
            (true, false) => {
                self.conn.waiting();
                true
            }
            _ => !self.conn.slot.is_shed(),
        }
    }

    /// Follows bytes hookgate wrote: an answer's END_STREAM (or a reset) ends a request.
    fn wrote(&mut self, bytes: &[u8]) {
        if !self.h2 {
            // An interim answer (`100 Continue`) asks for the body: the request still receives.
            if !bytes.is_empty() && !is_interim(bytes) {
                self.conn.slot.answering();
            }
            return;
        }
        let was_open = !self.open.is_empty();
        let open = &mut self.open;
        self.writes.feed(bytes, |e| {
            if let Event::Frame(kind, flags, stream) = e
                && (kind == RST_STREAM
                    || ((kind == HEADERS || kind == DATA) && flags & END_STREAM != 0))
            {
                open.remove(&stream);
            }
        });
        // Writes only end requests: nothing to refuse here.
        let _ = self.account(was_open);
    }
}

/// Whether a write begins an HTTP/1.x 1xx response (pingora writes its header in one go).
fn is_interim(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/1.") && bytes.get(9) == Some(&b'1')
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
        // Bytes already read are always given (pingora's HTTP/2 handshake runs on them, and
        // logs its failures as errors); the limits apply to reading more.
        let limited = this.replay.is_empty();
        if limited && this.conn.slot.is_shed() {
            return Poll::Ready(Err(shed_error()));
        }
        this.conn.slot.register(cx.waker());
        if limited && this.conn.slot.is_shed() {
            return Poll::Ready(Err(shed_error()));
        }
        if limited
            && let Some(d) = this.deadline.as_mut()
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
        let r = if limited {
            Pin::new(&mut this.io).poll_read(cx, buf)
        } else {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay.split_to(n));
            Poll::Ready(Ok(()))
        };
        if !this.h2 {
            this.conn.slot.read_pending(r.is_pending());
            return r;
        }
        if let Poll::Ready(Ok(())) = &r {
            let was_open = !this.open.is_empty();
            let (open, highest) = (&mut this.open, &mut this.highest);
            let (mut started, mut done) = (false, false);
            this.reads.feed(&buf.filled()[before..], |e| match e {
                Event::BlockStarted => started = true,
                Event::BlockDone(stream) => {
                    done = true;
                    if stream > *highest {
                        *highest = stream;
                        open.insert(stream);
                    }
                }
                Event::Frame(RST_STREAM, _, stream) => {
                    open.remove(&stream);
                }
                Event::Frame(..) => {}
            });
            this.first_done |= done;
            // Shed meanwhile: bytes of the replay are still given (pingora's handshake reads
            // its preface from them), and the next read of the socket fails.
            if !this.account(was_open) && limited {
                return Poll::Ready(Err(shed_error()));
            }
            if !this.first_done {
                // The deadline from accept still runs.
            } else if !this.reads.in_block() {
                this.deadline = None;
            } else if started || this.deadline.is_none() {
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
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            this.wrote(&buf[..*n]);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            let mut left = *n;
            for b in bufs {
                let take = left.min(b.len());
                this.wrote(&b[..take]);
                left -= take;
                if left == 0 {
                    break;
                }
            }
        }
        r
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
    fn get_read_pending_time(&self) -> Duration {
        self.io.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.io.get_write_pending_time()
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

    fn frame(kind: u8, flags: u8, stream: u8, payload: &[u8]) -> Vec<u8> {
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
            stream,
        ];
        f.extend_from_slice(payload);
        f
    }

    fn connection() -> Vec<u8> {
        let mut v = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        v.extend(frame(0x4, 0, 0, &[0; 12])); // SETTINGS
        v
    }

    fn events(f: &mut Frames, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        f.feed(bytes, |e| out.push(e));
        out
    }

    /// pingora's HTTP/2 handshake reads the preface the gate read before it: a connection
    /// shed meanwhile still gives those bytes (else pingora logs a handshake error), and fails
    /// its next read of the socket.
    #[tokio::test]
    async fn a_shed_connection_gives_the_bytes_read_before_then_fails() {
        use tokio::io::AsyncReadExt;

        use super::super::metrics::ListenerMetrics;
        use super::super::table::{Admission, Table};

        let table = Table::new(ListenerMetrics::unregistered());
        let Admission::Admitted(conn) = table.admit(1) else {
            panic!("refused")
        };
        let (_client, server) = tokio::io::duplex(1024);
        let later = Instant::now() + Duration::from_secs(10);
        let mut io = Watched::h2(server, Arc::new(conn), later, Duration::from_secs(10))
            .replaying(BytesMut::from(&connection()[..]));
        // A new connection takes its place: this one, with no request open, is shed.
        let _newer = table.admit(1);
        let mut preface = [0; PREFACE_LEN];
        io.read_exact(&mut preface).await.unwrap();
        assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let mut settings = [0; FRAME_HEADER_LEN + 12];
        io.read_exact(&mut settings).await.unwrap();
        let e = io.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(e.to_string(), "connection shed");
    }

    #[test]
    fn a_header_block_is_seen_through_continuations_at_any_split() {
        let mut all = connection();
        all.extend(frame(HEADERS, 0, 3, &[1; 20]));
        all.extend(frame(CONTINUATION, 0, 3, &[2; 5]));
        all.extend(frame(CONTINUATION, END_HEADERS, 3, &[3; 7]));
        all.extend(frame(DATA, END_STREAM, 3, &[4; 30]));
        for chunk in [1, 2, 3, 7, 9, 10, 64, all.len()] {
            let mut f = Frames::client();
            let mut seen = Vec::new();
            for c in all.chunks(chunk) {
                seen.extend(events(&mut f, c));
            }
            let blocks: Vec<_> = seen
                .iter()
                .filter(|e| !matches!(e, Event::Frame(..)))
                .collect();
            assert_eq!(
                blocks,
                [&Event::BlockStarted, &Event::BlockDone(3)],
                "chunk {chunk}"
            );
            assert!(seen.contains(&Event::Frame(DATA, END_STREAM, 3)));
            assert!(!f.in_block());
        }
    }

    #[test]
    fn an_unfinished_block_stays_open() {
        let mut f = Frames::client();
        events(&mut f, &connection());
        let e = events(&mut f, &frame(HEADERS, 0, 1, &[0; 3]));
        assert!(e.contains(&Event::BlockStarted) && f.in_block());
        let mut g = Frames::client();
        let mut bytes = connection();
        bytes.extend(frame(HEADERS, END_HEADERS, 1, &[0; 40]));
        let e = events(&mut g, &bytes[..bytes.len() - 1]);
        assert!(!e.contains(&Event::BlockDone(1)) && g.in_block());
        assert_eq!(
            events(&mut g, &bytes[bytes.len() - 1..]),
            [Event::BlockDone(1)]
        );
    }

    #[test]
    fn the_server_direction_has_no_preface() {
        let mut f = Frames::server();
        let mut bytes = frame(0x4, 0, 0, &[]);
        bytes.extend(frame(HEADERS, END_HEADERS | END_STREAM, 5, &[0; 4]));
        let e = events(&mut f, &bytes);
        assert!(e.contains(&Event::Frame(HEADERS, END_HEADERS | END_STREAM, 5)));
    }

    #[test]
    fn interim_answers_are_told_apart() {
        assert!(is_interim(b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert!(!is_interim(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_interim(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert!(!is_interim(b"{\"status\":1}"));
        assert!(!is_interim(b"HTTP/1.1"));
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let (mut f, mut g) = (Frames::client(), Frames::server());
        let mut x: u32 = 7;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let b = (x >> 16) as u8;
            f.feed(&[b, b ^ 0x5a, 0x04], |_| {});
            g.feed(&[b ^ 0x33, b, 0x01], |_| {});
        }
    }
}
