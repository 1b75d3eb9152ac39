//! One delivery attempt: the request sent to the upstream, and what its answer means.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::backoff::parse_retry_after;
use super::identity;
use crate::config::{Resign, Upstream};
use crate::event::id::header_form;
use crate::store::StoredEvent;
use crate::verify::hmac::Key;
use crate::verify::sign::standard_webhooks_signature;

/// Response bytes read (and dropped) so the connection can be reused; an error keeps a prefix.
const DRAIN_LIMIT: usize = 64 * 1024;
const ERROR_SNIPPET: usize = 200;

#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// Worth trying again (transport errors, timeouts, 408, 429, 5xx).
    pub retryable: bool,
    pub error: String,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
}

pub fn request_headers(up: &Upstream, ev: &StoredEvent, attempt: u32) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(ev.headers.len() + up.headers.len() + 9);
    let mut proto = None;
    for (name, value) in &ev.headers {
        if name == identity::LISTENER_PROTO {
            proto = std::str::from_utf8(value).ok();
            continue;
        }
        // Filtered here too: events stored by earlier versions still carry a sender's own.
        if identity::is_identity(name) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            h.append(n, v);
        }
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    // Percent-encoded where needed: an ID with control or non-ASCII characters still arrives.
    set("x-hookgate-event-id", &header_form(&ev.event_id));
    set("x-hookgate-route", &ev.route);
    set("x-hookgate-attempt", &attempt.to_string());
    identity::set_known(&mut h, &ev.client_ip, proto);
    for (name, value) in &up.headers {
        h.insert(name.clone(), value.clone());
    }
    if let Some(Resign::StandardWebhooks { key }) = &up.resign {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for (name, value) in standard_webhooks(key, &ev.event_id, now, &ev.body) {
            h.insert(HeaderName::from_static(name), value);
        }
    }
    h
}

/// Standard Webhooks headers for one attempt: `webhook-id` is the event ID (the same on every
/// attempt, so the receiver can deduplicate), the timestamp is the attempt's.
fn standard_webhooks(
    key: &Key,
    event_id: &str,
    now: u64,
    body: &[u8],
) -> [(&'static str, HeaderValue); 3] {
    // The same form as X-Hookgate-Event-Id (the ID itself unless it needs encoding).
    let id = header_form(event_id);
    let ts = now.to_string();
    let sig = standard_webhooks_signature(key, &id, &ts, body);
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    [
        ("webhook-id", value(&id)),
        ("webhook-timestamp", value(&ts)),
        ("webhook-signature", value(&sig)),
    ]
}

/// The request of one attempt: the event to the upstream's URL (plus the request's sub-path
/// and query), with its headers, hookgate's, the upstream's own and an optional signature.
/// A target that cannot be joined to the upstream's URL is a permanent failure: no retry
/// would make it deliverable.
pub fn request(
    client: &reqwest::Client,
    upstream: &Upstream,
    ev: &StoredEvent,
    attempt: u32,
    timeout: Duration,
) -> Result<reqwest::RequestBuilder, Failure> {
    let url = super::url::join(&upstream.url, &ev.target).map_err(|e| Failure {
        retryable: false,
        error: format!("cannot build the delivery URL: {e}"),
        status: None,
        retry_after: None,
    })?;
    Ok(client
        .post(url)
        .headers(request_headers(upstream, ev, attempt))
        .body(ev.body.clone())
        .timeout(timeout))
}

pub async fn send(
    client: &reqwest::Client,
    upstream: &Upstream,
    ev: &StoredEvent,
    attempt: u32,
) -> Result<u16, Failure> {
    let sent = request(client, upstream, ev, attempt, upstream.timeout)?
        .send()
        .await;
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => return Err(transport_failure(&e, upstream.timeout)),
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

pub fn transport_failure(e: &reqwest::Error, timeout: Duration) -> Failure {
    // A request that cannot even be built (an invalid URL, say) fails the same way every
    // time: trying again only delays the dead letter.
    if e.is_builder() {
        return Failure {
            retryable: false,
            error: format!("cannot build the request (not retried): {}", root_cause(e)),
            status: None,
            retry_after: None,
        };
    }
    let error = if e.is_timeout() {
        format!(
            "timed out after {}",
            crate::config::units::fmt_duration(timeout)
        )
    } else if e.is_connect() {
        format!("connect failed: {}", root_cause(e))
    } else {
        format!("request failed: {}", root_cause(e))
    };
    Failure {
        retryable: true,
        error,
        status: None,
        retry_after: None,
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
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

    #[test]
    fn a_request_that_cannot_be_built_is_not_retried() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = super::super::http_client().unwrap();
        // What joining a sub-path onto a root URL by text once produced.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A scheme reqwest refuses fails only when sent, with the same kind of error.
        for url in ["http://127.0.0.1:8080normal/path", "http://", "ftp://h/x"] {
            let e = rt.block_on(client.post(url).send()).unwrap_err();
            let f = transport_failure(&e, Duration::from_secs(1));
            assert!(!f.retryable, "{url}: {f:?}");
            assert!(f.error.starts_with("cannot build the request"), "{f:?}");
        }
        // A refused connection is still worth trying again.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let e = rt
            .block_on(client.post(format!("http://127.0.0.1:{port}/")).send())
            .unwrap_err();
        assert!(transport_failure(&e, Duration::from_secs(1)).retryable);
    }

    #[test]
    fn standard_webhooks_signature() {
        // The example of the Standard Webhooks specification.
        use base64::Engine as _;
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let key = Key::new(crate::verify::hmac::Algorithm::Sha256, &secret).unwrap();
        let body = br#"{"test": 2432232314}"#;
        let [id, ts, sig] =
            standard_webhooks(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(id.1, "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(ts.1, "1614265330");
        assert_eq!(sig.1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let odd = standard_webhooks(&key, "a\nb", 1, b"").map(|(_, v)| v);
        assert_eq!(odd[0], "a%0Ab");
    }

    #[test]
    fn identity_headers_are_hookgates() {
        let up = Upstream {
            name: "u".into(),
            url: reqwest::Url::parse("http://127.0.0.1:1/").unwrap(),
            timeout: Duration::from_secs(1),
            max_attempts: 1,
            max_age: None,
            backoff: crate::config::Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(1),
            },
            concurrency: 1,
            headers: Vec::new(),
            resign: None,
        };
        // As an earlier version stored it: the sender's identity headers kept.
        let ev = StoredEvent {
            handle: 1,
            route: "r".into(),
            event_id: "e".into(),
            received_at_ms: 0,
            client_ip: "192.0.2.1".into(),
            target: String::new(),
            headers: vec![
                ("x-real-ip".into(), b"6.6.6.6".to_vec()),
                ("x-forwarded-host".into(), b"evil".to_vec()),
                ("x-forwarded-proto".into(), b"https".to_vec()),
                ("x-kept".into(), b"1".to_vec()),
            ],
            body: bytes::Bytes::new(),
            attempts: 0,
            order_key: None,
        };
        let h = request_headers(&up, &ev, 1);
        assert_eq!(h["x-real-ip"], "192.0.2.1");
        assert_eq!(h["x-forwarded-for"], "192.0.2.1");
        assert!(h.get("x-forwarded-host").is_none());
        assert!(h.get("x-forwarded-proto").is_none());
        assert_eq!(h["x-kept"], "1");
        let mut ev = ev;
        ev.headers
            .push((identity::LISTENER_PROTO.into(), b"https".to_vec()));
        let h = request_headers(&up, &ev, 1);
        assert_eq!(h["x-forwarded-proto"], "https");
        assert!(h.get(identity::LISTENER_PROTO).is_none());

        // A target stored by an earlier version that escapes the base path fails for good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        ev.target = "/..\\..\\admin".into();
        let f = request(&client, &up, &ev, 1, Duration::from_secs(1)).unwrap_err();
        assert!(
            !f.retryable && f.error.starts_with("cannot build the delivery URL"),
            "{f:?}"
        );
        // One stored without its leading '/' under a route on "/" goes below the base path.
        ev.target = "@127.0.0.1:2/x?a=1".into();
        let r = request(&client, &up, &ev, 1, Duration::from_secs(1))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(r.url().as_str(), "http://127.0.0.1:1/@127.0.0.1:2/x?a=1");
    }
}
