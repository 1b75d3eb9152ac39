//! Headers that claim who the client is, how it connected, or how the request should be read
//! (address, host, scheme, port, prefix, original URL, client certificate, method override).
//! An upstream behind hookgate trusts hookgate for these, so a sender's own are never
//! forwarded: hookgate drops them at intake and again on delivery (events stored by earlier
//! versions still carry them), and sets the ones it knows itself. Nor is any header whose name
//! has `_`, which a CGI-style server takes for the same name with `-`.

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use rustc_hash::FxHashSet;

/// Stored with an event at intake: the scheme of the listener it arrived on. Names under
/// `x-hookgate-` are never taken from a sender, so its presence is hookgate's word.
pub const LISTENER_PROTO: &str = "x-hookgate-listener-proto";

const EXACT: &[&str] = &[
    "forwarded",
    "x-forwarded",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-proxyuser-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "cf-ipcountry",
    "cf-visitor",
    "fastly-client-ip",
    "fastly-ssl",
    "x-host",
    "x-http-host-override",
    "x-original-host",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-scheme",
    "x-url-scheme",
    "front-end-https",
    "x-arr-ssl",
    "x-client-cert",
    "x-client-verify",
    "ssl-client-cert",
    "x-ssl-client-cert",
    "x-ssl-client-verify",
    "x-ssl-client-dn",
    "x-ssl-client-s-dn",
    "x-remote-user",
    "remote-user",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Whole families: `X-Forwarded-For/Host/Proto/Port/Prefix/Server/Ssl/Client-Cert/User…`,
/// Envoy's internal control headers, App Engine's and oauth2-proxy's identity headers.
const PREFIXES: &[&str] = &[
    "x-forwarded-",
    "x-envoy-",
    "x-appengine-",
    "x-auth-request-",
    "x-amzn-mtls-",
];

/// `name` in lowercase (as `HeaderName::as_str` gives it).
pub fn is_identity(name: &str) -> bool {
    // Asked for every header of every delivery: a set, not a look along the list.
    static EXACT_SET: LazyLock<FxHashSet<&'static str>> =
        LazyLock::new(|| EXACT.iter().copied().collect());
    EXACT_SET.contains(name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A sender's header that is never forwarded whatever its name says: one with `_`. CGI, WSGI
/// and Rack-style servers read `X_Forwarded_For` as `X-Forwarded-For` (both are
/// `HTTP_X_FORWARDED_FOR`), so it could pass for any header hookgate sets or drops — identity,
/// `X-Hookgate-*`, hop-by-hop, the route's credential, the upstream's own `headers`, the
/// re-signing headers — whichever of the two the server happens to keep. All of them, rather
/// than those whose dash form is on a list, as nginx and Apache drop them by default: the list
/// would have to follow every name hookgate may set (an upstream's `headers` change on reload).
pub fn is_underscored(name: &str) -> bool {
    name.contains('_')
}

// Made at compile time: `from_static` at run time checks each name's bytes per delivery.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Sets what hookgate knows about the client on a delivery: its resolved address and the
/// scheme it used (when the event recorded it).
pub fn set_known(h: &mut HeaderMap, client_ip: &str, proto: Option<&str>) {
    if let Ok(v) = HeaderValue::from_str(client_ip) {
        h.insert(X_FORWARDED_FOR, v.clone());
        h.insert(X_REAL_IP, v);
    }
    if let Some(p @ ("http" | "https")) = proto {
        h.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(if p == "https" { "https" } else { "http" }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscored_names() {
        for n in ["x_forwarded_for", "x_hookgate_spilled", "some_header", "_"] {
            assert!(is_underscored(n), "{n}");
        }
        for n in ["x-forwarded-for", "content-type", "x-hookgate-event-id"] {
            assert!(!is_underscored(n), "{n}");
        }
    }

    #[test]
    fn identity_headers() {
        for n in [
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-real-ip",
            "true-client-ip",
            "forwarded",
            "cf-connecting-ip",
            "x-original-url",
            "x-envoy-original-path",
            "x-http-method-override",
        ] {
            assert!(is_identity(n), "{n}");
        }
        for n in [
            "content-type",
            "x-webhook-signature",
            "user-agent",
            "x-hookgate-original-content-type",
        ] {
            assert!(!is_identity(n), "{n}");
        }
    }
}
