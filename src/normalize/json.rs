//! JSON bodies: checked as `serde_json::Value` would parse them (nesting at most 128 deep,
//! numbers within `f64`'s range), but never re-encoded. serde_json without
//! `arbitrary_precision` turns `12345678901234567890123` into `1.2345678901234568e22`, and a
//! normalised body is what event IDs are read from and what the upstream receives: the text
//! is kept as sent, and an object only gets the query parameters it lacks inserted before its
//! closing brace.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{NormalizeError, form};

/// Whether `body` is JSON, by the same rules as [`with_query`].
pub(super) fn is_json(body: &[u8]) -> bool {
    top(body, false).is_ok()
}

/// `body` (JSON) as the normalised document: as sent, plus, for an object, the parameters of
/// `query` whose names it does not have (the body wins a conflict).
pub(super) fn with_query(body: &[u8], query: Option<&str>) -> Result<Vec<u8>, NormalizeError> {
    let query = query.filter(|q| !q.is_empty());
    let shape = top(body, query.is_some())?;
    let (Some(query), Shape::Object { keys, empty }) = (query, shape) else {
        return Ok(body.to_vec());
    };
    let params =
        form::parse_urlencoded(query.as_bytes()).map_err(NormalizeError::MalformedQuery)?;
    // A valid object's last `}` closes it: only whitespace may follow.
    let close = body
        .iter()
        .rposition(|b| *b == b'}')
        .ok_or(NormalizeError::Encode)?;
    let (head, tail) = body.split_at(close);
    let mut out = Vec::with_capacity(body.len() + query.len() * 2);
    out.extend_from_slice(head);
    let mut first = empty;
    for (key, value) in params.iter().filter(|(k, _)| !keys.contains(*k)) {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, key).map_err(|_| NormalizeError::Encode)?;
        out.push(b':');
        serde_json::to_writer(&mut out, value).map_err(|_| NormalizeError::Encode)?;
    }
    out.extend_from_slice(tail);
    Ok(out)
}

/// A valid JSON body's top level.
enum Shape {
    /// An object: its keys (unescaped; only when asked for) and whether it has none.
    Object {
        keys: HashSet<String>,
        empty: bool,
    },
    Other,
}

fn top(body: &[u8], want_keys: bool) -> Result<Shape, NormalizeError> {
    // serde_json's messages name the problem and its line/column, never the input text.
    let malformed = |e: serde_json::Error| NormalizeError::MalformedJson(e.to_string());
    let mut de = serde_json::Deserializer::from_slice(body);
    let shape = de.deserialize_any(Top { want_keys }).map_err(malformed)?;
    de.end().map_err(malformed)?;
    Ok(shape)
}

/// Reads the top level, checking everything below with [`Valid`].
struct Top {
    want_keys: bool,
}

impl<'de> Visitor<'de> for Top {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut keys = HashSet::new();
        let mut empty = true;
        loop {
            if self.want_keys {
                match map.next_key::<String>()? {
                    Some(k) => keys.insert(k),
                    None => break,
                };
            } else if map.next_key::<IgnoredAny>()?.is_none() {
                break;
            }
            empty = false;
            map.next_value::<Valid>()?;
        }
        Ok(Shape::Object { keys, empty })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape, A::Error> {
        Valid::seq(seq).map(|_| Shape::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
}

/// Any JSON value, read through `deserialize_any` — unlike `IgnoredAny`, which serde_json
/// skips without its recursion limit or number checks — and kept nowhere.
struct Valid;

impl Valid {
    fn seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Valid, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }
}

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Valid, D::Error> {
        d.deserialize_any(Valid)
    }
}

impl<'de> Visitor<'de> for Valid {
    type Value = Valid;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<Valid>()?;
        }
        Ok(Valid)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Valid, A::Error> {
        Valid::seq(seq)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }
}
