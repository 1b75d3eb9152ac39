//! `normalize = "json"` (`proxy::normalize::to_json`): JSON, XML, form and multipart bodies.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use hookgate::normalize::{NormalizeError, to_json};

use super::{config, noisy_bytes};

fn content_type() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("application/json".to_string()),
        Just("application/xml".to_string()),
        Just("text/xml; charset=utf-8".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        Just("multipart/form-data; boundary=XyZ".to_string()),
        Just("multipart/form-data".to_string()),
        Just("application/vnd.api+json".to_string()),
        "[a-z/+;= \"-]{0,30}",
    ])
}

/// XML-ish text: tags, attributes, references, CDATA, comments, declarations.
fn xmlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("<a>".to_string()),
            Just("</a>".to_string()),
            Just("<b x=\"1\">".to_string()),
            Just("</b>".to_string()),
            Just("<c/>".to_string()),
            Just("&amp;".to_string()),
            Just("&#65;".to_string()),
            Just("&#x1F600;".to_string()),
            Just("&lol;".to_string()),
            Just("<![CDATA[<x>&y;]]>".to_string()),
            Just("<!-- c -->".to_string()),
            Just("<?pi x?>".to_string()),
            Just("<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_string()),
            Just("<!DOCTYPE a [<!ENTITY lol \"lol\">]>".to_string()),
            "[a-z &<>\"'=/;#]{0,6}",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

/// A document that declares entities in every way XML allows, then uses them.
fn entity_trick() -> impl Strategy<Value = String> {
    let decl = prop_oneof![
        // Billion laughs: each level ten references to the one below.
        Just(
            (1..10)
                .map(|i| format!(
                    "<!ENTITY lol{i} \"{}\">",
                    format!("&lol{};", i - 1).repeat(10)
                ))
                .collect::<Vec<_>>()
                .join("")
                + "<!ENTITY lol0 \"lol\">"
        ),
        Just("<!ENTITY x SYSTEM \"file:///etc/passwd\">".to_string()),
        Just("<!ENTITY x PUBLIC \"-//x//EN\" \"http://127.0.0.1:9/x.dtd\">".to_string()),
        Just("<!ENTITY % p SYSTEM \"http://127.0.0.1:9/p.dtd\"> %p;".to_string()),
        Just("<!ENTITY x \"<injected>1</injected>\">".to_string()),
    ];
    (
        decl,
        prop_oneof![Just("lol9"), Just("x"), Just("lol0"), Just("p")],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(decl, name, external_subset, in_attribute)| {
            let doctype = if external_subset {
                format!("<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/r.dtd\" [{decl}]>")
            } else {
                format!("<!DOCTYPE r [{decl}]>")
            };
            let body = if in_attribute {
                format!("<r a=\"&{name};\"/>")
            } else {
                format!("<r>&{name};</r>")
            };
            format!("<?xml version=\"1.0\"?>{doctype}{body}")
        })
}

/// A multipart body assembled from the pieces a parser has to get right, with a boundary of
/// any of the characters RFC 2046 allows.
fn multipartish() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        "[a-zA-Z0-9'()+_,./:=? -]{1,70}",
        proptest::collection::vec(
            prop_oneof![
                Just(b"--B\r\n".to_vec()),
                Just(b"--B--\r\n".to_vec()),
                Just(b"--B".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"Content-Disposition: form-data; name=\"a\"\r\n".to_vec()),
                Just(
                    b"Content-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n".to_vec()
                ),
                Just(b"Content-Disposition: form-data\r\n".to_vec()),
                Just(b"Content-Type: text/plain\r\n".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..12),
            ],
            0..16,
        ),
    )
        .prop_map(|(boundary, pieces)| {
            let boundary = boundary.trim_end().to_string();
            let body = pieces
                .concat()
                .split(|b| *b == b'B')
                .collect::<Vec<_>>()
                .join(boundary.as_bytes());
            (boundary, body)
        })
}

fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok()
}

proptest! {
    #![proptest_config(config(256))]

    /// Random bytes under any content type: no panic, a 4xx/415 reason or JSON output.
    #[test]
    fn random_bodies_never_panic(ct in content_type(), body in noisy_bytes(512), query in proptest::option::of("[a-z=&%0-9+]{0,16}")) {
        match to_json(ct.as_deref(), &body, query.as_deref()) {
            Ok(n) => prop_assert!(is_json(&n.body), "not JSON: {:?}", String::from_utf8_lossy(&n.body)),
            Err(e) => prop_assert!(matches!(e.status(), 400 | 415), "{e:?}"),
        }
    }

    /// Multipart bodies built from boundary lines, headers and junk: no panic, no hang.
    #[test]
    fn multipart_never_panics((boundary, body) in multipartish(), quoted in any::<bool>()) {
        prop_assume!(!boundary.is_empty());
        let ct = if quoted {
            format!("multipart/form-data; boundary=\"{boundary}\"")
        } else {
            format!("multipart/form-data; boundary={boundary}")
        };
        match to_json(Some(&ct), &body, None) {
            Ok(n) => prop_assert!(is_json(&n.body)),
            Err(e) => prop_assert_eq!(e.status(), 400, "{:?}", e),
        }
    }

    /// XML-ish input: no panic, and never more output than a small multiple of the input (no
    /// construct expands).
    #[test]
    fn xml_never_panics_nor_expands(text in xmlish()) {
        if let Ok(n) = to_json(Some("application/xml"), text.as_bytes(), None) {
            prop_assert!(is_json(&n.body));
            prop_assert!(n.body.len() <= 8 * text.len() + 64, "{} bytes from {:?}", n.body.len(), text);
        }
    }

    /// Entity declarations (billion laughs, external entities, parameter entities) are
    /// refused, whatever form they take; nothing declared is ever expanded.
    #[test]
    fn xml_entity_tricks_are_refused(doc in entity_trick()) {
        let r = to_json(Some("application/xml"), doc.as_bytes(), None);
        prop_assert!(
            matches!(r, Err(NormalizeError::XmlDoctype | NormalizeError::MalformedXml { .. })),
            "{:?} -> {:?}", doc, r
        );
        // Nor does a reference to an undeclared entity pass, DOCTYPE or not.
        let without = doc.split_once("]>").map_or(doc.as_str(), |(_, rest)| rest);
        let r = to_json(Some("application/xml"), without.as_bytes(), None);
        prop_assert!(matches!(r, Err(NormalizeError::MalformedXml { .. })), "{:?} -> {:?}", without, r);
    }

    /// Deep nesting is an error, not a stack overflow.
    #[test]
    fn deep_xml_and_json_are_refused_not_overflowed(depth in 100usize..5000) {
        let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let r = to_json(Some("application/xml"), xml.as_bytes(), None);
        prop_assert_eq!(r.is_ok(), depth <= hookgate::normalize::MAX_XML_DEPTH);
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let _ = to_json(Some("application/json"), json.as_bytes(), None);
    }

    /// A form of simple fields becomes the object of those fields: a repeated name an array
    /// of its values in order, every value a string.
    #[test]
    fn form_fields_round_trip(pairs in proptest::collection::vec(("[a-z]{1,3}", "\\PC{0,10}"), 0..8), sniffed in any::<bool>()) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let mut expected: Map<String, Value> = Map::new();
        for (k, v) in &pairs {
            match expected.get_mut(k) {
                None => {
                    expected.insert(k.clone(), json!(v));
                }
                Some(Value::Array(items)) => items.push(json!(v)),
                Some(first) => *first = json!([first.take(), v]),
            }
        }
        // Without a Content-Type, only a body that looks like a form is read as one.
        let ct = if sniffed && !body.is_empty() { None } else { Some("application/x-www-form-urlencoded") };
        let n = to_json(ct, body.as_bytes(), None).map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
        let got: Value = serde_json::from_slice(&n.body).unwrap();
        prop_assert_eq!(got, Value::Object(expected), "{}", body);
    }

    /// A flat XML document becomes `{"root":{"name":"text"}}`: text unescaped and trimmed of
    /// XML whitespace, an empty element null, attributes under `@name`.
    #[test]
    fn flat_xml_round_trips(fields in proptest::collection::btree_map("[a-z]{1,4}", "[a-z0-9<>&'\" ]{0,10}", 0..6), attr in proptest::option::of("[a-z0-9<&\"]{0,6}")) {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let mut doc = match &attr {
            Some(a) => format!("<root id=\"{}\">", esc(a)),
            None => "<root>".to_string(),
        };
        let mut expected = Map::new();
        for (k, v) in &fields {
            doc.push_str(&format!("<{k}>{}</{k}>", esc(v)));
            let t = v.trim_matches(' ');
            expected.insert(k.clone(), if t.is_empty() { Value::Null } else { json!(t) });
        }
        doc.push_str("</root>");
        if let Some(a) = &attr {
            expected.insert("@id".into(), json!(a));
        }
        let root = if expected.is_empty() { Value::Null } else { Value::Object(expected) };
        let n = to_json(Some("text/xml"), doc.as_bytes(), None).map_err(|e| TestCaseError::fail(format!("{doc}: {e}")))?;
        let got: Value = serde_json::from_slice(&n.body).unwrap();
        prop_assert_eq!(got, json!({ "root": root }), "{}", doc);
    }

    /// Multipart text fields become strings, file parts a description with their bytes.
    #[test]
    fn multipart_fields_round_trip(fields in proptest::collection::btree_map("[a-z]{1,6}", "[a-zA-Z0-9 .,]{0,20}", 1..5), file in proptest::collection::vec(any::<u8>(), 0..64)) {
        let boundary = "b0undary-XyZ";
        let mut body = Vec::new();
        for (k, v) in &fields {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
        }
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(&file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let n = to_json(Some(&ct), &body, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Value = serde_json::from_slice(&n.body).unwrap();
        for (k, v) in &fields {
            prop_assert_eq!(&got[k], &json!(v));
        }
        use base64::Engine as _;
        prop_assert_eq!(&got["upload"]["size"], &json!(file.len()));
        prop_assert_eq!(&got["upload"]["content_base64"], &json!(base64::engine::general_purpose::STANDARD.encode(&file)));
    }
}

/// Bodies any of whose readings could pass: multipart (with the boundary its first line
/// names), XML-ish text, JSON or form text, noise; each with the boundary it would take.
fn any_format() -> impl Strategy<Value = (String, Vec<u8>)> {
    let b = |body: Vec<u8>| ("XyZ".to_string(), body);
    prop_oneof![
        multipartish(),
        xmlish().prop_map(move |x| b(x.into_bytes())),
        "[ ]{0,2}(\\{\"a\":\"[a-z=&<]{0,6}\"\\}|\\[1,2\\]|[0-9]{1,25}|\"[a-z=&]{0,4}\")"
            .prop_map(move |j| b(j.into_bytes())),
        "[a-z=&%0-9+<{\\[-]{0,24}".prop_map(move |f| b(f.into_bytes())),
        noisy_bytes(64).prop_map(b),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// The Content-Type is not signed: whatever it says, the same bytes become one document,
    /// or are refused. Otherwise a replayed body relabelled would be another event.
    #[test]
    fn one_reading_whatever_the_content_type((boundary, body) in any_format(), query in proptest::option::of("[a-z]=[0-9]")) {
        prop_assume!(!boundary.is_empty());
        let labels = [
            Some("application/json".to_string()),
            Some("application/xml".to_string()),
            Some("application/x-www-form-urlencoded".to_string()),
            Some(format!("multipart/form-data; boundary=\"{boundary}\"")),
            Some("multipart/form-data; boundary=XyZ".to_string()),
            None,
        ];
        let mut readings: Vec<(Option<String>, Vec<u8>)> = Vec::new();
        for ct in labels {
            if let Ok(n) = to_json(ct.as_deref(), &body, query.as_deref()) {
                readings.push((ct, n.body));
            }
        }
        for pair in readings.windows(2) {
            prop_assert_eq!(
                &pair[0].1, &pair[1].1,
                "{:?} under {:?} and {:?}", String::from_utf8_lossy(&body), pair[0].0, pair[1].0
            );
        }
    }
}

/// An XML element as generated: attributes and mixed content.
#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Element(Element),
}

#[derive(Debug, Clone)]
struct Element {
    name: String,
    attrs: std::collections::BTreeMap<String, String>,
    children: Vec<Node>,
}

fn element() -> impl Strategy<Value = Element> {
    let attrs = proptest::collection::btree_map("[a-c]{1,2}", "[a-z0-9 <>&'\"]{0,6}", 0..3);
    let leaf = ("[a-c]{1,2}", attrs.clone()).prop_map(|(name, attrs)| Element {
        name,
        attrs,
        children: Vec::new(),
    });
    leaf.prop_recursive(4, 32, 5, move |inner| {
        (
            "[a-c]{1,2}",
            attrs.clone(),
            proptest::collection::vec(
                prop_oneof![
                    "[a-z0-9 \n\t<>&]{1,6}".prop_map(Node::Text),
                    inner.prop_map(Node::Element),
                ],
                0..5,
            ),
        )
            .prop_map(|(name, attrs, children)| Element {
                name,
                attrs,
                children,
            })
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn write_xml(e: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&e.name);
    for (k, v) in &e.attrs {
        out.push_str(&format!(" {k}=\"{}\"", escape(v)));
    }
    out.push('>');
    for c in &e.children {
        match c {
            Node::Text(t) => out.push_str(&escape(t)),
            Node::Element(child) => write_xml(child, out),
        }
    }
    out.push_str(&format!("</{}>", e.name));
}

/// The mapping the module documents, written independently.
fn expected_json(e: &Element) -> Value {
    let mut fields = Map::new();
    for (k, v) in &e.attrs {
        fields.insert(format!("@{k}"), json!(v));
    }
    let mut text = String::new();
    for c in &e.children {
        match c {
            Node::Text(t) => text.push_str(t),
            Node::Element(child) => {
                let v = expected_json(child);
                match fields.get_mut(&child.name) {
                    None => {
                        fields.insert(child.name.clone(), v);
                    }
                    Some(Value::Array(items)) => items.push(v),
                    Some(first) => *first = json!([first.take(), v]),
                }
            }
        }
    }
    let text = text.trim_matches([' ', '\t', '\r', '\n']);
    match (fields.is_empty(), text.is_empty()) {
        (true, true) => Value::Null,
        (true, false) => json!(text),
        (false, _) => {
            if !text.is_empty() {
                fields.insert("#text".into(), json!(text));
            }
            Value::Object(fields)
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Any element tree (attributes, mixed content, repeated siblings) maps as documented.
    #[test]
    fn xml_trees_map_as_documented(root in element()) {
        let mut doc = String::new();
        write_xml(&root, &mut doc);
        let n = to_json(Some("application/xml"), doc.as_bytes(), None)
            .map_err(|e| TestCaseError::fail(format!("{doc}: {e}")))?;
        let got: Value = serde_json::from_slice(&n.body).unwrap();
        prop_assert_eq!(got, json!({ root.name.clone(): expected_json(&root) }), "{}", doc);
    }
}
