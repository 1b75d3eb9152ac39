//! Where an event's identity comes from: a JSON pointer into the verified body, a header, or the
//! SHA-256 of the body.

use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};

/// Longer provider IDs are replaced by their hash so keys stay small.
const MAX_ID_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSource {
    Json(String),
    Header(HeaderName),
    BodyHash,
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

pub fn extract(source: &IdSource, headers: &HeaderMap, body: &[u8]) -> Extracted {
    let found = match source {
        IdSource::Json(ptr) => from_json(ptr, body),
        IdSource::Header(h) => headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
        IdSource::BodyHash => None,
    };
    match found {
        Some(id) if id.len() <= MAX_ID_LEN => Extracted {
            id,
            fell_back: false,
        },
        Some(id) => Extracted {
            id: format!("sha256:{}", hex::encode(Sha256::digest(id.as_bytes()))),
            fell_back: false,
        },
        None => Extracted {
            id: format!("sha256:{}", hex::encode(Sha256::digest(body))),
            fell_back: *source != IdSource::BodyHash,
        },
    }
}

fn from_json(ptr: &str, body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    match doc.pointer(ptr)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_sources() {
        assert!(IdSource::parse("json:id").is_err());
        assert!(IdSource::parse("header:bad header").is_err());
        assert!(IdSource::parse("uuid").is_err());
    }
}
