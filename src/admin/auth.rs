//! Who may use the admin API. `/healthz`, `/readyz` and `/metrics` are open: kubelet probes and
//! Prometheus cannot send a token, and they neither read events nor change anything. Everything
//! else needs `Authorization: Bearer <server.admin_token>` when a token is set (compared in
//! constant time, through SHA-256 digests). Without a token the listener is loopback-only (a
//! config rule), and then browsers are kept out: a page the operator visits could otherwise
//! POST to `127.0.0.1:9180` (no preflight for a simple POST) or read it through DNS rebinding.

use http::{HeaderMap, StatusCode};

use crate::verify::{self, TokenVerifier};

/// Paths reachable without the token.
pub fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub struct Denied {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: &'static str,
}

pub fn check(headers: &HeaderMap, token: Option<&TokenVerifier>) -> Result<(), Denied> {
    // Browsers send Origin with every cross-origin request and every POST; the CLI, curl and
    // scripts do not. The admin API has no use for a browser.
    if headers.contains_key(http::header::ORIGIN) {
        return Err(Denied {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            detail: "the admin API does not answer browsers (Origin header present)",
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
}
