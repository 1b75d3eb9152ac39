//! Shapes hookgate puts on the wire in more than one place: header fields as events store them
//! (`(name, value bytes)` pairs) to and from `http`'s typed fields, and the JSON body of every
//! refusal, `{"error": code, "detail": ...}` (the listener, the admin API, handshakes).

use http::{HeaderName, HeaderValue};

/// `{"error": code, "detail": detail}` as JSON text.
pub fn error_body(code: &str, detail: &str) -> String {
    serde_json::json!({ "error": code, "detail": detail }).to_string()
}

/// Typed header fields as stored pairs: the name as `http` spells it (lowercase), the value's
/// bytes as received.
pub fn to_pairs<'h>(
    fields: impl IntoIterator<Item = (&'h HeaderName, &'h HeaderValue)>,
) -> impl Iterator<Item = (String, Vec<u8>)> {
    fields
        .into_iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
}

/// Stored (or built) pairs as typed header fields; a pair that is not a valid field is left
/// out (stored data is not trusted to be well-formed).
pub fn from_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> impl Iterator<Item = (HeaderName, HeaderValue)> {
    pairs.into_iter().filter_map(|(name, value)| {
        Some((
            HeaderName::from_bytes(name.as_ref()).ok()?,
            HeaderValue::from_bytes(value.as_ref()).ok()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_invalid_ones_are_dropped() {
        let mut h = http::HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let pairs: Vec<_> = to_pairs(&h).collect();
        assert_eq!(
            pairs,
            [
                ("x-a".to_string(), b"1".to_vec()),
                ("x-a".into(), b"2".to_vec())
            ]
        );
        let back: Vec<_> = from_pairs(pairs.iter().map(|(k, v)| (k, v))).collect();
        assert_eq!(back.len(), 2);
        let odd = [("bad name", "v"), ("X-Upper", "ok"), ("x-nl", "a\nb")];
        let kept: Vec<_> = from_pairs(odd).map(|(k, _)| k).collect();
        assert_eq!(kept, [HeaderName::from_static("x-upper")]);
    }

    #[test]
    fn error_body_is_escaped_json() {
        let v: serde_json::Value =
            serde_json::from_str(&error_body("bad_request", "a \"quoted\"\nline")).unwrap();
        assert_eq!(v["error"], "bad_request");
        assert_eq!(v["detail"], "a \"quoted\"\nline");
    }
}
