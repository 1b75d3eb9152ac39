//! `server.max_header_bytes` (with a per-route override) and `server.max_header_count`: the
//! most request-head bytes (the request target plus every header field) and header fields
//! hookgate accepts, stores and forwards. More is answered 431 at intake: an event the upstream
//! would refuse for its headers must never be acknowledged.

use super::units::parse_size;

/// Above common upstream defaults (Node.js 16 KiB) would make a 2xx promise hookgate cannot
/// keep behind them; 32 KiB is far above what webhook senders send.
pub const DEFAULT: usize = 32 << 10;
const FLOOR: u64 = 1 << 10;
/// pingora refuses request heads of 1 MiB and more before hookgate sees them.
const CEILING: u64 = 1 << 20;

/// `server.max_header_count`: hyper and Tomcat refuse requests with more than 100 header
/// fields; hookgate adds up to ~8 of its own plus the upstream's `headers`.
pub const DEFAULT_COUNT: i64 = 64;
/// pingora refuses more than 256 before hookgate sees them.
pub const COUNT_RANGE: std::ops::Range<i64> = 8..257;

/// Bytes of a request head beyond `max_header_bytes` that the bound does not measure (request
/// line's method and version, line ends): the connection gate allows for them.
const HEAD_SLACK: usize = 8 << 10;

/// The most request-head bytes a connection may send before it is answered 431 without being
/// read further, when the largest header bound of any route is `largest`.
pub fn gate_bound(largest: usize) -> usize {
    (largest + HEAD_SLACK).min(CEILING as usize)
}

/// Parses and bounds a `max_header_bytes` value; the error names `key`.
pub fn parse(key: &str, text: &str) -> Result<usize, String> {
    match parse_size(text) {
        Ok(n) if n < FLOOR => Err(format!("{key} must be at least 1KiB, got {n} bytes")),
        Ok(n) if n > CEILING => Err(format!(
            "{key} must be at most 1MiB (the HTTP server's own limit), got {n} bytes"
        )),
        Ok(n) => Ok(n as usize),
        Err(e) => Err(format!("{key}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{LoadError, parse as load};

    const BASE: &str = "[server]\nlisten = \"127.0.0.1:8080\"\nSERVER\n\n[upstreams.u]\nurl = \"http://127.0.0.1:3000/\"\n\n[routes.r]\npath = \"/r\"\nupstream = \"u\"\nverify = { scheme = \"hmac\", header = \"X-Sig\", secrets = [\"lit\"] }\nROUTE\n";

    fn text(server: &str, route: &str) -> String {
        BASE.replace("SERVER", server).replace("ROUTE", route)
    }

    fn errors(t: &str) -> Vec<String> {
        match load(Path::new("t.toml"), t) {
            Ok(_) => vec![],
            Err(LoadError::Invalid(e)) => e.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let c = load(Path::new("t.toml"), &text("", "")).unwrap();
        assert_eq!(c.server.max_header_bytes, DEFAULT);
        assert_eq!(c.routes.get("r").unwrap().max_header_bytes, DEFAULT);
        let c = load(
            Path::new("t.toml"),
            &text("max_header_bytes = \"8KiB\"", "max_header_bytes = 65536"),
        )
        .unwrap();
        assert_eq!(c.server.max_header_bytes, 8 << 10);
        assert_eq!(c.routes.get("r").unwrap().max_header_bytes, 64 << 10);
        let c = load(
            Path::new("t.toml"),
            &text("max_header_bytes = \"8KiB\"", ""),
        )
        .unwrap();
        assert_eq!(c.routes.get("r").unwrap().max_header_bytes, 8 << 10);
        assert_eq!(c.server.max_header_count, DEFAULT_COUNT as usize);
        let c = load(Path::new("t.toml"), &text("max_header_count = 100", "")).unwrap();
        assert_eq!(c.server.max_header_count, 100);
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let e = errors(&text("max_header_bytes = \"lots\"", ""));
        assert!(
            e.len() == 1 && e[0].starts_with("t.toml:3:20: server.max_header_bytes"),
            "{e:?}"
        );
        let e = errors(&text("max_header_bytes = 100", ""));
        assert!(e[0].contains("at least 1KiB"), "{e:?}");
        let e = errors(&text("", "max_header_bytes = \"2MiB\""));
        assert!(
            e.len() == 1
                && e[0].starts_with("t.toml:12:20: routes.r.max_header_bytes must be at most 1MiB"),
            "{e:?}"
        );
        let e = errors(&text("max_header_bytes = -1", ""));
        assert!(e[0].contains("server.max_header_bytes"), "{e:?}");
        let e = errors(&text("max_header_count = 1000", ""));
        assert!(
            e.len() == 1
                && e[0]
                    .starts_with("t.toml:3:20: server.max_header_count must be between 8 and 256"),
            "{e:?}"
        );
    }
}
