//! Unit tests of `to_json`, one file per format where they are long.

mod robustness;
mod xml;

use super::*;
use serde_json::json;

/// Normalizes and parses the output back, for comparisons that ignore key order.
fn ok(content_type: Option<&str>, body: &[u8], query: Option<&str>) -> Value {
    match to_json(content_type, body, query) {
        Ok(normalized) => match serde_json::from_slice(&normalized.body) {
            Ok(value) => value,
            Err(err) => panic!("output is not JSON: {err}"),
        },
        Err(err) => panic!("unexpected error: {err}"),
    }
}

fn err(content_type: Option<&str>, body: &[u8], query: Option<&str>) -> NormalizeError {
    match to_json(content_type, body, query) {
        Ok(normalized) => panic!(
            "unexpected success: {:?}",
            String::from_utf8_lossy(&normalized.body)
        ),
        Err(err) => err,
    }
}

fn xml(body: &str) -> Value {
    ok(Some("application/xml"), body.as_bytes(), None)
}

fn xml_err(body: &str) -> NormalizeError {
    err(Some("application/xml"), body.as_bytes(), None)
}

fn is_malformed_xml(error: &NormalizeError) -> bool {
    matches!(error, NormalizeError::MalformedXml { .. })
}

// --- content type --------------------------------------------------------------------

#[test]
fn original_content_type_is_kept_verbatim() {
    let raw = "Application/JSON; Charset=\"UTF-8\"";
    let normalized = to_json(Some(raw), b"{}", None);
    assert_eq!(
        normalized.map(|n| n.original_content_type),
        Ok(Some(raw.to_owned()))
    );
    let absent = to_json(None, b"{}", None);
    assert_eq!(absent.map(|n| n.original_content_type), Ok(None));
}

#[test]
fn media_type_is_case_insensitive_and_parameters_ignored() {
    let ct = Some("Application/JSON ; foo=bar; charset=utf8");
    assert_eq!(ok(ct, br#"{"a":1}"#, None), json!({"a": 1}));
    assert_eq!(ok(Some("TEXT/XML"), b"<a>1</a>", None), json!({"a": "1"}));
}

#[test]
fn unsupported_media_types_are_415_naming_the_accepted_ones() {
    for ct in [
        "text/plain",
        "application/octet-stream",
        "text/csv; charset=utf-8",
        "json",
    ] {
        let error = err(Some(ct), b"hello", None);
        assert!(
            matches!(error, NormalizeError::UnsupportedMediaType(_)),
            "{ct}"
        );
        assert_eq!(error.status(), 415);
        let message = error.to_string();
        assert!(message.contains("application/json") && message.contains("multipart/form-data"));
    }
}

#[test]
fn non_utf8_charset_is_415() {
    for ct in [
        "application/json; charset=iso-8859-1",
        "application/x-www-form-urlencoded; charset=\"windows-1252\"",
        "text/xml; charset=utf-16",
    ] {
        let error = err(Some(ct), b"{}", None);
        assert!(
            matches!(error, NormalizeError::UnsupportedCharset(_)),
            "{ct}"
        );
        assert_eq!(error.status(), 415);
    }
}

#[test]
fn blank_content_type_counts_as_absent() {
    let normalized = to_json(Some("  "), b"a=1", None);
    assert_eq!(
        normalized.map(|n| (n.body, n.original_content_type)),
        Ok((br#"{"a":"1"}"#.to_vec(), Some("  ".to_owned())))
    );
}

#[test]
fn errors_map_to_statuses() {
    assert_eq!(
        NormalizeError::UnsupportedMediaType("x".into()).status(),
        415
    );
    assert_eq!(NormalizeError::UnsupportedCharset("x".into()).status(), 415);
    assert_eq!(NormalizeError::XmlDoctype.status(), 400);
    assert_eq!(NormalizeError::MissingBoundary.status(), 400);
    assert_eq!(NormalizeError::UnknownFormat.status(), 400);
    assert_eq!(NormalizeError::Encode.status(), 500);
}

// --- JSON ----------------------------------------------------------------------------

#[test]
fn json_object_merges_query_with_body_winning() {
    let body = br#"{"a":"body","nested":{"x":[1,2]}}"#;
    let value = ok(Some("application/json"), body, Some("a=query&b=2&b=3&c="));
    assert_eq!(
        value,
        json!({"a": "body", "nested": {"x": [1, 2]}, "b": ["2", "3"], "c": ""})
    );
}

/// Never re-encoded: numbers beyond i64/u64/f64 precision, key order, escapes and spacing stay
/// as sent; a merged query goes before the closing brace (and the body's keys win).
#[test]
fn json_text_is_kept_exactly() {
    let text = |body: &[u8], query: Option<&str>| {
        to_json(Some("application/json"), body, query).map(|n| String::from_utf8(n.body))
    };
    let body = "{ \"id\" : 12345678901234567890123, \"b\":[0.1000000000000000055511151231257827, -0],\"\\u0061\":1 }\n";
    assert_eq!(text(body.as_bytes(), None), Ok(Ok(body.to_owned())));
    assert_eq!(
        text(
            br#"{"id":12345678901234567890124,"a":1}"#,
            Some("a=q&z=%22&z=2")
        ),
        Ok(Ok(
            r#"{"id":12345678901234567890124,"a":1,"z":["\"","2"]}"#.to_owned()
        ))
    );
    assert_eq!(
        text(b" { }\r\n", Some("a=1")),
        Ok(Ok(" { \"a\":\"1\"}\r\n".to_owned()))
    );
    // An escaped key is the key: the body's `a` wins over the query's.
    assert_eq!(
        text(br#"{"\u0061":0}"#, Some("a=q")),
        Ok(Ok(r#"{"\u0061":0}"#.to_owned()))
    );
    // As `serde_json::Value` parses: a number beyond f64's range is refused.
    assert!(matches!(
        err(Some("application/json"), br#"{"n":1e400}"#, None),
        NormalizeError::MalformedJson(_)
    ));
}

/// The same bytes normalise to one document, or are refused, whatever they are called: a form
/// label reads no XML, JSON-looking or multipart body, and multipart takes no preamble.
#[test]
fn one_reading_per_body_whatever_its_content_type() {
    const FORM: &str = "application/x-www-form-urlencoded";
    for (body, like) in [
        (&b"<a>x&amp;y=1</a>"[..], "XML"),
        (b"\xEF\xBB\xBF <a/>", "XML"),
        (b"\r\n<a/>", "XML"),
        (b"[a=1", "JSON"),
        (b"{a=1}", "JSON"),
        (
            b"--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--X--\r\n",
            "multipart",
        ),
        (b"--a=1", "multipart"),
    ] {
        assert_eq!(err(Some(FORM), body, None), NormalizeError::NotAForm(like));
        assert_eq!(err(Some(FORM), body, None).status(), 400);
        assert!(to_json(None, body, None).is_err(), "{body:?}");
    }
    assert_eq!(
        ok(Some(FORM), br#"{"id":"a&id=b"}"#, None),
        json!({"id": "a&id=b"})
    );
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let part = multipart(&[("Content-Disposition: form-data; name=\"a\"", "1")]);
    let preamble = [&b"text before the parts\r\n"[..], &part].concat();
    for body in [&preamble[..], b"<a><![CDATA[\r\n--XyZ-boundary\r\n]]></a>"] {
        assert!(matches!(
            err(Some(&ct), body, None),
            NormalizeError::MalformedMultipart(_)
        ));
    }
    let longer = format!("multipart/form-data; boundary={BOUNDARY}-");
    assert!(to_json(Some(&longer), &part, None).is_err());
    assert!(to_json(Some("multipart/form-data; boundary=XyZ"), &part, None).is_err());
}

#[test]
fn json_non_objects_pass_through_unchanged_without_query() {
    for body in [
        &b"[1, {\"a\": 2}]"[..],
        b" \"text\" ",
        b"12345678901234567890123",
        b"null",
        b"true",
    ] {
        let normalized = to_json(Some("application/json"), body, Some("q=1"));
        assert_eq!(normalized.map(|n| n.body), Ok(body.to_vec()));
    }
}

#[test]
fn structured_json_suffix_is_json() {
    let value = ok(Some("application/vnd.api+json"), br#"{"data":null}"#, None);
    assert_eq!(value, json!({"data": null}));
    assert!(matches!(
        err(Some("application/+json"), b"{}", None),
        NormalizeError::UnsupportedMediaType(_)
    ));
}

#[test]
fn malformed_json_is_400_without_echoing_the_body() {
    for body in [&b""[..], b"{\"secret-value\": }", b"{} trailing", b"\xff"] {
        let error = err(Some("application/json"), body, None);
        assert!(matches!(error, NormalizeError::MalformedJson(_)));
        assert_eq!(error.status(), 400);
        assert!(!error.to_string().contains("secret-value"));
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let body = "[".repeat(100_000);
    assert!(matches!(
        err(Some("application/json"), body.as_bytes(), None),
        NormalizeError::MalformedJson(_)
    ));
}

// --- form ----------------------------------------------------------------------------

#[test]
fn form_fields_repeated_keys_and_query_merge() {
    let body = b"a=1&tag=x&tag=y+z&name=J%C3%BCrgen&empty=&flag";
    let value = ok(
        Some("application/x-www-form-urlencoded"),
        body,
        Some("a=q&tag=q&extra=%F0%9F%98%80"),
    );
    let expected = json!({
        "a": "1", "tag": ["x", "y z"], "name": "Jürgen", "empty": "", "flag": "", "extra": "😀"
    });
    assert_eq!(value, expected);
}

#[test]
fn form_empty_body_is_just_the_query() {
    assert_eq!(
        ok(Some("application/x-www-form-urlencoded"), b"", Some("a=1")),
        json!({"a": "1"})
    );
}

#[test]
fn form_invalid_utf8_is_400() {
    for body in [&b"a=%FF"[..], b"a%C3=1", b"a=\xff"] {
        let error = err(Some("application/x-www-form-urlencoded"), body, None);
        assert!(
            matches!(error, NormalizeError::MalformedForm(_)),
            "{body:?}"
        );
    }
    // A literal `%` that is not an escape stays as it is, as in form_urlencoded.
    assert_eq!(
        ok(
            Some("application/x-www-form-urlencoded"),
            b"p=100%&q=%zz",
            None
        ),
        json!({"p": "100%", "q": "%zz"})
    );
}

#[test]
fn query_is_only_validated_when_merged() {
    let error = err(Some("application/json"), b"{}", Some("a=%FF"));
    assert!(matches!(error, NormalizeError::MalformedQuery(_)));
    assert_eq!(error.status(), 400);
    assert!(to_json(Some("application/json"), b"[]", Some("a=%FF")).is_ok());
}

#[test]
fn empty_or_absent_query_adds_nothing() {
    assert_eq!(ok(Some("application/json"), b"{}", Some("")), json!({}));
    assert_eq!(ok(Some("application/json"), b"{}", None), json!({}));
}

// --- multipart -----------------------------------------------------------------------

const BOUNDARY: &str = "XyZ-boundary";

fn multipart(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (headers, content) in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\n{headers}\r\n\r\n{content}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[test]
fn multipart_text_fields_and_files() {
    let body = multipart(&[
        ("Content-Disposition: form-data; name=\"title\"", "Hello"),
        ("Content-Disposition: form-data; name=\"tag\"", "a"),
        ("Content-Disposition: form-data; name=\"tag\"", "b"),
        (
            "Content-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\nContent-Type: text/plain",
            "hi there",
        ),
        (
            "Content-Disposition: form-data; name=\"blob\"; filename=\"\"",
            "",
        ),
    ]);
    let ct = format!("multipart/form-data; boundary=\"{BOUNDARY}\"");
    let value = ok(Some(&ct), &body, Some("title=q&from=query"));
    let expected = json!({
        "title": "Hello",
        "tag": ["a", "b"],
        "doc": {"filename": "a.txt", "content_type": "text/plain", "size": 8, "content_base64": "aGkgdGhlcmU="},
        "blob": {"filename": "", "content_type": null, "size": 0, "content_base64": ""},
        "from": "query"
    });
    assert_eq!(value, expected);
}

#[test]
fn multipart_without_boundary_is_400() {
    let body = multipart(&[("Content-Disposition: form-data; name=\"a\"", "1")]);
    for ct in [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
    ] {
        let error = err(Some(ct), &body, None);
        assert_eq!(error, NormalizeError::MissingBoundary, "{ct}");
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn malformed_multipart_is_400() {
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let complete = multipart(&[("Content-Disposition: form-data; name=\"a\"", "1")]);
    let truncated = &complete[..complete.len() - 10];
    let unnamed = multipart(&[("Content-Disposition: form-data", "1")]);
    let not_utf8 = [&complete[..], b"\xff"].concat();
    let bad_text = multipart(&[("Content-Disposition: form-data; name=\"a\"", "\u{fffd}")])
        .iter()
        .map(|&b| if b == 0xEF { 0xFF } else { b })
        .collect::<Vec<u8>>();
    for body in [
        &b""[..],
        b"no boundary here",
        truncated,
        &unnamed,
        &bad_text,
    ] {
        let error = err(Some(&ct), body, None);
        assert!(
            matches!(error, NormalizeError::MalformedMultipart(_)),
            "{error}"
        );
        assert_eq!(error.status(), 400);
    }
    // Bytes after the closing delimiter are an epilogue, which multipart allows.
    assert!(to_json(Some(&ct), &not_utf8, None).is_ok());
}

// --- no content type -----------------------------------------------------------------

#[test]
fn no_content_type_empty_body_is_the_query() {
    assert_eq!(ok(None, b"", None), json!({}));
    assert_eq!(ok(None, b"", Some("a=1&a=2")), json!({"a": ["1", "2"]}));
}

#[test]
fn no_content_type_sniffs_json_then_form() {
    assert_eq!(
        ok(None, br#" {"a": 1} "#, Some("a=q&b=2")),
        json!({"a": 1, "b": "2"})
    );
    let array = to_json(None, b"[1,2]", Some("b=2"));
    assert_eq!(array.map(|n| n.body), Ok(b"[1,2]".to_vec()));
    assert_eq!(
        ok(None, b"a=1&b=2&b=3", Some("a=q")),
        json!({"a": "1", "b": ["2", "3"]})
    );
    assert_eq!(ok(None, b"items[]=x", None), json!({"items[]": "x"}));
}

#[test]
fn no_content_type_unknown_format_is_400() {
    let bodies = [
        &b"hello"[..],
        b"hello world=1",
        b"a=1\n",
        b"<a x=\"1\"/>",
        b"{a=1}",
        b"[a=1",
        b"caf\xc3\xa9=1",
        b"   ",
    ];
    for body in bodies {
        let error = err(None, body, None);
        assert_eq!(error, NormalizeError::UnknownFormat, "{body:?}");
        assert_eq!(
            error.to_string(),
            "cannot tell the body's format; send a Content-Type"
        );
    }
}
