//! `[upstreams.NAME]`: where events go, retries, added headers, re-signing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use toml::Spanned;

use super::{Checker, WAIT_MAX, valid_name};
use crate::config::file::{SignFile, Text, UpstreamFile};
use crate::routing::{Backoff, Resign, Upstream, url_credentials};
use crate::secret::{looks_like_reference, mistyped_reference};
use crate::verify::Algorithm;
use crate::verify::hmac::{Key, KeyFormat};

impl Checker<'_> {
    pub(super) fn upstreams(
        &mut self,
        map: &BTreeMap<Spanned<String>, Spanned<UpstreamFile>>,
    ) -> BTreeMap<String, Arc<Upstream>> {
        let mut out = BTreeMap::new();
        for (name, u) in map {
            if !valid_name(name.get_ref()) {
                self.error(
                    name.span(),
                    format!(
                        "upstream name {:?} must be 1-64 characters of letters, digits, '_' or '-'",
                        name.get_ref()
                    ),
                );
            }
            if let Some(up) = self.upstream(name.get_ref(), u.get_ref()) {
                out.insert(name.get_ref().clone(), Arc::new(up));
            }
        }
        out
    }

    fn upstream(&mut self, name: &str, u: &UpstreamFile) -> Option<Upstream> {
        let key = |k: &str| format!("upstreams.{name}.{k}");
        let url = match reqwest::Url::parse(u.url.get_ref().trim()) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                self.error(
                    u.url.span(),
                    format!("{}: scheme must be http or https", key("url")),
                );
                None
            }
            Ok(url) if url.host().is_none() => {
                self.error(u.url.span(), format!("{}: URL has no host", key("url")));
                None
            }
            Ok(url) if url.fragment().is_some() || url.query().is_some() => {
                self.error(u.url.span(), format!("{}: URL must not have a query or fragment (the request's own query is appended)", key("url")));
                None
            }
            // Every delivery's request is built from it (the sub-path and query appended):
            // one no HTTP client can send (over 65,534 bytes, say) would take events with
            // 2xx only to dead-letter them.
            Ok(url) if url.as_str().parse::<http::Uri>().is_err() => {
                self.error(
                    u.url.span(),
                    format!(
                        "{}: not a URL an HTTP request can be sent to ({} bytes)",
                        key("url"),
                        url.as_str().len()
                    ),
                );
                None
            }
            Ok(url) => Some(url),
            Err(e) => {
                self.error(u.url.span(), format!("{}: {e}", key("url")));
                None
            }
        };
        let (initial, max) = match &u.backoff {
            Some(b) => {
                let bspan = b.span();
                let b = b.get_ref();
                let initial = self.duration(
                    b.initial.as_ref(),
                    &key("backoff.initial"),
                    Duration::from_secs(1),
                );
                let max = self.duration(
                    b.max.as_ref(),
                    &key("backoff.max"),
                    Duration::from_secs(600),
                );
                if initial > max {
                    self.error(
                        bspan,
                        format!("{}: initial must not exceed max", key("backoff")),
                    );
                }
                (initial, max)
            }
            None => (Duration::from_secs(1), Duration::from_secs(600)),
        };
        let timeout = self.duration_at_most(
            u.timeout.as_ref(),
            &key("timeout"),
            Duration::from_secs(10),
            WAIT_MAX,
        );
        let max_attempts =
            self.int(u.max_attempts.as_ref(), &key("max_attempts"), 1..1001, 8) as u32;
        let max_age = u
            .max_age
            .as_ref()
            .map(|t| self.duration(Some(t), &key("max_age"), Duration::from_secs(72 * 3600)));
        let concurrency =
            self.int(u.concurrency.as_ref(), &key("concurrency"), 1..10_001, 32) as usize;
        let mut headers = self.upstream_headers(name, u.headers.as_ref());
        // The URL's credentials are the operator's word to the upstream, as its `headers`
        // are (which come later, and win): a sender's own `Authorization` (another scheme's
        // proof, its own credential) must neither replace them nor reach the upstream.
        if let Some(basic) = url.as_ref().and_then(url_credentials) {
            headers.insert(0, (http::header::AUTHORIZATION, basic));
        }
        let resign = u.sign.as_ref().and_then(|s| self.resign(name, s));
        let h2c = self.protocol(name, u.protocol.as_ref(), url.as_ref());
        Some(Upstream {
            name: name.to_string(),
            url: url?,
            timeout,
            max_attempts,
            max_age,
            backoff: Backoff { initial, max },
            concurrency,
            headers,
            resign,
            h2c,
        })
    }

    /// `protocol = "h2c"`: HTTP/2 over plain TCP without an upgrade (the upstream must speak
    /// it). An https upstream negotiates HTTP/2 by ALPN on its own.
    fn protocol(&mut self, name: &str, p: Option<&Text>, url: Option<&reqwest::Url>) -> bool {
        let Some(p) = p else { return false };
        match p.get_ref().as_str() {
            "http1" => false,
            "h2c" if url.is_some_and(|u| u.scheme() == "https") => {
                self.error(p.span(), format!("upstreams.{name}.protocol: \"h2c\" is HTTP/2 without TLS, for an http:// URL (an https upstream negotiates HTTP/2 by ALPN)"));
                false
            }
            "h2c" => true,
            other => {
                self.error(p.span(), format!("upstreams.{name}.protocol: {other:?} is not supported (expected \"http1\" or \"h2c\")"));
                false
            }
        }
    }

    /// Header values may embed secrets: `"Bearer {env:LIDO_TOKEN}"`.
    fn upstream_headers(
        &mut self,
        name: &str,
        map: Option<&BTreeMap<Spanned<String>, Text>>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        for (k, v) in map.into_iter().flatten() {
            let what = format!("upstreams.{name}.headers.{}", k.get_ref());
            let Some(hn) = self.header_name(k, &format!("upstreams.{name}.headers")) else {
                continue;
            };
            let Some(value) = self.header_value(v, &what) else {
                continue;
            };
            match HeaderValue::from_bytes(&value) {
                Ok(mut hv) => {
                    // Marked so no debug output of a request shows it.
                    hv.set_sensitive(true);
                    out.push((hn, hv));
                }
                Err(_) => self.error(v.span(), format!("{what}: not a valid header value")),
            }
        }
        out
    }

    /// A whole value that is a reference (`"env:NAME"`, as every other secret is written) is
    /// the secret; otherwise `{env:NAME}` inside it is expanded. A whole value mistyped as a
    /// reference (`"ENV:K"`, `"$K"`) is refused, as a secret's would be.
    fn header_value(&mut self, v: &Text, what: &str) -> Option<Vec<u8>> {
        let text = v.get_ref();
        if text.starts_with("env:")
            || text.starts_with("file:")
            || (mistyped_reference(text) && !text.trim_start().starts_with('{'))
        {
            return self.secret(v, what).map(|s| s.expose().to_vec());
        }
        self.expand_secrets(v, what).map(String::into_bytes)
    }

    /// Replaces `{env:NAME}` and `{file:PATH}` in `text` with the secrets they name; refuses
    /// what looks like a mistyped one (sent as written, every delivery would be refused).
    fn expand_secrets(&mut self, text: &Text, what: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = text.get_ref().as_str();
        while let Some((before, after)) = rest.split_once('{') {
            let Some((reference, tail)) = after.split_once('}') else {
                // `{env:NAME` without its `}` would be sent as written: every delivery refused.
                if looks_like_reference(after) {
                    self.error(text.span(), format!("{what}: a secret reference without its closing `}}` (`{{env:NAME}}` or `{{file:PATH}}`)"));
                    return None;
                }
                break;
            };
            out.push_str(before);
            if looks_like_reference(reference)
                && !(reference.starts_with("env:") || reference.starts_with("file:"))
            {
                // `{ENV:T}`, `{ env:T }`: a typo, not text meant for the upstream.
                self.error(text.span(), format!("{what}: `{{...}}` that looks like a secret reference but is not one: write `{{env:NAME}}` or `{{file:PATH}}` (lowercase, no spaces)"));
                return None;
            }
            if reference.starts_with("env:") || reference.starts_with("file:") {
                let secret =
                    self.secret(&Spanned::new(text.span(), reference.to_string()), what)?;
                out.push_str(&secret.expose_str());
            } else {
                out.push('{');
                out.push_str(reference);
                out.push('}');
            }
            rest = tail;
        }
        out.push_str(rest);
        Some(out)
    }

    fn resign(&mut self, name: &str, s: &Spanned<SignFile>) -> Option<Resign> {
        let f = s.get_ref();
        if f.scheme.get_ref() != "standard-webhooks" {
            self.error(f.scheme.span(), format!("upstreams.{name}.sign.scheme: {:?} is not supported (expected \"standard-webhooks\")", f.scheme.get_ref()));
            return None;
        }
        let secret = self.secret(&f.secret, &format!("upstreams.{name}.sign.secret"))?;
        let key = KeyFormat::WhsecBase64
            .key(secret.expose())
            .and_then(|k| Key::new(Algorithm::Sha256, &k).ok_or("unusable key"))
            .map_err(|e| format!("upstreams.{name}.sign.secret: {e}"));
        self.check(f.secret.span(), key)
            .map(|key| Resign::StandardWebhooks { key })
    }
}
