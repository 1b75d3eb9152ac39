//! Reading a request body with a size limit and a total deadline: pingora has neither.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("body not received within {0:?}")]
    Timeout(Duration),
    #[error("reading body: {0}")]
    Io(String),
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

/// Reads the whole body, stopping as soon as it exceeds `max` (nothing more is buffered).
pub async fn read(
    session: &mut Session,
    max: usize,
    deadline: Duration,
) -> Result<Bytes, BodyError> {
    // Reserved up front only up to a size most bodies fit in: a head that declares the route's
    // whole limit must not make each connection reserve it before a byte of the body arrived.
    let hint =
        declared_length(session).map_or(0, |n| n.min(max.min(RESERVE_AT_MOST) as u64) as usize);
    let read_all = async {
        let mut buf = BytesMut::with_capacity(hint);
        while let Some(chunk) = session
            .read_request_body()
            .await
            .map_err(|e| BodyError::Io(e.to_string()))?
        {
            if buf.len() + chunk.len() > max {
                return Err(BodyError::TooLarge(max));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(deadline, read_all)
        .await
        .map_err(|_| BodyError::Timeout(deadline))?
}
