//! Reading an HTTP/1.x request header under one overall deadline.
//!
//! pingora's `read_request` times each read on its own (60 s), so a client trickling a byte
//! at a time holds its connection forever. Here the header bytes are read by hookgate until
//! the blank line that ends the header, and then handed to pingora as a "pipelined prefix",
//! which it parses without reading the socket again.

use std::time::Duration;

use bytes::BytesMut;
use pingora::protocols::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::table::Slot;

const READ_CHUNK: usize = 4096;

#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// The header is complete: `buf` is for pingora.
    Ready,
    /// `max` bytes arrived and the header has not ended: answered 431 without reading more,
    /// so a connection never holds more than `max` (nor hands pingora a head to read on with
    /// only its per-read timeout).
    TooLarge,
    /// The client closed, or the connection failed, before a complete header.
    Closed,
    /// The deadline passed; `partial` when some bytes of a header had arrived.
    Timeout { partial: bool },
    /// Closed to make room for a new connection.
    Shed,
}

/// Where a request header ends, as `httparse` sees it: leading blank lines are skipped, then
/// the first empty line (`\n\n` or `\n\r\n`) ends the header. `scanned` remembers how far an
/// earlier call looked, so that a header trickled byte by byte costs linear time.
pub fn head_complete(buf: &[u8], scanned: &mut usize) -> bool {
    let Some(start) = buf.iter().position(|b| *b != b'\r' && *b != b'\n') else {
        *scanned = 0;
        return false;
    };
    let from = (*scanned).saturating_sub(2).max(start + 1);
    *scanned = buf.len();
    // Line ends found with `memchr` (a byte-by-byte look was ~1.6k instructions per request).
    let rest = buf.get(from..).unwrap_or_default();
    memchr::memchr_iter(b'\n', rest).any(|at| {
        let i = from + at;
        buf[i - 1] == b'\n' || (buf[i - 1] == b'\r' && i >= start + 2 && buf[i - 2] == b'\n')
    })
}

/// Reads into `buf` until a complete request header (or `max` bytes), the deadline, a close,
/// or shedding. `idle` (a kept-alive connection): `deadline` bounds the wait for the first
/// byte, after which the header has `header_timeout`.
pub async fn read_head(
    stream: &mut Stream,
    buf: &mut BytesMut,
    mut deadline: Instant,
    idle: bool,
    header_timeout: Duration,
    max: usize,
    slot: &Slot,
) -> Head {
    let mut scanned = 0;
    let mut started = !idle;
    loop {
        if head_complete(buf, &mut scanned) {
            return Head::Ready;
        }
        if buf.len() >= max {
            return Head::TooLarge;
        }
        if slot.is_shed() {
            return Head::Shed;
        }
        buf.reserve(READ_CHUNK.min(max - buf.len()));
        tokio::select! {
            biased;
            () = slot.shed_signal() => return Head::Shed,
            () = tokio::time::sleep_until(deadline) => {
                return Head::Timeout { partial: !buf.is_empty() };
            }
            r = stream.read_buf(buf) => match r {
                Ok(0) | Err(_) => return Head::Closed,
                Ok(_) if !started => {
                    started = true;
                    deadline = Instant::now() + header_timeout;
                }
                Ok(_) => {}
            },
        }
    }
}

/// HTTP/2: reads the client's connection preface and first frame (its SETTINGS) under the
/// deadline, so that pingora's handshake — which logs every failure as an error — only ever
/// runs on bytes already received. Anything but the preface closes the connection.
pub async fn read_h2_start<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    deadline: Instant,
    slot: &Slot,
) -> Head {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const FRAME_HEADER: usize = 9;
    const MAX_FRAME: usize = 16_384;
    loop {
        let n = buf.len().min(PREFACE.len());
        if buf[..n] != PREFACE[..n] {
            return Head::Closed;
        }
        if let Some(h) = buf.get(PREFACE.len()..PREFACE.len() + FRAME_HEADER) {
            let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            if len > MAX_FRAME || buf.len() >= PREFACE.len() + FRAME_HEADER + len {
                return Head::Ready;
            }
        }
        buf.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            () = slot.shed_signal() => return Head::Shed,
            () = tokio::time::sleep_until(deadline) => {
                return Head::Timeout { partial: !buf.is_empty() };
            }
            r = io.read_buf(buf) => if matches!(r, Ok(0) | Err(_)) {
                return Head::Closed;
            },
        }
    }
}

/// A complete minimal answer for a connection hookgate closes itself.
pub fn answer(status: &str, error: &str, detail: &str, retry_after: Option<u64>) -> Vec<u8> {
    let body = crate::wire::error_body(error, detail);
    let retry = retry_after.map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes `bytes` and closes, giving a client that does not read at most `limit`.
pub async fn answer_and_close(stream: &mut Stream, bytes: &[u8], limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        stream.write_all(bytes).await?;
        stream.flush().await?;
        AsyncWriteExt::shutdown(stream).await
    })
    .await;
}

/// After answering before reading the request, reads what the client already sent (bounded),
/// so that closing does not reset the connection before the client has read the answer.
pub async fn linger(stream: &mut Stream, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(s: &[u8]) -> bool {
        head_complete(s, &mut 0)
    }

    #[test]
    fn header_end_as_httparse_sees_it() {
        assert!(complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(complete(b"GET / HTTP/1.1\nHost: a\n\n"));
        assert!(complete(b"GET / HTTP/1.1\r\n\r\nbody"));
        assert!(complete(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"));
        assert!(!complete(b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(!complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r"));
        // Leading blank lines are skipped by httparse: they do not end a header.
        assert!(!complete(b"\r\n\r\n\r\n"));
        assert!(!complete(b"\r\n\r\nG"));
        assert!(!complete(b""));
    }

    #[test]
    fn trickled_byte_by_byte_finds_the_end_once() {
        let text = b"\r\nPOST /x HTTP/1.1\r\nA: b\r\n\r\n";
        let mut scanned = 0;
        for n in 1..=text.len() {
            let done = head_complete(&text[..n], &mut scanned);
            assert_eq!(done, n == text.len(), "at {n}");
        }
    }

    #[test]
    fn no_panic_on_any_short_input() {
        for a in 0u8..=255 {
            for b in [b'\r', b'\n', b'a'] {
                for c in [b'\r', b'\n', b'a'] {
                    let mut s = 0;
                    let _ = head_complete(&[a, b, c], &mut s);
                    let _ = head_complete(&[b, c, a, b'\n'], &mut s);
                }
            }
        }
    }

    #[test]
    fn answers_are_complete_responses() {
        let a = String::from_utf8(answer(
            "503 Service Unavailable",
            "too_many_connections",
            "x",
            Some(5),
        ))
        .unwrap();
        assert!(a.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(a.contains("\r\nRetry-After: 5\r\n") && a.contains("\r\nConnection: close\r\n"));
        let (head, body) = a.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
