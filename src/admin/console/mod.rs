//! The operator's console: one static page and its script, embedded in the binary (no CDN, no
//! build step). The shell is the same for everyone and holds no data, so it is served without
//! the token; the script then reads everything through the admin API with
//! `Authorization: Bearer`, the token kept in the page's memory only (no cookie: no CSRF).
//!
//! Sender-controlled values (IDs, headers, bodies) are only ever set as text by the script; the
//! policy below is the second wall: no inline script, no foreign origin, no framing, and
//! Trusted Types make every HTML-parsing DOM sink throw.

use http::{HeaderValue, Response, StatusCode};

const INDEX: &[u8] = include_bytes!("index.html");
const SCRIPT: &[u8] = include_bytes!("app.js");
const STYLE: &[u8] = include_bytes!("app.css");
const ICON: &[u8] = include_bytes!("icon.svg");

/// Everything the page may load comes from this listener; nothing else runs.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types 'none'";

const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    // Small files; a new binary must never be answered by a stale script.
    ("cache-control", "no-store"),
];

fn asset(path: &str) -> Option<(&'static [u8], &'static str)> {
    Some(match path {
        "/" => (INDEX, "text/html; charset=utf-8"),
        "/console/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/console/app.css" => (STYLE, "text/css; charset=utf-8"),
        "/console/icon.svg" => (ICON, "image/svg+xml"),
        _ => return None,
    })
}

/// A path of the console's static shell (served without the token).
pub fn is_asset(path: &str) -> bool {
    asset(path).is_some()
}

/// The asset at `path` with the security headers, or a 404.
pub fn serve(path: &str) -> Response<Vec<u8>> {
    let Some((body, content_type)) = asset(path) else {
        return super::error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no console asset {path}"),
        );
    };
    let mut r = super::reply(StatusCode::OK, content_type, body.to_vec());
    let h = r.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_the_policy() {
        for p in [
            "/",
            "/console/app.js",
            "/console/app.css",
            "/console/icon.svg",
        ] {
            let r = serve(p);
            assert_eq!(r.status(), StatusCode::OK, "{p}");
            assert_eq!(r.headers()["content-security-policy"], CSP, "{p}");
            assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{p}");
        }
        assert_eq!(serve("/console/../auth.rs").status(), StatusCode::NOT_FOUND);
        assert!(!is_asset("/console/"));
    }

    /// The script never hands a string to an HTML parser: every sender value goes in as text.
    #[test]
    fn the_script_has_no_html_sink() {
        let js = std::str::from_utf8(SCRIPT).unwrap_or_default();
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setAttribute('on",
            "href",
            "localStorage",
            "document.cookie",
        ] {
            assert!(!js.contains(sink), "app.js uses {sink}");
        }
        let html = std::str::from_utf8(INDEX).unwrap_or_default();
        assert!(!html.contains("<script>"), "no inline script");
        // No inline handler attribute (` onclick=` and the like).
        let handler = html.split(" on").skip(1).any(|rest| {
            let after = rest.trim_start_matches(|c: char| c.is_ascii_lowercase());
            after.len() < rest.len() && after.starts_with('=')
        });
        assert!(!handler, "no inline event handler");
    }
}
