//! Event-ID and order-key extraction (`event::id`): JSON pointers into the verified body,
//! headers, composites of several parts, the body hash.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::Value;

use hookgate::event::id::{IdSource, Lookup, extract, value};

use super::{config, header_bytes, noisy_bytes};

/// IDs longer than this are replaced by their hash (`event::id::MAX_ID_LEN`).
const MAX_ID_LEN: usize = 200;

/// A JSON document, with string and integer leaves (keys may hold `/` and `~`, which a
/// pointer must escape).
fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "\\PC{0,16}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z/~0-9 ]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every (pointer, value) pair of a document.
fn pointers(doc: &Value, at: String, out: &mut Vec<(String, Value)>) {
    out.push((at.clone(), doc.clone()));
    match doc {
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                pointers(v, format!("{at}/{escaped}"), out);
            }
        }
        _ => {}
    }
}

/// The text an event ID takes from a JSON value: a non-empty string as is, a number as
/// written; nothing for anything else.
fn expected_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn source() -> impl Strategy<Value = IdSource> {
    prop_oneof![
        "(/[a-z0-9~]{0,4}){0,4}".prop_map(IdSource::Json),
        Just(IdSource::Header(HeaderName::from_static("x-event-id"))),
        Just(IdSource::BodyHash),
        Just(IdSource::Composite(vec![
            IdSource::Json("/a".into()),
            IdSource::Header(HeaderName::from_static("x-event-id")),
        ])),
    ]
}

/// Splits a composite ID on its unescaped `|` and unescapes each part.
fn split_composite(id: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = id.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.last_mut().unwrap().extend(chars.next()),
            '|' => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts
}

proptest! {
    #![proptest_config(config(256))]

    /// Random bodies, headers and sources: no panic, the same answer twice, an ID of bounded
    /// length, and the body hash exactly when the source found nothing.
    #[test]
    fn extraction_never_panics_and_is_deterministic(src in source(), body in noisy_bytes(256), hv in header_bytes(300)) {
        let mut h = HeaderMap::new();
        h.insert("x-event-id", HeaderValue::from_bytes(&hv).unwrap());
        let a = extract(&src, &Lookup::new(&h, &body));
        let b = extract(&src, &Lookup::new(&h, &body));
        prop_assert_eq!(&a.id, &b.id);
        prop_assert_eq!(a.fell_back, b.fell_back);
        prop_assert!(a.id.len() <= MAX_ID_LEN, "{} bytes", a.id.len());
        let found = value(&src, &Lookup::new(&h, &body));
        prop_assert_eq!(found.is_none() && src != IdSource::BodyHash, a.fell_back);
    }

    /// A pointer to any value of a generated document returns that value's text.
    #[test]
    fn a_pointer_returns_the_value_it_points_at(doc in document(), pick in any::<prop::sample::Index>()) {
        let body = serde_json::to_vec(&doc).unwrap();
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let (ptr, v) = &all[pick.index(all.len())];
        let h = HeaderMap::new();
        let got = value(&IdSource::Json(ptr.clone()), &Lookup::new(&h, &body));
        prop_assert_eq!(got, expected_text(v), "pointer {:?} into {}", ptr, String::from_utf8_lossy(&body));
        // The order key reads the same body through the same lookup.
        let lookup = Lookup::new(&h, &body);
        let id = value(&IdSource::Json(ptr.clone()), &lookup);
        let key = value(&IdSource::Json(ptr.clone()), &lookup);
        prop_assert_eq!(id, key);
    }

    /// A composite ID reads back as its parts: no two different part lists give one ID.
    #[test]
    fn composite_ids_split_back_into_their_parts(a in "[a-z|\\\\]{1,8}", b in "[a-z|\\\\]{1,8}", c in "[!-~]{1,8}") {
        prop_assume!(c.trim() == c);
        let src = IdSource::parse_all(&["json:/a".into(), "json:/b".into(), "header:x-c".into()]).unwrap();
        let body = serde_json::to_vec(&serde_json::json!({"a": a, "b": b})).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-c", HeaderValue::from_str(&c).unwrap());
        let id = value(&src, &Lookup::new(&h, &body)).unwrap();
        prop_assert_eq!(split_composite(&id), vec![a, b, c]);
    }

    /// Source specs as written in the config: no panic; `json:` needs a pointer.
    #[test]
    fn source_specs_never_panic(text in "(json:|header:|sha256)?[/a-zA-Z0-9 _:-]{0,12}") {
        if let Ok(IdSource::Json(p)) = IdSource::parse(&text) {
            prop_assert!(p.is_empty() || p.starts_with('/'));
        }
        let _ = IdSource::parse_all(&[text.clone(), text]);
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Issue 9 item 5: an ID that is a number is its exact text, so two numbers that round to
    /// the same float stay two events: anywhere in a document, compact or pretty-printed.
    #[test]
    fn a_number_id_is_its_exact_text(
        doc in document(),
        pick in any::<prop::sample::Index>(),
        number in "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,10})?([eE][+-]?[0-9]{1,2})?",
        pretty in any::<bool>(),
    ) {
        // Put a marker string at one place of the document, then the number in its place.
        const MARK: &str = "\u{1}number\u{1}";
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let (ptr, _) = all[pick.index(all.len())].clone();
        let mut doc = doc;
        *doc.pointer_mut(&ptr).unwrap() = Value::from(MARK);
        let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap();
        let body = text.replace(&serde_json::to_string(MARK).unwrap(), &number);
        let h = HeaderMap::new();
        let got = value(&IdSource::Json(ptr.clone()), &Lookup::new(&h, body.as_bytes()));
        prop_assert_eq!(got, Some(number), "pointer {:?} into {}", ptr, body);
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Issue 9 item 6: the form of an ID that deliveries carry in `X-Hookgate-Event-Id` is always
    /// a valid header value, decodes back to the ID, and leaves plain IDs as they are.
    #[test]
    fn event_id_header_form_is_valid_and_reversible(id in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
        let enc = hookgate::event::id::header_form(&id);
        prop_assert!(HeaderValue::from_str(&enc).is_ok(), "{:?} -> {:?}", id, enc);
        let back = percent_encoding::percent_decode_str(&enc).decode_utf8();
        prop_assert_eq!(back.as_deref().ok(), Some(id.as_str()));
        if id.bytes().all(|b| b.is_ascii_graphic() && b != b'%') {
            prop_assert_eq!(&*enc, id.as_str());
        }
    }
}
