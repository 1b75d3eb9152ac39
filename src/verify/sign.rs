//! Signing a request the way each provider does, for `hookgate sign` (testing a route with curl,
//! as `stripe trigger` does) and for tests. The inverse of the presets: each provider's file
//! (`verify/providers/`) says how it signs, over a [`Draft`].

use super::mac::{Algorithm, Encoding, Key};
use super::providers;

/// A request ready to send: headers, the body (some schemes carry the signature in it), and
/// what to append to the URL (Twilio's `bodySHA256` for JSON bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub url_suffix: String,
}

/// A random 32-hex-digit identifier.
pub fn random_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A random UUID-shaped identifier (delivery IDs).
pub fn uuid() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// `v1,<base64 HMAC-SHA256 of id.timestamp.body>`: a Standard Webhooks signature with the
/// (`whsec_`-decoded) key.
pub fn standard_webhooks_signature(key: &Key, id: &str, timestamp: &str, body: &[u8]) -> String {
    let mac = key.mac(&[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!("v1,{}", Encoding::Base64.encode(&mac))
}

/// A request being signed: what the provider's `sign` reads (secret, URL, time, body) and
/// writes (headers, and for some schemes the body or a URL suffix).
pub struct Draft<'a> {
    /// The route secret (Discord: the hex Ed25519 seed; SendGrid: the base64 PKCS#8 P-256
    /// private key).
    pub secret: &'a str,
    /// The public URL the provider would call (Twilio, Square).
    pub url: Option<&'a str>,
    /// The sample event type being signed (`hookgate sign --event`), for the providers that
    /// name it in a header (GitHub, Shopify, GitLab).
    pub event: Option<&'a str>,
    /// Unix seconds, and the same as text.
    pub now: u64,
    pub ts: String,
    pub body: Vec<u8>,
    pub url_suffix: String,
    pub headers: Vec<(String, String)>,
}

impl Draft<'_> {
    /// The MAC of the concatenation of `parts` under the secret's bytes.
    pub fn hmac(&self, alg: Algorithm, parts: &[&[u8]]) -> Result<Vec<u8>, String> {
        Ok(Key::new(alg, self.secret.as_bytes())
            .ok_or("unusable key")?
            .mac(parts))
    }

    pub fn header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }
}

/// Signs `body` for `provider` at `now` (unix seconds). `secret` is the route secret (for
/// Discord: the hex Ed25519 seed; SendGrid: the base64 PKCS#8 P-256 private key); `url` is the
/// public URL the provider would call (Twilio, Square).
pub fn sign(
    provider: &str,
    secret: &str,
    body: &[u8],
    url: Option<&str>,
    now: u64,
) -> Result<Signed, String> {
    sign_event(provider, secret, body, url, now, None)
}

/// [`sign`] for a sample of event type `event`, which the providers that carry the type in a
/// header put there.
pub fn sign_event(
    provider: &str,
    secret: &str,
    body: &[u8],
    url: Option<&str>,
    now: u64,
    event: Option<&str>,
) -> Result<Signed, String> {
    let p = providers::find(provider).ok_or_else(|| format!("unknown provider {provider:?}"))?;
    let mut d = Draft {
        secret,
        url,
        event,
        now,
        ts: now.to_string(),
        body: body.to_vec(),
        url_suffix: String::new(),
        headers: Vec::new(),
    };
    (p.sign)(&mut d)?;
    if !d
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        d.header("Content-Type", "application/json");
    }
    Ok(Signed {
        headers: d.headers,
        body: d.body,
        url_suffix: d.url_suffix,
    })
}
