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

use std::collections::BTreeMap;
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

use super::frames::{DATA, END_STREAM, Event, Frames, HEADERS, RST_STREAM};
use super::table::{Conn, now_tick};

/// Who an open request stream waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The client: the rest of its request.
    Receiving,
    /// hookgate: the request is whole, no answer written yet.
    Handling,
    /// The client: the answer is begun and not ended (HTTP/2 flow control lets a client hold
    /// it; hookgate's answers are small and written at once).
    Answering,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    phase: Phase,
    /// When it entered `phase` (`now_tick`).
    since: u64,
}

impl Open {
    fn enter(&mut self, phase: Phase) -> bool {
        let changed = self.phase != phase;
        if changed {
            *self = Open {
                phase,
                since: now_tick(),
            };
        }
        changed
    }
}

pub struct Watched<S> {
    io: S,
    conn: Arc<Conn>,
    reads: Frames,
    writes: Frames,
    /// Request streams received and not yet ended by hookgate's answer (or a reset).
    open: BTreeMap<u32, Open>,
    /// The header block being read opens a request stream and ends its request (a GET).
    block_ends_stream: bool,
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
            open: BTreeMap::new(),
            block_ends_stream: false,
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

    /// Tells the table whether every open stream waits on the client, and since when.
    fn publish(&self) {
        if self.open.is_empty() {
            return;
        }
        let since = self.open.values().try_fold(0, |newest, s| {
            (s.phase != Phase::Handling).then_some(newest.max(s.since))
        });
        self.conn.slot.waits_on_client(since);
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
        let mut changed = false;
        self.writes.feed(bytes, |e| {
            let Event::Frame(kind, flags, stream) = e else {
                return;
            };
            if kind == RST_STREAM || ((kind == HEADERS || kind == DATA) && flags & END_STREAM != 0)
            {
                changed |= open.remove(&stream).is_some();
            } else if kind == HEADERS
                && let Some(s) = open.get_mut(&stream)
            {
                changed |= s.enter(Phase::Answering);
            }
        });
        // Writes only end requests: nothing to refuse here.
        let _ = self.account(was_open);
        if changed {
            self.publish();
        }
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
            let ends = &mut this.block_ends_stream;
            let (mut started, mut done, mut changed) = (false, false, false);
            this.reads.feed(&buf.filled()[before..], |e| match e {
                Event::BlockStarted => started = true,
                Event::BlockDone(stream) => {
                    done = true;
                    if stream > *highest {
                        *highest = stream;
                        let phase = if *ends {
                            Phase::Handling
                        } else {
                            Phase::Receiving
                        };
                        let since = now_tick();
                        open.insert(stream, Open { phase, since });
                        changed = true;
                    }
                }
                Event::Frame(HEADERS, flags, stream) if stream > *highest => {
                    *ends = flags & END_STREAM != 0;
                }
                // The request is whole (its last DATA, or trailers).
                Event::Frame(DATA | HEADERS, flags, stream) if flags & END_STREAM != 0 => {
                    if let Some(s) = open.get_mut(&stream)
                        && s.phase == Phase::Receiving
                    {
                        changed |= s.enter(Phase::Handling);
                    }
                }
                Event::Frame(RST_STREAM, _, stream) => {
                    changed |= open.remove(&stream).is_some();
                }
                Event::Frame(..) => {}
            });
            this.first_done |= done;
            // Shed meanwhile: bytes of the replay are still given (pingora's handshake reads
            // its preface from them), and the next read of the socket fails.
            if !this.account(was_open) && limited {
                return Poll::Ready(Err(shed_error()));
            }
            if changed {
                this.publish();
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
    use super::super::frames::tests::connection;
    use super::super::frames::{FRAME_HEADER_LEN, PREFACE_LEN};
    use super::*;

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
    fn interim_answers_are_told_apart() {
        assert!(is_interim(b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert!(!is_interim(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_interim(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert!(!is_interim(b"{\"status\":1}"));
        assert!(!is_interim(b"HTTP/1.1"));
    }
}
