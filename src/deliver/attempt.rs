//! One delivery attempt: the request sent (built by `upstream`), and what its answer means.

use std::time::{Duration, SystemTime};

use super::backoff::parse_retry_after;
use crate::routing::Upstream;
use crate::store::StoredEvent;
use crate::telemetry::TraceContext;
use crate::upstream::{self, Failure};

/// Response bytes read (and dropped) so the connection can be reused; an error keeps a prefix.
const DRAIN_LIMIT: usize = 64 * 1024;
const ERROR_SNIPPET: usize = 200;

pub async fn send(
    client: &reqwest::Client,
    upstream: &Upstream,
    ev: &StoredEvent,
    attempt: u32,
    trace: Option<TraceContext>,
) -> Result<u16, Failure> {
    let request = upstream::request(client, upstream, ev, attempt, upstream.timeout)?;
    let sent = upstream::traced(request, trace).send().await;
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => return Err(upstream::transport_failure(&e, upstream.timeout)),
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let mut snippet = Vec::new();
    let mut read = 0;
    while read < DRAIN_LIMIT {
        match resp.chunk().await {
            Ok(Some(c)) => {
                read += c.len();
                if snippet.len() < ERROR_SNIPPET {
                    snippet.extend_from_slice(&c[..c.len().min(ERROR_SNIPPET - snippet.len())]);
                }
            }
            _ => break,
        }
    }
    classify(status, retry_after, &snippet)
}

pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Result<u16, Failure> {
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let retryable = status == 408 || status == 429 || status >= 500;
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let error = if text.trim().is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        format!("HTTP {status} {reason}: {}", text.trim())
    };
    Err(Failure {
        retryable,
        error,
        status: Some(status),
        retry_after: if retryable { retry_after } else { None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(204, None, b""), Ok(204));
        for s in [408, 429, 500, 502, 503] {
            assert!(classify(s, None, b"").unwrap_err().retryable, "{s}");
        }
        for s in [301, 400, 401, 404, 410, 422] {
            assert!(
                !classify(s, Some(Duration::from_secs(1)), b"")
                    .unwrap_err()
                    .retryable,
                "{s}"
            );
        }
        let f = classify(503, Some(Duration::from_secs(7)), b"down\nfor maintenance").unwrap_err();
        assert_eq!(f.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(f.error, "HTTP 503 Service Unavailable: downfor maintenance");
    }
}
