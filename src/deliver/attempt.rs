//! One delivery attempt: the request sent (built by `upstream`), and what its answer means.

use std::time::{Duration, SystemTime};

use super::backoff::parse_retry_after;
use crate::routing::Upstream;
use crate::store::StoredEvent;
use crate::telemetry::TraceContext;
use crate::upstream::{Client, Failure};

pub async fn send(
    client: &Client,
    upstream: &Upstream,
    ev: &StoredEvent,
    attempt: u32,
    trace: Option<TraceContext>,
) -> Result<u16, Failure> {
    let answer = client.send(upstream, ev, attempt, trace).await?;
    let retry_after = answer
        .retry_after
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    classify(answer.status, retry_after, &answer.snippet)
}

pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Result<u16, Failure> {
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let retryable = crate::upstream::retried_status(status);
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
        for s in [101, 408, 429, 500, 502, 503] {
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
