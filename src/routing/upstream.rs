//! An upstream: where a route's events are delivered, and how (timeouts, retries, headers,
//! re-signing). Built by `config::load`; a route holds its own.

use std::time::Duration;

use base64::Engine as _;
use http::{HeaderName, HeaderValue};

#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub url: reqwest::Url,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub max_age: Option<Duration>,
    pub backoff: Backoff,
    pub concurrency: usize,
    /// Added to every delivery, after the sender's (values may be secrets: never logged);
    /// first among them the URL's credentials as `Authorization: Basic`, made at load.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Re-signs each delivery so internal handlers verify one scheme.
    pub resign: Option<Resign>,
    /// HTTP/2 without TLS by prior knowledge (`protocol = "h2c"`); else HTTP/1.1 keep-alive.
    pub h2c: bool,
}

pub enum Resign {
    /// Standard Webhooks: `webhook-id` (the event ID, stable across attempts),
    /// `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`.
    /// The `whsec_` key, keyed for HMAC-SHA256 once, at load.
    StandardWebhooks { key: crate::verify::hmac::Key },
}

impl std::fmt::Debug for Resign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resign::StandardWebhooks(..)")
    }
}

impl Upstream {
    #[cfg(test)]
    pub fn for_test(name: &str) -> Upstream {
        Upstream {
            name: name.into(),
            url: reqwest::Url::parse("http://127.0.0.1:9/").expect("a valid URL"),
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            max_age: None,
            backoff: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            concurrency: 4,
            headers: Vec::new(),
            resign: None,
            h2c: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// `Authorization: Basic` for a URL with userinfo (`http://user:pass@…`), percent-decoded as
/// reqwest reads it; None without.
pub fn url_credentials(url: &reqwest::Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or_default()));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}
