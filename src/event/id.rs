//! Where an event's identity comes from: a JSON pointer into the verified body, a header, or the
//! SHA-256 of the body.

use http::{HeaderMap, HeaderName};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Longer provider IDs are replaced by their hash so keys stay small.
const MAX_ID_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSource {
    Json(String),
    Header(HeaderName),
    BodyHash,
    /// The first present of the headers a signature takes its ID from, in the order the check
    /// looks (Svix: `svix-id`, else `webhook-id`), so that the ID is the one it signed. Made
    /// at load from a `header:` source naming one of them; never written.
    SignedHeader(Vec<HeaderName>),
    /// Several values joined: for senders without an event ID (Lindo:
    /// `["json:/event", "json:/data/website_id", "json:/timestamp"]`).
    Composite(Vec<IdSource>),
}

impl IdSource {
    /// `json:/pointer`, `header:Name`, or `sha256` (the default when nothing is set).
    pub fn parse(text: &str) -> Result<IdSource, String> {
        if let Some(ptr) = text.strip_prefix("json:") {
            if !(ptr.is_empty() || ptr.starts_with('/')) {
                return Err(format!(
                    "event_id {text:?}: a JSON pointer starts with '/', e.g. \"json:/id\""
                ));
            }
            return Ok(IdSource::Json(ptr.to_string()));
        }
        if let Some(h) = text.strip_prefix("header:") {
            return HeaderName::from_bytes(h.trim().as_bytes())
                .map(IdSource::Header)
                .map_err(|_| format!("event_id {text:?}: {h:?} is not a valid header name"));
        }
        if text == "sha256" {
            return Ok(IdSource::BodyHash);
        }
        Err(format!(
            "event_id {text:?}: expected \"json:/pointer\", \"header:Name\" or \"sha256\""
        ))
    }

    /// One source, or a composite of several (`json:` and `header:` parts only).
    pub fn parse_all(parts: &[String]) -> Result<IdSource, String> {
        match parts {
            [] => Err("event_id lists no source".into()),
            [one] => IdSource::parse(one),
            many => many
                .iter()
                .map(|p| match IdSource::parse(p)? {
                    IdSource::BodyHash => {
                        Err("a composite event_id takes \"json:\" and \"header:\" parts"
                            .to_string())
                    }
                    part => Ok(part),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(IdSource::Composite),
        }
    }

    pub fn header(&self) -> Option<&HeaderName> {
        match self {
            IdSource::Header(h) => Some(h),
            IdSource::SignedHeader(hs) => hs.first(),
            _ => None,
        }
    }
}

/// As written in the config (`json:/id`, `header:Name`, `sha256`; a composite as a list).
impl std::fmt::Display for IdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdSource::Json(p) => write!(f, "json:{p}"),
            IdSource::Header(h) => write!(f, "header:{h}"),
            // The headers the check signs its ID from, in its order.
            IdSource::SignedHeader(hs) => {
                let hs: Vec<&str> = hs.iter().map(HeaderName::as_str).collect();
                write!(f, "header:{}", hs.join("|"))
            }
            IdSource::BodyHash => f.write_str("sha256"),
            IdSource::Composite(parts) => {
                let parts: Vec<String> = parts.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

/// The event ID, and whether it had to fall back to the body hash because the configured
/// source was absent.
pub struct Extracted {
    pub id: String,
    pub fell_back: bool,
}

/// A request's headers and body, as the sources read them. Each JSON source reads the body in
/// one pass that builds nothing but the value it names (`pointer`): cheaper than building the
/// document's tree once and sharing it (measured in `cargo bench --bench intake`).
pub struct Lookup<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
    /// What the body-hash ID hashes: the body, unless `hashing` says otherwise.
    hashed: &'a [u8],
    /// What identifies where the event is delivered (`delivered_to`), hashed with it.
    target: &'a str,
}

impl<'a> Lookup<'a> {
    pub fn new(headers: &'a HeaderMap, body: &'a [u8]) -> Lookup<'a> {
        Lookup {
            headers,
            body,
            hashed: body,
            target: "",
        }
    }

    /// What identifies the target the event is delivered to (its sub-path, and its query if
    /// the check covers it), hashed with the body: one body sent to two sub-paths of a route is
    /// two events, each delivered.
    pub fn delivered_to(mut self, target: &'a str) -> Lookup<'a> {
        self.target = target;
        self
    }

    /// Hash `bytes` for the body-hash ID (the raw body of a normalised event).
    pub fn hashing(mut self, bytes: &'a [u8]) -> Lookup<'a> {
        self.hashed = bytes;
        self
    }

    fn json(&self, ptr: &str) -> Option<String> {
        let raw = super::pointer::find(self.body, ptr)?;
        match raw.as_bytes().first()? {
            b'"' => serde_json::from_str::<String>(raw)
                .ok()
                .filter(|s| !s.is_empty()),
            // The number as written: parsed, 12345678901234567890123 and ...124 are one float.
            b'-' | b'0'..=b'9' => Some(raw.to_string()),
            _ => None,
        }
    }

    fn header(&self, h: &HeaderName) -> Option<String> {
        self.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }
}

/// The event ID as a header value: bytes outside visible ASCII (controls, space, non-ASCII)
/// and `%` itself are percent-encoded, so every ID makes a valid header that percent-decoding
/// turns back into the ID. IDs of visible ASCII without `%` are unchanged.
pub fn header_form(id: &str) -> std::borrow::Cow<'_, str> {
    const ENCODED: &AsciiSet = &CONTROLS.add(b' ').add(b'%');
    utf8_percent_encode(id, ENCODED).into()
}

/// The value `source` names in a request, if present (`None` for the body hash).
pub fn value(source: &IdSource, req: &Lookup<'_>) -> Option<String> {
    match source {
        IdSource::Json(ptr) => req.json(ptr),
        IdSource::Header(h) => req.header(h),
        // Present, as the check takes it, even if empty (then no ID: the body hash).
        IdSource::SignedHeader(hs) => hs
            .iter()
            .find(|h| req.headers.contains_key(*h))
            .and_then(|h| req.header(h)),
        IdSource::BodyHash => None,
        // Parts joined with a separator that does not occur in them unescaped.
        IdSource::Composite(parts) => parts
            .iter()
            .map(|p| value(p, req).map(|v| v.replace('\\', "\\\\").replace('|', "\\|")))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join("|")),
    }
}

pub fn extract(source: &IdSource, req: &Lookup<'_>) -> Extracted {
    match value(source, req) {
        Some(id) if id.len() <= MAX_ID_LEN => Extracted {
            id,
            fell_back: false,
        },
        Some(id) => Extracted {
            id: hashed(id.as_bytes()),
            fell_back: false,
        },
        None => Extracted {
            id: body_hash(req),
            fell_back: *source != IdSource::BodyHash,
        },
    }
}

/// The body-hash ID: of the hashed bytes alone without a target (as before targets counted,
/// so IDs already in a dedup window still match), else of their digest and the target (a
/// digest has one length: no body and target make the bytes of another pair).
fn body_hash(req: &Lookup<'_>) -> String {
    if req.target.is_empty() {
        return hashed(req.hashed);
    }
    let digest = Sha256::new()
        .chain_update(Sha256::digest(req.hashed))
        .chain_update(req.target.as_bytes())
        .finalize();
    format!("sha256:{}", hex::encode(digest))
}

/// A value used as a key (an order key), as long as an ID may be: a longer one is hashed, so
/// that a sender cannot make key names (Redis keys, index entries) as large as a body.
pub fn bounded(value: String) -> String {
    if value.len() <= MAX_ID_LEN {
        value
    } else {
        hashed(value.as_bytes())
    }
}

/// `sha256:<hex>`: the ID of a body without one, or of a value too long to be an ID.
pub fn hashed(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An order key as long as an ID may be is kept; a longer one is its hash (a sender's
    /// 1 MiB key would otherwise name Redis keys and index entries).
    #[test]
    fn order_keys_are_bounded_like_ids() {
        let short = "k".repeat(MAX_ID_LEN);
        assert_eq!(bounded(short.clone()), short);
        let long = "k".repeat(MAX_ID_LEN + 1);
        assert_eq!(bounded(long.clone()), hashed(long.as_bytes()));
    }

    fn extract(source: &IdSource, h: &HeaderMap, body: &[u8]) -> Extracted {
        super::extract(source, &Lookup::new(h, body))
    }

    #[test]
    fn json_header_and_hash() {
        let h = HeaderMap::new();
        let e = extract(
            &IdSource::parse("json:/eventId").unwrap(),
            &h,
            br#"{"eventId":"evt_1"}"#,
        );
        assert_eq!((e.id.as_str(), e.fell_back), ("evt_1", false));
        let e = extract(
            &IdSource::parse("json:/data/n").unwrap(),
            &h,
            br#"{"data":{"n":42}}"#,
        );
        assert_eq!(e.id, "42");
        let e = extract(&IdSource::parse("json:/missing").unwrap(), &h, b"{}");
        assert!(e.fell_back && e.id.starts_with("sha256:"));
        let mut h = HeaderMap::new();
        h.insert("x-event-id", " abc ".parse().unwrap());
        let e = extract(&IdSource::parse("header:X-Event-Id").unwrap(), &h, b"");
        assert_eq!(e.id, "abc");
        let e = extract(&IdSource::BodyHash, &h, b"x");
        assert!(!e.fell_back);
        assert_eq!(
            e.id,
            format!("sha256:{}", hex::encode(Sha256::digest(b"x")))
        );
    }

    #[test]
    fn the_body_hash_counts_the_target_when_there_is_one() {
        let h = HeaderMap::new();
        let id = |target: &str| {
            let lookup = Lookup::new(&h, b"{}").delivered_to(target);
            super::extract(&IdSource::BodyHash, &lookup).id
        };
        assert_eq!(id(""), hashed(b"{}"), "unchanged without a target");
        assert_ne!(id("/a"), id("/b"));
        assert_ne!(id("/a"), id("/a?x=1"));
        assert_ne!(id("/a"), id(""));
        assert_eq!(id("/a?x=1"), id("/a?x=1"));
    }

    #[test]
    fn long_ids_are_hashed() {
        let body = format!(r#"{{"id":"{}"}}"#, "a".repeat(500));
        let e = extract(
            &IdSource::Json("/id".into()),
            &HeaderMap::new(),
            body.as_bytes(),
        );
        assert!(e.id.starts_with("sha256:") && !e.fell_back);
    }

    #[test]
    fn composite_ids() {
        let src = IdSource::parse_all(&[
            "json:/event".into(),
            "json:/data/website_id".into(),
            "header:X-A".into(),
        ])
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-a", "1|2".parse().unwrap());
        let e = extract(
            &src,
            &h,
            br#"{"event":"website.created","data":{"website_id":"web_1"}}"#,
        );
        assert_eq!(
            (e.id.as_str(), e.fell_back),
            (r"website.created|web_1|1\|2", false)
        );
        let e = extract(&src, &HeaderMap::new(), br#"{"event":"x"}"#);
        assert!(e.fell_back, "a missing part falls back to the body hash");
        assert!(IdSource::parse_all(&["json:/a".into(), "sha256".into()]).is_err());
        assert_eq!(
            IdSource::parse_all(&["header:X".into()]).unwrap(),
            IdSource::Header(HeaderName::from_static("x"))
        );
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let h = HeaderMap::new();
        let id =
            |ptr: &str, body: &str| extract(&IdSource::Json(ptr.into()), &h, body.as_bytes()).id;
        assert_eq!(
            id("/id", r#"{"id":12345678901234567890123}"#),
            "12345678901234567890123"
        );
        assert_eq!(
            id("/id", r#"{"id":12345678901234567890124}"#),
            "12345678901234567890124"
        );
        assert_eq!(id("/id", r#"{"id": 1.10 }"#), "1.10");
        assert_eq!(id("/id", r#"{"id":-0}"#), "-0");
        assert_eq!(id("/id", r#"{"id":42}"#), "42");
        assert_eq!(id("/a~1b/1/c", r#"{"a/b":[0,{"c":1e300}]}"#), "1e300");
        assert_eq!(id("/k", r#"{"k":1,"k":22}"#), "22", "last duplicate wins");
        assert_eq!(id("/id", r#"{"\u0069d":7}"#), "7", "escaped keys match");
        assert_eq!(id("", "12345678901234567890123"), "12345678901234567890123");
    }

    #[test]
    fn header_form_is_valid_and_reversible() {
        for raw in [
            "evt_1", "a\nb", "a\u{1}b", "é ü", "50%", "%41", "\u{7f}", "",
        ] {
            let enc = header_form(raw);
            assert!(
                http::HeaderValue::from_str(&enc).is_ok(),
                "{raw:?} -> {enc:?}"
            );
            let back = percent_encoding::percent_decode_str(&enc)
                .decode_utf8()
                .unwrap();
            assert_eq!(back, raw);
        }
        assert_eq!(header_form("evt_1/x?y=1"), "evt_1/x?y=1");
        assert_eq!(header_form("a\nb %"), "a%0Ab%20%25");
    }

    #[test]
    fn bad_sources() {
        assert!(IdSource::parse("json:id").is_err());
        assert!(IdSource::parse("header:bad header").is_err());
        assert!(IdSource::parse("uuid").is_err());
    }
}
