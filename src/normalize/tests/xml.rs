//! XML: the mapping, its limits and its error positions.

use super::*;

#[test]
fn xml_root_becomes_the_single_top_level_key() {
    assert_eq!(
        xml("<order><id>1</id></order>"),
        json!({"order": {"id": "1"}})
    );
}

#[test]
fn xml_nested_elements_with_attributes() {
    let body = r#"<order id="7" status='new'>
        <customer vip="true"><name>Ada</name></customer>
        <total currency="EUR">12.50</total>
    </order>"#;
    let expected = json!({"order": {
        "@id": "7",
        "@status": "new",
        "customer": {"@vip": "true", "name": "Ada"},
        "total": {"@currency": "EUR", "#text": "12.50"}
    }});
    assert_eq!(xml(body), expected);
}

#[test]
fn xml_repeated_siblings_become_an_array_in_order() {
    let body = "<list><item>b</item><other/><item>a</item><item><x>1</x></item></list>";
    let expected = json!({"list": {"item": ["b", "a", {"x": "1"}], "other": null}});
    assert_eq!(xml(body), expected);
}

#[test]
fn xml_empty_elements_are_null() {
    assert_eq!(
        xml("<r><a/><b></b><c>  \n </c></r>"),
        json!({"r": {"a": null, "b": null, "c": null}})
    );
    assert_eq!(xml("<r/>"), json!({"r": null}));
    assert_eq!(xml(r#"<r a=""/>"#), json!({"r": {"@a": ""}}));
}

#[test]
fn xml_cdata_is_text() {
    let body = "<r><code><![CDATA[<b>&amp;</b>]]></code><mix>a<![CDATA[ & ]]>b</mix></r>";
    assert_eq!(
        xml(body),
        json!({"r": {"code": "<b>&amp;</b>", "mix": "a & b"}})
    );
}

#[test]
fn xml_entities_and_character_references_are_unescaped() {
    let body =
        r#"<r q="&quot;x&quot; &amp; &#x41;">  Tom &amp; Jerry &lt;3 &#65;&#x42;&apos;&gt; </r>"#;
    assert_eq!(
        xml(body),
        json!({"r": {"@q": "\"x\" & A", "#text": "Tom & Jerry <3 AB'>"}})
    );
    // U+00A0 is data, not XML whitespace: it survives trimming.
    assert_eq!(xml("<r>&#160;</r>"), json!({"r": "\u{a0}"}));
}

#[test]
fn xml_unknown_entity_is_400() {
    let error = xml_err("<r>&nbsp;</r>");
    assert!(
        is_malformed_xml(&error) && error.to_string().contains("&nbsp;"),
        "{error}"
    );
}

#[test]
fn xml_namespace_prefixes_are_kept_verbatim() {
    let body = r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">
        <soap:Body><m:Ping xmlns:m="urn:x">hi</m:Ping></soap:Body></soap:Envelope>"#;
    let expected = json!({"soap:Envelope": {
        "@xmlns:soap": "http://www.w3.org/2003/05/soap-envelope",
        "soap:Body": {"m:Ping": {"@xmlns:m": "urn:x", "#text": "hi"}}
    }});
    assert_eq!(
        ok(Some("application/soap+xml"), body.as_bytes(), None),
        expected
    );
}

#[test]
fn xml_whitespace_between_elements_is_ignored_and_text_trimmed() {
    let body = "\n<r>\n  <a>  padded value \t</a>\n  mixed\n  <b>x</b>\n</r>\n";
    assert_eq!(
        xml(body),
        json!({"r": {"a": "padded value", "b": "x", "#text": "mixed"}})
    );
}

#[test]
fn xml_values_are_always_strings() {
    assert_eq!(
        xml("<r><n>42</n><b>true</b><f>1.5</f></r>"),
        json!({"r": {"n": "42", "b": "true", "f": "1.5"}})
    );
}

#[test]
fn xml_declaration_comments_and_pis_are_ignored() {
    let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi --><?pi x?><r><!-- c -->v<?p?></r><!-- end -->\n";
    assert_eq!(xml(body), json!({"r": "v"}));
}

#[test]
fn xml_declared_non_utf8_encoding_is_415() {
    let error = xml_err("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>");
    assert_eq!(
        error,
        NormalizeError::UnsupportedCharset("ISO-8859-1".to_owned())
    );
}

#[test]
fn xml_doctype_is_refused() {
    let xxe =
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
    let error = xml_err(xxe);
    assert_eq!(error, NormalizeError::XmlDoctype);
    assert_eq!(error.to_string(), "XML DOCTYPE is not allowed");
    assert_eq!(error.status(), 400);
}

#[test]
fn xml_mismatched_tags_are_400_with_position() {
    let error = xml_err("<a><b></a></b>");
    assert!(is_malformed_xml(&error), "{error}");
    assert!(
        error.to_string().starts_with("malformed XML at byte "),
        "{error}"
    );
    assert_eq!(error.status(), 400);
}

#[test]
fn xml_structural_errors_are_400() {
    let cases = [
        ("", "empty document"),
        ("  \n ", "empty document"),
        ("<!-- only a comment -->", "empty document"),
        ("<a/><b/>", "more than one root"),
        ("<a></a><a></a>", "more than one root"),
        ("<a></a>junk", "text outside"),
        ("junk<a></a>", "text outside"),
        ("<a><b>", "unclosed element <b>"),
        ("</a>", ""),
        ("<a", ""),
        ("<a x='1' x='2'/>", ""),
        ("<a>\u{0}</a", ""),
    ];
    for (body, reason) in cases {
        let error = xml_err(body);
        assert!(is_malformed_xml(&error), "{body:?}: {error}");
        assert!(error.to_string().contains(reason), "{body:?}: {error}");
    }
}

#[test]
fn xml_error_positions_point_into_the_input() {
    assert_eq!(
        xml_err("<a></a><b/>"),
        NormalizeError::MalformedXml {
            position: 7,
            reason: "more than one root element".to_owned()
        }
    );
    let invalid_utf8 = err(Some("text/xml"), b"<a>ok\xff</a>", None);
    assert_eq!(
        invalid_utf8,
        NormalizeError::MalformedXml {
            position: 5,
            reason: "invalid UTF-8".to_owned()
        }
    );
}

#[test]
fn xml_attribute_errors_have_absolute_positions() {
    let cases = [
        ("<r><a x='1' x='2'/></r>", 12, "duplicated attribute"),
        ("<r><a x/></r>", 7, "attribute name not followed by `=`"),
        ("<r><a x=1/></r>", 8, "attribute value not quoted"),
    ];
    for (body, position, reason) in cases {
        let expected = NormalizeError::MalformedXml {
            position,
            reason: reason.to_owned(),
        };
        assert_eq!(xml_err(body), expected, "{body}");
    }
}

#[test]
fn xml_errors_do_not_echo_long_names() {
    let long = "n".repeat(5_000);
    let error = xml_err(&format!("<{long}></x>"));
    assert!(error.to_string().len() < 300, "{}", error.to_string().len());
}

#[test]
fn xml_depth_limit() {
    let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    assert!(
        to_json(
            Some("application/xml"),
            nested(MAX_XML_DEPTH).as_bytes(),
            None
        )
        .is_ok()
    );
    let error = xml_err(&nested(MAX_XML_DEPTH + 1));
    assert_eq!(
        error,
        NormalizeError::XmlTooDeep {
            position: 300,
            limit: MAX_XML_DEPTH
        }
    );
    assert_eq!(error.status(), 400);
    // Far deeper input fails the same way, without touching the call stack.
    assert!(matches!(
        xml_err(&"<a>".repeat(200_000)),
        NormalizeError::XmlTooDeep { .. }
    ));
}

#[test]
fn xml_query_sits_beside_the_root_and_root_wins() {
    let value = ok(
        Some("text/xml"),
        b"<order><id>1</id></order>",
        Some("order=q&src=x&src=y"),
    );
    assert_eq!(value, json!({"order": {"id": "1"}, "src": ["x", "y"]}));
}
