//! Reading a request body with a size limit and a total deadline: pingora has neither.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::protocols::http::ServerSession as Session;

use super::memory::{Refused, Reservation};

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("body not received within {0:?}")]
    Timeout(Duration),
    #[error("reading body: {0}")]
    Io(String),
    #[error("request bodies in memory are at their bound (server.max_body_memory)")]
    Memory(Refused),
}

/// The declared Content-Length, when there is a valid one.
pub fn declared_length(session: &Session) -> Option<u64> {
    session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// What a declared length reserves before the body is read (larger bodies grow as they come).
const RESERVE_AT_MOST: usize = 1 << 20;

/// Reads the whole body, stopping as soon as it exceeds `max` (nothing more is buffered), each
/// chunk taken from `memory` (bounded by `cap`) before it is kept; the body is complete there
/// once read whole.
pub async fn read(
    session: &mut Session,
    max: usize,
    deadline: Duration,
    memory: &mut Reservation<'_>,
    cap: usize,
) -> Result<Bytes, BodyError> {
    // Reserved up front only up to a size most bodies fit in: a head that declares the route's
    // whole limit must not make each connection reserve it before a byte of the body arrived.
    let hint =
        declared_length(session).map_or(0, |n| n.min(max.min(RESERVE_AT_MOST) as u64) as usize);
    let read_all = async {
        let mut buf = BytesMut::new();
        loop {
            let chunk = tokio::select! {
                biased;
                () = memory.cut() => return Err(BodyError::Memory(Refused::Cut)),
                chunk = session.read_request_body() => chunk,
            };
            let Some(chunk) = chunk.map_err(|e| BodyError::Io(e.to_string()))? else {
                break;
            };
            let need = buf.len() + chunk.len();
            if need > max {
                return Err(BodyError::TooLarge(max));
            }
            if need > buf.capacity() {
                // What the buffer allocates is what counts (a declared length is allocated
                // at the first chunk): taken before it is allocated.
                let base = if buf.is_empty() {
                    hint
                } else {
                    2 * buf.capacity()
                };
                let target = base.max(need).min(max);
                let held = buf.capacity();
                memory.grow(target - held, cap).map_err(BodyError::Memory)?;
                buf.reserve(target - buf.len());
                if buf.capacity() > target {
                    memory
                        .grow(buf.capacity() - target, cap)
                        .map_err(BodyError::Memory)?;
                }
            }
            buf.extend_from_slice(&chunk);
            memory.received(chunk.len());
        }
        memory.complete().map_err(BodyError::Memory)?;
        Ok(buf.freeze())
    };
    tokio::time::timeout(deadline, read_all)
        .await
        .map_err(|_| BodyError::Timeout(deadline))?
}
