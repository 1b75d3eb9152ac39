//! Where an event's identity comes from: a JSON pointer into the verified body, a header, or the
//! SHA-256 of the body.

use std::cell::OnceCell;

use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};

/// Longer provider IDs are replaced by their hash so keys stay small.
const MAX_ID_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSource {
    Json(String),
    Header(HeaderName),
    BodyHash,
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
            _ => None,
        }
    }
}

/// The event ID, and whether it had to fall back to the body hash because the configured
/// source was absent.
pub struct Extracted {
    pub id: String,
    pub fell_back: bool,
}

/// A request's headers and body, as the sources read them: the body is parsed as JSON at most
/// once, however many sources (event ID parts, order key) point into it.
pub struct Lookup<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
    json: OnceCell<Option<serde_json::Value>>,
}

impl<'a> Lookup<'a> {
    pub fn new(headers: &'a HeaderMap, body: &'a [u8]) -> Lookup<'a> {
        Lookup {
            headers,
            body,
            json: OnceCell::new(),
        }
    }

    fn json(&self, ptr: &str) -> Option<String> {
        let doc = self
            .json
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()?;
        match doc.pointer(ptr)? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
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

/// The value `source` names in a request, if present (`None` for the body hash).
pub fn value(source: &IdSource, req: &Lookup<'_>) -> Option<String> {
    match source {
        IdSource::Json(ptr) => req.json(ptr),
        IdSource::Header(h) => req.header(h),
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
            id: hashed(req.body),
            fell_back: *source != IdSource::BodyHash,
        },
    }
}

/// `sha256:<hex>`: the ID of a body without one, or of a value too long to be an ID.
pub fn hashed(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_sources() {
        assert!(IdSource::parse("json:id").is_err());
        assert!(IdSource::parse("header:bad header").is_err());
        assert!(IdSource::parse("uuid").is_err());
    }
}
