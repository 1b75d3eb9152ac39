//! A JSON pointer followed through a body in one pass: what it names is kept as raw text,
//! everything else is skipped without being built (no tree of the document, no key strings).
//! The whole body is still read, so invalid JSON anywhere is refused, as a full parse would.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The raw text of the value at `ptr` (`/a/0/b`, `~1` and `~0` escaped) in `body`, if the body
/// is JSON and has it. Duplicate keys resolve as in `serde_json::Value` (the last wins).
pub fn find<'b>(body: &'b [u8], ptr: &str) -> Option<&'b str> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Follow { rest: ptr }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    found.map(RawValue::get)
}

/// The rest of the pointer (`""`, or `/token...`), applied to the next value. Its tokens are
/// taken as they are reached, not split out beforehand: nothing is allocated per request but
/// for a token with an escape.
struct Follow<'t> {
    rest: &'t str,
}

impl<'de> DeserializeSeed<'de> for Follow<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let Some(after) = self.rest.strip_prefix('/') else {
            return <&RawValue>::deserialize(d).map(Some);
        };
        // `rest` keeps its `/`: `""` at the last token.
        let (token, rest) = after.find('/').map_or((after, ""), |i| after.split_at(i));
        let token = if token.contains('~') {
            Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(token)
        };
        d.deserialize_any(Step { token, rest })
    }
}

/// One token of the pointer, looked up in an object or an array; absent in anything else.
struct Step<'t> {
    token: Cow<'t, str>,
    rest: &'t str,
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyIs(&self.token))? {
            if hit {
                found = map.next_value_seed(Follow { rest: self.rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // As serde_json's pointer: no sign, no leading zero.
        let t: &str = &self.token;
        let signed_or_padded = t.starts_with('+') || (t.starts_with('0') && t.len() != 1);
        let index = t.parse::<usize>().ok().filter(|_| !signed_or_padded);
        let mut found = None;
        for i in 0.. {
            if index == Some(i) {
                match seq.next_element_seed(Follow { rest: self.rest })? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
        }
        Ok(found)
    }
}

/// Whether an object's key is the token, compared without keeping the key.
struct KeyIs<'t>(&'t str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the full parse gives, as raw text, to compare with.
    fn by_value(body: &str, ptr: &str) -> Option<String> {
        let doc: serde_json::Value = serde_json::from_str(body).ok()?;
        doc.pointer(ptr).map(|v| v.to_string())
    }

    #[test]
    fn same_answers_as_a_full_parse() {
        let docs = [
            r#"{"id":"a","data":{"items":[{"id":1},{"id":"x~/y","n":[1,2,3]}]},"e":""}"#,
            r#"{"id":"first","id":"last"}"#,
            r#"{"a/b":{"m~n":7},"\u0041":"escaped key"}"#,
            r#"[10,[20,{"k":null}]]"#,
            r#"{"id":"a"} trailing"#,
            r#"{"id":"a","broken":[1,}"#,
            r#"{"s":"text","t":true}"#,
        ];
        let pointers = [
            "/id",
            "/data/items/1/id",
            "/data/items/1/n/2",
            "/data/items/01",
            "/data/items/+1",
            "/data/items/9",
            "/a~1b/m~0n",
            "/A",
            "/1/1/k",
            "/0",
            "/s/0",
            "/t/x",
            "/e",
            "/",
        ];
        for body in docs {
            for ptr in pointers {
                let raw = find(body.as_bytes(), ptr);
                let as_value = raw.and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
                assert_eq!(
                    as_value.map(|v| v.to_string()),
                    by_value(body, ptr),
                    "{body} {ptr}"
                );
            }
        }
        assert_eq!(
            find(br#"{"n":12345678901234567890123}"#, "/n"),
            Some("12345678901234567890123")
        );
    }
}
