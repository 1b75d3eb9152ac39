//! `hookgate check --explain CAPTURE`: why a captured request is (or is not) accepted by its
//! route's verification. The capture is the raw HTTP request: request line, headers, a blank
//! line, the body exactly as received.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::Config;
use crate::verify::{Request, VerifyError};

pub struct Capture {
    pub method: String,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Parses a raw HTTP/1.1 request (CRLF or LF line ends in the head; the body as is).
pub fn parse_capture(raw: &[u8]) -> Result<Capture, String> {
    let (head, body) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match raw.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => (raw, &[][..]),
        },
    };
    let head = std::str::from_utf8(head).map_err(|_| "the request head is not text")?;
    let mut lines = head.lines();
    let line = lines.next().ok_or("empty capture")?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(format!("not a request line: {line:?}"));
    };
    let mut headers = HeaderMap::new();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            return Err(format!("not a header line: {l:?}"));
        };
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| format!("bad header name {k:?}"))?;
        let value =
            HeaderValue::from_str(v.trim()).map_err(|_| format!("bad value of header {k}"))?;
        headers.append(name, value);
    }
    // A chunked capture is the stream as sent; what was signed is the decoded body.
    Ok(Capture {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: body.to_vec(),
    })
}

/// Explains the verdict; returns the report and whether the request verifies.
pub fn explain(
    cfg: &Config,
    capture: &Capture,
    route: Option<&str>,
    at: Option<u64>,
) -> Result<(String, bool), String> {
    let (route, rest) = match route {
        Some(name) => {
            let r = cfg
                .routes
                .get(name)
                .ok_or_else(|| format!("no route {name:?} in the config"))?;
            let rest = crate::routing::rest_below(&r.path, &capture.target).unwrap_or("");
            (r, rest.to_string())
        }
        None => {
            let m = cfg
                .routes
                .find(&capture.target)
                .ok_or_else(|| format!("no route for {:?}", capture.target))?;
            (m.route, m.rest.to_string())
        }
    };
    let now = at.map_or_else(SystemTime::now, |t| UNIX_EPOCH + Duration::from_secs(t));
    let mut out = vec![
        format!("route:        {} ({})", route.name, route.path),
        format!(
            "verification: {}{}",
            route.verifier.label,
            if route.verifier.enforce {
                ""
            } else {
                " (not enforced: shadow mode)"
            }
        ),
        format!(
            "request:      {} {} — {} bytes of body",
            capture.method,
            capture.target,
            capture.body.len()
        ),
        format!(
            "headers:      {}",
            capture
                .headers
                .keys()
                .map(HeaderName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "judged at:    {}",
            now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
        ),
    ];
    let verdict = |body: &[u8]| {
        route.verifier.verify(&Request {
            headers: &capture.headers,
            body,
            now,
            rest: &rest,
        })
    };
    let result = verdict(&capture.body);
    match &result {
        Ok(v) => out.push(format!(
            "verdict:      verified{}",
            v.key
                .map(|k| format!(" (secret #{})", k + 1))
                .unwrap_or_default()
        )),
        Err(e) => {
            out.push(format!("verdict:      refused (401): {e}"));
            out.push(format!("hint:         {}", hint(e)));
            if *e == VerifyError::NoMatch {
                for (what, variant) in body_variants(&capture.body) {
                    if verdict(&variant).is_ok() {
                        out.push(format!("found:        it verifies {what}: the body was changed in transit or in the capture"));
                    }
                }
            }
        }
    }
    Ok((out.join("\n"), result.is_ok()))
}

fn hint(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::MissingHeader(_) => {
            "the sender did not send the signature header: is the route's provider (or header) the right one?"
        }
        VerifyError::Malformed { .. } => {
            "the header is there but not in the expected format (prefix, encoding, letter case)"
        }
        VerifyError::StaleTimestamp => {
            "the timestamp is outside the replay window; judge a capture at the time it was taken with --at"
        }
        VerifyError::NoMatch => {
            "no configured secret produced this signature: check the secret, and that the body is byte for byte what was sent (signatures cover the raw bytes)"
        }
        VerifyError::BadCredentials => "the token does not match any configured secret",
        VerifyError::Refused(_) => "the provider's own library refuses this request too",
        VerifyError::Replayed => "the signature was already used for another request",
    }
}

/// Common ways a body gets altered between sender and capture.
fn body_variants(body: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    if let Some(trimmed) = body.strip_suffix(b"\n") {
        v.push(("without the trailing newline", trimmed.to_vec()));
    } else {
        v.push(("with a trailing newline", [body, b"\n"].concat()));
    }
    if body.windows(2).any(|w| w == b"\r\n") {
        v.push((
            "with LF line ends instead of CRLF",
            String::from_utf8_lossy(body)
                .replace("\r\n", "\n")
                .into_bytes(),
        ));
    }
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Ok(compact) = serde_json::to_vec(&doc) {
            v.push(("as compact JSON", compact));
        }
        if let Ok(pretty) = serde_json::to_vec_pretty(&doc) {
            v.push(("as indented JSON", pretty));
        }
    }
    v
}

pub fn run(
    config: &Path,
    capture: &Path,
    route: Option<&str>,
    at: Option<u64>,
) -> Result<(String, bool), String> {
    let cfg = crate::config::load(config).map_err(|e| e.to_string())?;
    let raw = std::fs::read(capture).map_err(|e| format!("{}: {e}", capture.display()))?;
    explain(&cfg, &parse_capture(&raw)?, route, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_parse() {
        let c = parse_capture(
            b"POST /hooks/x?y=1 HTTP/1.1\r\nHost: a\r\nX-Sig: abc\r\n\r\n{\"a\":1}\n",
        )
        .unwrap();
        assert_eq!(
            (c.method.as_str(), c.target.as_str()),
            ("POST", "/hooks/x?y=1")
        );
        assert_eq!(c.headers["x-sig"], "abc");
        assert_eq!(c.body, b"{\"a\":1}\n");
        let c = parse_capture(b"POST / HTTP/1.1\nA: b\n\nbody").unwrap();
        assert_eq!(c.body, b"body");
        assert!(parse_capture(b"garbage").is_err());
    }
}
