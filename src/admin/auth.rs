//! Who may use the admin API. `/healthz`, `/readyz` and `/metrics` are open: kubelet probes and
//! Prometheus cannot send a token, and they neither read events nor change anything. So is the
//! console's static shell (`/`, `/console/*`): the same bytes for everyone, no data in it; the
//! page fetches everything through the API below. Everything else needs
//! `Authorization: Bearer <server.admin_token>` when a token is set (compared in constant time,
//! through SHA-256 digests). Without a token the listener is loopback-only (a config rule).
//!
//! Browsers: a page the operator visits could POST to `127.0.0.1:9180` (no preflight for a
//! simple POST) or read it through DNS rebinding. A request with an `Origin` is answered only
//! when that origin is the admin listener itself (the console: its POSTs carry `Origin`), never
//! another site, `null` or another port; and without a token only under a loopback `Host`, so a
//! rebound name (whose origin would match its own `Host`) is still refused.

use http::{HeaderMap, StatusCode};

use crate::verify::{self, TokenVerifier};

/// Paths reachable without the token.
pub fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || super::console::is_asset(path)
}

pub struct Denied {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: &'static str,
}

pub fn check(headers: &HeaderMap, token: Option<&TokenVerifier>) -> Result<(), Denied> {
    // Browsers send Origin with every cross-origin request and every POST; the CLI, curl and
    // scripts do not. The only browser page the admin API answers is its own console.
    if let Some(origin) = headers.get(http::header::ORIGIN)
        && !same_origin(origin.as_bytes(), headers.get(http::header::HOST))
    {
        return Err(Denied {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            detail: "the admin API answers browsers only from its own console (Origin is another site)",
        });
    }
    let Some(token) = token else {
        // Loopback without a token: only an address as Host, or localhost. A DNS-rebinding
        // page reaches 127.0.0.1 under its own host name.
        if headers
            .get(http::header::HOST)
            .is_some_and(|h| !local_host(h.as_bytes()))
        {
            return Err(Denied {
                status: StatusCode::FORBIDDEN,
                code: "forbidden",
                detail: "the admin API without a token answers only Host: 127.0.0.1, [::1] or localhost",
            });
        }
        return Ok(());
    };
    let presented = verify::Request {
        headers,
        body: b"",
        now: std::time::SystemTime::now(),
        rest: "",
    };
    token.verify(&presented).map_err(|_| Denied {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        detail: "admin token required (Authorization: Bearer ...)",
    })
}

/// `Origin` names the very host and port the request was sent to (`http` or `https`: a
/// TLS-terminating proxy in front changes the scheme, not the authority).
fn same_origin(origin: &[u8], host: Option<&http::HeaderValue>) -> bool {
    let Some(host) = host.map(http::HeaderValue::as_bytes) else {
        return false;
    };
    let authority = origin
        .strip_prefix(b"http://")
        .or_else(|| origin.strip_prefix(b"https://"));
    !host.is_empty() && authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// `127.0.0.1[:port]`, `[::1][:port]`, `localhost[:port]` (any IP literal passes: the
/// listener itself is loopback).
fn local_host(h: &[u8]) -> bool {
    let Ok(h) = std::str::from_utf8(h) else {
        return false;
    };
    let host = match h.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || port.starts_with(':') => {
                return v6.parse::<std::net::Ipv6Addr>().is_ok();
            }
            _ => return false,
        },
        None => h.rsplit_once(':').map_or(h, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for ok in [
            "127.0.0.1:9180",
            "127.0.0.1",
            "[::1]:9180",
            "[::1]",
            "localhost:1",
            "LOCALHOST",
        ] {
            assert!(local_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "evil.example:9180",
            "evil.example",
            "[::1",
            "127.0.0.1.nip.io:9180",
            "",
        ] {
            assert!(!local_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn same_origins() {
        let host = http::HeaderValue::from_static("127.0.0.1:9180");
        for ok in ["http://127.0.0.1:9180", "https://127.0.0.1:9180"] {
            assert!(same_origin(ok.as_bytes(), Some(&host)), "{ok}");
        }
        for bad in [
            "null",
            "http://127.0.0.1:9181",
            "http://127.0.0.1",
            "http://127.0.0.1:9180/",
            "http://127.0.0.1:9180.evil.example",
            "http://evil.example",
            "127.0.0.1:9180",
            "file://127.0.0.1:9180",
            "",
        ] {
            assert!(!same_origin(bad.as_bytes(), Some(&host)), "{bad}");
        }
        assert!(!same_origin(b"http://127.0.0.1:9180", None));
        let empty = http::HeaderValue::from_static("");
        assert!(!same_origin(b"http://", Some(&empty)));
    }
}
