//! The URL of a delivery: the upstream's configured URL with the request's sub-path and query,
//! built structurally (path and query set on a copy of the configured URL) and checked to still
//! point at that upstream, below its base path. Nothing a sender writes can pick the host.
//! `target` builds the request's URI from it too: intake (before its 2xx) and every delivery
//! attempt build it the same way, so an event intake took is one a request can be made of.

use http::Uri;
use reqwest::Url;

use crate::routing::path::{self, PathError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the forwarded path is refused: {0}")]
    Path(#[from] PathError),
    #[error("the joined URL leaves the upstream ({0})")]
    Escapes(&'static str),
    /// Joined, but no HTTP request can carry it (over 65,534 bytes once percent-encoded, say).
    #[error("the URL to deliver to is not a request target an HTTP client can send ({0})")]
    Uri(String),
}

/// Where a delivery goes: the joined URL, and the request's URI made of it (absolute form,
/// as reqwest makes it; the HTTP/1.1 client sends its path and query).
#[derive(Debug)]
pub struct Target {
    pub url: Url,
    pub uri: Uri,
}

/// `join(base, rest)` and the request URI of the result: what every attempt sends, and what
/// intake builds before it answers `2xx`.
pub fn target(base: &Url, rest: &str) -> Result<Target, JoinError> {
    let url = join(base, rest)?;
    let uri = url
        .as_str()
        .parse::<Uri>()
        .map_err(|e| JoinError::Uri(e.to_string()))?;
    Ok(Target { url, uri })
}

/// `base` + `rest`, where `rest` is what follows the route's path in the request: empty, or a
/// sub-path starting with `/`, and/or `?query`. A `rest` without its leading `/` (stored by
/// earlier versions under a route on `/`) is read as if it had one.
pub fn join(base: &Url, rest: &str) -> Result<Url, JoinError> {
    if rest.is_empty() {
        return Ok(base.clone());
    }
    let (sub, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let mut url = base.clone();
    if !sub.is_empty() {
        let sub = if sub.starts_with('/') {
            sub.to_string()
        } else {
            format!("/{sub}")
        };
        path::check(&sub)?;
        let joined = format!("{}{sub}", base.path().trim_end_matches('/'));
        url.set_path(&joined);
    }
    url.set_query(query);
    url.set_fragment(None);
    same_upstream(base, &url)?;
    Ok(url)
}

/// The joined URL's scheme, credentials, host and port are the base's, and its path is the
/// base's path or below it.
fn same_upstream(base: &Url, url: &Url) -> Result<(), JoinError> {
    if url.scheme() != base.scheme() {
        return Err(JoinError::Escapes("scheme"));
    }
    if url.host() != base.host() || url.port_or_known_default() != base.port_or_known_default() {
        return Err(JoinError::Escapes("host or port"));
    }
    if url.username() != base.username() || url.password() != base.password() {
        return Err(JoinError::Escapes("credentials"));
    }
    if !below(base.path(), url.path()) {
        return Err(JoinError::Escapes("base path"));
    }
    Ok(())
}

/// `path` is `base` or a path below it (on a segment boundary).
pub fn below(base: &str, path: &str) -> bool {
    if path == base {
        return true;
    }
    let prefix = base.trim_end_matches('/');
    path.strip_prefix(prefix)
        .is_some_and(|tail| tail.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn j(base: &str, rest: &str) -> Result<String, JoinError> {
        join(&u(base), rest).map(String::from)
    }

    #[test]
    fn joins() {
        for (base, rest, want) in [
            ("http://h:1/webhooks", "", "http://h:1/webhooks"),
            (
                "http://h:1/webhooks",
                "/sms?x=1",
                "http://h:1/webhooks/sms?x=1",
            ),
            ("http://h:1/webhooks", "?x=1", "http://h:1/webhooks?x=1"),
            ("http://h:1/webhooks/", "/a", "http://h:1/webhooks/a"),
            ("http://h/", "/a", "http://h/a"),
            ("http://h", "/", "http://h/"),
            ("https://h/in", "/", "https://h/in/"),
            // What a sender writes after a route on "/" stays a path.
            (
                "http://h:1/",
                "/@127.0.0.1:2/x",
                "http://h:1/@127.0.0.1:2/x",
            ),
            ("http://h:1/", "normal/path", "http://h:1/normal/path"),
            ("http://h:1/", "@127.0.0.1:2/x", "http://h:1/@127.0.0.1:2/x"),
            ("http://u:p@h:1/b", "/x", "http://u:p@h:1/b/x"),
            // A query cannot carry a fragment or a path.
            (
                "http://h/b",
                "/x?a=1#/../../y",
                "http://h/b/x?a=1%23/../../y",
            ),
        ] {
            assert_eq!(j(base, rest).unwrap(), want, "{base} + {rest}");
        }
    }

    #[test]
    fn refuses_escapes() {
        for rest in [
            "/../admin",
            "/..\\..\\admin",
            "/%2e%2e/admin",
            "/a%2f..%2f..%2fadmin",
            "//evil/x",
            "/..;/admin",
            "\\\\evil\\x",
        ] {
            assert!(j("http://h:1/hooks/x", rest).is_err(), "{rest:?}");
        }
    }

    #[test]
    fn a_target_percent_encoding_makes_too_long_is_refused() {
        let base = u("http://h:1/in");
        // 22,000 bytes as sent, 66,000 once `'` is percent-encoded: no request can carry it.
        let rest = format!("?q={}", "'".repeat(22_000));
        assert!(matches!(target(&base, &rest), Err(JoinError::Uri(_))));
        let ok = target(&base, "/a?q=%27'").unwrap();
        assert_eq!(ok.uri.to_string(), "http://h:1/in/a?q=%27%27");
        assert_eq!(ok.url.as_str(), ok.uri.to_string());
    }

    #[test]
    fn below_is_on_a_boundary() {
        assert!(below("/webhooks", "/webhooks"));
        assert!(below("/webhooks", "/webhooks/a"));
        assert!(below("/webhooks/", "/webhooks/a"));
        assert!(below("/", "/a"));
        assert!(!below("/webhooks", "/webhooksx"));
        assert!(!below("/webhooks", "/admin"));
    }
}
