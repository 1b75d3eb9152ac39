//! `normalize = "json"`: turn a verified webhook body (JSON, XML, url-encoded form or
//! multipart/form-data) plus the request's query parameters into ONE JSON object, which is
//! stored and forwarded upstream instead of the raw body.
//!
//! The signature has already been checked over the raw bytes, so this module only has to be
//! strict and predictable: every rejection is a short, client-facing reason
//! ([`NormalizeError`]), 400 for malformed input and 415 for content it does not convert.
//! It never panics on input and never recurses on input structure.
//!
//! # Content type
//!
//! The media type is matched case-insensitively; parameters are ignored except `boundary`
//! (multipart) and `charset`, which must be UTF-8 (`utf-8`/`utf8`) when present (else 415).
//! A header that is empty or only whitespace counts as absent.
//!
//! | media type                                                  | handling                |
//! |-------------------------------------------------------------|-------------------------|
//! | `application/json`, `*/*+json`                              | JSON                    |
//! | `application/xml`, `text/xml`, `*/*+xml`                    | XML                     |
//! | `application/x-www-form-urlencoded`                         | form                    |
//! | `multipart/form-data` (a `boundary` is required, else 400)  | multipart               |
//! | absent                                                      | sniffed, see below      |
//! | anything else                                               | 415                     |
//!
//! # Query parameters
//!
//! Parsed as `application/x-www-form-urlencoded`; every value is a string, a repeated key
//! becomes an array of strings in order. They are merged as top-level keys of the output
//! object and the BODY wins on a key conflict (the whole value, no array merging). A query
//! that is not UTF-8 after percent-decoding is a 400, but only when it is actually merged.
//!
//! # JSON
//!
//! The body must be valid JSON (400 otherwise). An object gets the query merged in and is
//! re-encoded compactly (serde_json without `arbitrary_precision`: integers beyond the
//! i64/u64 range come out as floats; key order is not preserved). Any other JSON value
//! (array, string, number, `true`/`false`/`null`) is passed through byte-for-byte, without
//! the query (which is still in the forwarded URL).
//!
//! # XML
//!
//! Streaming (`quick-xml`) with an explicit stack, so depth costs heap, not call stack;
//! nesting deeper than [`MAX_XML_DEPTH`] elements is a 400. The mapping:
//!
//! - the root element is the single top-level key: `<order><id>1</id></order>` →
//!   `{"order":{"id":"1"}}`;
//! - attributes become `"@name"` keys (values entity-unescaped, whitespace-normalized as the
//!   XML spec says for attributes);
//! - an element with only text becomes a string; an element that also has attributes or
//!   child elements keeps its text under `"#text"`;
//! - an element with neither text, attributes nor children (`<a/>`, `<a></a>`, `<a> </a>`)
//!   becomes `null`;
//! - repeated sibling elements with the same name become an array in document order (a
//!   single occurrence is never wrapped in an array);
//! - an element's text is all its text, CDATA and references concatenated in document order,
//!   then trimmed of XML whitespace at both ends (so whitespace-only text between child
//!   elements disappears; in mixed content the pieces are joined as they appear);
//! - CDATA is text; the five predefined entities and character references are unescaped;
//!   any other entity reference is a 400;
//! - names are kept verbatim, namespace prefixes included (`soap:Envelope`, `@xmlns:soap`);
//! - every value is a string: no number or boolean guessing;
//! - comments, processing instructions and the XML declaration are ignored, except that a
//!   declared encoding other than UTF-8 is a 415;
//! - a DOCTYPE is a 400 ("XML DOCTYPE is not allowed"): no entity expansion, no XXE;
//! - input that is not UTF-8, mismatched or unclosed tags, a second root, text outside the
//!   root and an empty document are 400s that name the byte offset.
//!
//! Query parameters sit beside the root key; the root key wins on a conflict.
//!
//! # Form (`application/x-www-form-urlencoded`)
//!
//! Every field is a string; a repeated key becomes an array of strings in order. A field that
//! is not UTF-8 after percent-decoding is a 400 (no silent U+FFFD replacement).
//!
//! # Multipart (`multipart/form-data`)
//!
//! A part without a filename is a text field and becomes a string (it must be UTF-8, else
//! 400). A part with a filename (even `filename=""`) becomes
//! `{"filename": .., "content_type": .. or null, "size": N, "content_base64": ".."}`
//! (standard alphabet, padded). A repeated field name becomes an array in order. A part
//! without a name, or a body multer cannot parse, is a 400.
//!
//! # No content type
//!
//! - empty body → `{}` (plus query);
//! - body that parses as JSON → handled as JSON;
//! - body that looks like a form → handled as a form. "Looks like a form" is deliberately
//!   narrow: it contains `=`, every byte is printable ASCII other than space (a form encoder
//!   percent-encodes everything else, so raw spaces, newlines or non-ASCII bytes mean some
//!   other format), and it does not start with `<`, `{` or `[` (XML- or JSON-looking text);
//! - anything else → 400 "cannot tell the body's format; send a Content-Type".

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use bytes::Bytes;
use quick_xml::XmlVersion;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde_json::{Map, Value};

/// Deepest element nesting accepted in an XML body (the root is depth 1).
pub const MAX_XML_DEPTH: usize = 100;

/// Longest piece of client-supplied text (a media type, an element name, a parser message)
/// echoed back in an error, in characters.
const MAX_ECHO_CHARS: usize = 120;

/// The media types listed in a 415, so the sender knows what would work.
const ACCEPTED: &str = "application/json (or */*+json), application/xml, text/xml (or */*+xml), \
                        application/x-www-form-urlencoded, multipart/form-data";

/// A body converted to one JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// JSON text: compact for objects, the original bytes for a non-object JSON body.
    pub body: Vec<u8>,
    /// The `Content-Type` header as received, `None` if absent.
    pub original_content_type: Option<String>,
}

/// Why a body could not be normalized. `Display` is the client-facing reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormalizeError {
    #[error("content type `{0}` is not converted to JSON; accepted: {ACCEPTED}")]
    UnsupportedMediaType(String),
    #[error("charset `{0}` is not supported; only UTF-8 is accepted")]
    UnsupportedCharset(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("malformed XML at byte {position}: {reason}")]
    MalformedXml { position: u64, reason: String },
    #[error("XML DOCTYPE is not allowed")]
    XmlDoctype,
    #[error("XML nested deeper than {limit} elements at byte {position}")]
    XmlTooDeep { position: u64, limit: usize },
    #[error("malformed form body: {0}")]
    MalformedForm(String),
    #[error("multipart/form-data needs a boundary parameter in the Content-Type")]
    MissingBoundary,
    #[error("malformed multipart body: {0}")]
    MalformedMultipart(String),
    #[error("malformed query string: {0}")]
    MalformedQuery(String),
    #[error("cannot tell the body's format; send a Content-Type")]
    UnknownFormat,
    /// Serializing a `serde_json::Value` cannot fail in practice; kept so nothing panics.
    #[error("could not encode the normalized body")]
    Encode,
}

impl NormalizeError {
    /// HTTP status to answer with: 415 for content this module does not convert, 400 for
    /// malformed input (500 only for the unreachable encoder failure).
    pub fn status(&self) -> u16 {
        match self {
            NormalizeError::UnsupportedMediaType(_) | NormalizeError::UnsupportedCharset(_) => 415,
            NormalizeError::Encode => 500,
            _ => 400,
        }
    }
}

/// Converts `body` (typed by `content_type`) plus the raw `query` string (without `?`) into
/// one JSON document. See the module documentation for the exact mapping.
pub fn to_json(
    content_type: Option<&str>,
    body: &[u8],
    query: Option<&str>,
) -> Result<Normalized, NormalizeError> {
    let media = content_type
        .map(MediaType::parse)
        .filter(|media| !media.essence.is_empty());
    let converted = match media {
        Some(media) => convert_typed(&media, body)?,
        None => sniff(body)?,
    };
    let json = match converted {
        Converted::Passthrough => body.to_vec(),
        Converted::Object(mut object) => {
            merge_query(&mut object, query)?;
            serde_json::to_vec(&Value::Object(object)).map_err(|_| NormalizeError::Encode)?
        }
    };
    Ok(Normalized {
        body: json,
        original_content_type: content_type.map(str::to_owned),
    })
}

/// What a body turned into before the query is merged.
enum Converted {
    /// A non-object JSON body: forwarded byte-for-byte.
    Passthrough,
    Object(Map<String, Value>),
}

// ---------------------------------------------------------------------------------------------
// Content type
// ---------------------------------------------------------------------------------------------

/// The parts of a `Content-Type` this module cares about.
struct MediaType {
    /// `type/subtype`, trimmed and lowercased.
    essence: String,
    charset: Option<String>,
    boundary: Option<String>,
}

impl MediaType {
    fn parse(raw: &str) -> MediaType {
        let mut pieces = raw.split(';');
        let essence = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut media = MediaType {
            essence,
            charset: None,
            boundary: None,
        };
        // A boundary cannot contain `;` (RFC 2046 bchars), so splitting on it is safe.
        for piece in pieces {
            let Some((name, value)) = piece.split_once('=') else {
                continue;
            };
            let value = unquote(value.trim()).to_owned();
            match name.trim().to_ascii_lowercase().as_str() {
                "charset" => media.charset = Some(value),
                "boundary" => media.boundary = Some(value),
                _ => {}
            }
        }
        media
    }
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Xml,
    Form,
    Multipart,
}

fn classify(essence: &str) -> Option<Format> {
    match essence {
        "application/json" => Some(Format::Json),
        "application/xml" | "text/xml" => Some(Format::Xml),
        "application/x-www-form-urlencoded" => Some(Format::Form),
        "multipart/form-data" => Some(Format::Multipart),
        _ if has_structured_suffix(essence, "+json") => Some(Format::Json),
        _ if has_structured_suffix(essence, "+xml") => Some(Format::Xml),
        _ => None,
    }
}

/// `type/name+suffix` with a non-empty type and name (RFC 6839 structured syntax suffix).
fn has_structured_suffix(essence: &str, suffix: &str) -> bool {
    match essence.split_once('/') {
        Some((kind, subtype)) => {
            !kind.is_empty() && subtype.len() > suffix.len() && subtype.ends_with(suffix)
        }
        None => false,
    }
}

fn check_charset(charset: Option<&str>) -> Result<(), NormalizeError> {
    match charset {
        None => Ok(()),
        Some(name) if is_utf8_label(name) => Ok(()),
        Some(name) => Err(NormalizeError::UnsupportedCharset(clip(name))),
    }
}

fn is_utf8_label(name: &str) -> bool {
    name.eq_ignore_ascii_case("utf-8") || name.eq_ignore_ascii_case("utf8")
}

fn convert_typed(media: &MediaType, body: &[u8]) -> Result<Converted, NormalizeError> {
    let format = classify(&media.essence)
        .ok_or_else(|| NormalizeError::UnsupportedMediaType(clip(&media.essence)))?;
    check_charset(media.charset.as_deref())?;
    match format {
        Format::Json => json_body(body),
        Format::Xml => xml_body(body).map(Converted::Object),
        Format::Form => form_body(body).map(Converted::Object),
        Format::Multipart => {
            let boundary = media
                .boundary
                .as_deref()
                .filter(|boundary| !boundary.is_empty())
                .ok_or(NormalizeError::MissingBoundary)?;
            multipart_body(body, boundary).map(Converted::Object)
        }
    }
}

/// No `Content-Type`: empty, then JSON, then a narrowly recognised form (see module docs).
fn sniff(body: &[u8]) -> Result<Converted, NormalizeError> {
    if body.is_empty() {
        return Ok(Converted::Object(Map::new()));
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Ok(json_value(value));
    }
    if looks_like_form(body) {
        return form_body(body).map(Converted::Object);
    }
    Err(NormalizeError::UnknownFormat)
}

fn looks_like_form(body: &[u8]) -> bool {
    let starts_like_markup = matches!(body.first(), Some(b'<' | b'{' | b'['));
    !starts_like_markup && body.contains(&b'=') && body.iter().all(u8::is_ascii_graphic)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Shortens client-supplied text before it goes into an error message.
fn clip(text: &str) -> String {
    let mut chars = text.chars();
    let mut clipped: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        clipped.push('…');
    }
    clipped
}

/// Inserts `value` under `key`; a second occurrence turns the entry into an array.
///
/// Relies on no source producing an array value of its own (form, query, multipart and XML
/// values are strings, nulls or objects), so an existing array always means "repeated".
fn push_repeated(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// Adds the query parameters the body does not already define.
fn merge_query(object: &mut Map<String, Value>, query: Option<&str>) -> Result<(), NormalizeError> {
    let raw = query.unwrap_or("");
    if raw.is_empty() {
        return Ok(());
    }
    let params = parse_urlencoded(raw.as_bytes()).map_err(NormalizeError::MalformedQuery)?;
    for (key, value) in params {
        object.entry(key).or_insert(value);
    }
    Ok(())
}

/// Parses `application/x-www-form-urlencoded` pairs, refusing non-UTF-8 instead of letting
/// `form_urlencoded` replace it with U+FFFD (the data would be silently altered).
fn parse_urlencoded(raw: &[u8]) -> Result<Map<String, Value>, String> {
    if !percent_decodes_to_utf8(raw) {
        return Err("not valid UTF-8 after percent-decoding".to_owned());
    }
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(raw) {
        push_repeated(
            &mut map,
            key.into_owned(),
            Value::String(value.into_owned()),
        );
    }
    Ok(map)
}

/// Percent-decodes the whole input the way `form_urlencoded` does (a `%` not followed by two
/// hex digits stays literal) and checks UTF-8. `&`, `=` and `+` are ASCII and `%XX` never
/// spans them, so the whole decodes to UTF-8 exactly when every key and value does.
fn percent_decodes_to_utf8(raw: &[u8]) -> bool {
    let mut decoded = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        match (byte, tail) {
            (b'%', [high, low, after @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                decoded.push(hex_value(*high) << 4 | hex_value(*low));
                rest = after;
            }
            _ => {
                decoded.push(byte);
                rest = tail;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// Value of an ASCII hex digit (callers check `is_ascii_hexdigit` first).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// JSON and form
// ---------------------------------------------------------------------------------------------

fn json_body(body: &[u8]) -> Result<Converted, NormalizeError> {
    // serde_json's messages name the problem and its line/column, never the input text, and
    // its recursion limit (128) keeps deep nesting from overflowing the stack.
    let value = serde_json::from_slice::<Value>(body)
        .map_err(|err| NormalizeError::MalformedJson(err.to_string()))?;
    Ok(json_value(value))
}

fn json_value(value: Value) -> Converted {
    match value {
        Value::Object(object) => Converted::Object(object),
        _ => Converted::Passthrough,
    }
}

fn form_body(body: &[u8]) -> Result<Map<String, Value>, NormalizeError> {
    parse_urlencoded(body).map_err(NormalizeError::MalformedForm)
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

/// An open element while its content is being read.
struct Frame {
    name: String,
    /// Attributes (`@name`) and child elements.
    fields: Map<String, Value>,
    /// Untrimmed text, CDATA and resolved references, in document order.
    text: String,
}

impl Frame {
    fn into_entry(self) -> (String, Value) {
        let text = trim_xml_space(&self.text);
        let value = match (self.fields.is_empty(), text.is_empty()) {
            (true, true) => Value::Null,
            (true, false) => Value::String(text.to_owned()),
            (false, _) => {
                let mut fields = self.fields;
                if !text.is_empty() {
                    fields.insert("#text".to_owned(), Value::String(text.to_owned()));
                }
                Value::Object(fields)
            }
        };
        (self.name, value)
    }
}

/// Builds the document iteratively: `stack` holds the open elements, `root` the finished root.
struct XmlBuilder {
    stack: Vec<Frame>,
    root: Option<(String, Value)>,
}

fn xml_body(body: &[u8]) -> Result<Map<String, Value>, NormalizeError> {
    // Checking UTF-8 up front gives a precise offset; quick-xml then works on `&str`.
    let text =
        std::str::from_utf8(body).map_err(|err| xml_error(err.valid_up_to(), "invalid UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut builder = XmlBuilder {
        stack: Vec::new(),
        root: None,
    };
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|err| xml_error(reader.error_position(), &err.to_string()))?;
        if !builder.apply(event, position)? {
            break;
        }
    }
    builder.finish(reader.buffer_position())
}

fn xml_error(position: impl TryInto<u64>, reason: &str) -> NormalizeError {
    NormalizeError::MalformedXml {
        position: position.try_into().unwrap_or(u64::MAX),
        reason: clip(reason),
    }
}

impl XmlBuilder {
    /// Applies one event that started at byte `at`; `false` once the input is exhausted.
    fn apply(&mut self, event: Event<'_>, at: u64) -> Result<bool, NormalizeError> {
        match event {
            Event::Start(start) => self.open(&start, at)?,
            Event::Empty(start) => {
                self.open(&start, at)?;
                self.close(at)?;
            }
            Event::End(_) => self.close(at)?,
            Event::Text(text) => self.add_text(&text.xml10_content(), at)?,
            Event::CData(cdata) => self.add_text(&cdata.xml10_content(), at)?,
            Event::GeneralRef(reference) => {
                self.add_text(&resolve_reference(&reference, at)?, at)?
            }
            Event::DocType(_) => return Err(NormalizeError::XmlDoctype),
            Event::Decl(decl) => check_declared_encoding(&decl, at)?,
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => return Ok(false),
        }
        Ok(true)
    }

    fn open(&mut self, start: &BytesStart<'_>, at: u64) -> Result<(), NormalizeError> {
        if self.stack.is_empty() && self.root.is_some() {
            return Err(xml_error(at, "more than one root element"));
        }
        if self.stack.len() >= MAX_XML_DEPTH {
            return Err(NormalizeError::XmlTooDeep {
                position: at,
                limit: MAX_XML_DEPTH,
            });
        }
        let frame = Frame {
            name: start.name().into_inner().to_owned(),
            fields: attributes(start, at)?,
            text: String::new(),
        };
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self, at: u64) -> Result<(), NormalizeError> {
        // quick-xml already rejects mismatched and unmatched end tags; this is a backstop.
        let frame = self
            .stack
            .pop()
            .ok_or_else(|| xml_error(at, "end tag without a start tag"))?;
        let (name, value) = frame.into_entry();
        match self.stack.last_mut() {
            Some(parent) => push_repeated(&mut parent.fields, name, value),
            None => self.root = Some((name, value)),
        }
        Ok(())
    }

    fn add_text(&mut self, text: &str, at: u64) -> Result<(), NormalizeError> {
        match self.stack.last_mut() {
            Some(frame) => frame.text.push_str(text),
            None if trim_xml_space(text).is_empty() => {}
            None => return Err(xml_error(at, "text outside the root element")),
        }
        Ok(())
    }

    fn finish(mut self, at: u64) -> Result<Map<String, Value>, NormalizeError> {
        if let Some(open) = self.stack.last() {
            let reason = format!("unclosed element <{}>", clip(&open.name));
            return Err(xml_error(at, &reason));
        }
        let (name, value) = self
            .root
            .take()
            .ok_or_else(|| xml_error(at, "empty document: no root element"))?;
        let mut object = Map::new();
        object.insert(name, value);
        Ok(object)
    }
}

fn attributes(start: &BytesStart<'_>, at: u64) -> Result<Map<String, Value>, NormalizeError> {
    let mut fields = Map::new();
    // `attributes()` checks for duplicates, so a plain insert cannot lose a value.
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|err| attribute_error(&err, at))?;
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| xml_error(at, &err.to_string()))?;
        let key = format!("@{}", attribute.key.into_inner());
        fields.insert(key, Value::String(value.into_owned()));
    }
    Ok(fields)
}

/// quick-xml reports attribute errors relative to the byte after the tag's `<`; the client
/// gets an absolute offset and a message without that relative position.
fn attribute_error(err: &AttrError, tag_start: u64) -> NormalizeError {
    let (relative, reason) = match err {
        AttrError::ExpectedEq(at) => (at, "attribute name not followed by `=`"),
        AttrError::ExpectedValue(at) => (at, "`=` not followed by an attribute value"),
        AttrError::UnquotedValue(at) => (at, "attribute value not quoted"),
        AttrError::ExpectedQuote(at, _) => (at, "attribute value without its closing quote"),
        AttrError::Duplicated(at, _) => (at, "duplicated attribute"),
    };
    let offset = u64::try_from(*relative).unwrap_or(u64::MAX);
    xml_error(tag_start.saturating_add(1).saturating_add(offset), reason)
}

/// Resolves `&#NN;`, `&#xNN;` and the five predefined entities; anything else needs a DTD,
/// which is refused, so it is an error rather than left verbatim.
fn resolve_reference(
    reference: &quick_xml::events::BytesRef<'_>,
    at: u64,
) -> Result<String, NormalizeError> {
    if let Some(character) = reference
        .resolve_char_ref()
        .map_err(|err| xml_error(at, &err.to_string()))?
    {
        return Ok(character.to_string());
    }
    let name: &str = reference;
    quick_xml::escape::resolve_predefined_entity(name)
        .map(str::to_owned)
        .ok_or_else(|| xml_error(at, &format!("unknown entity &{};", clip(name))))
}

fn check_declared_encoding(
    decl: &quick_xml::events::BytesDecl<'_>,
    at: u64,
) -> Result<(), NormalizeError> {
    match decl.encoding() {
        None => Ok(()),
        Some(Ok(name)) if is_utf8_label(&name) => Ok(()),
        Some(Ok(name)) => Err(NormalizeError::UnsupportedCharset(clip(&name))),
        Some(Err(err)) => Err(xml_error(at, &err.to_string())),
    }
}

/// Trims XML whitespace only (space, tab, CR, LF): `str::trim` would also eat U+00A0 and
/// friends, which are data (`&#160;`).
fn trim_xml_space(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

// ---------------------------------------------------------------------------------------------
// Multipart
// ---------------------------------------------------------------------------------------------

/// Upper bound on polls of the multipart future. The whole body is one ready chunk, so the
/// parser never has to wait; a `Pending` could only be spurious, and re-polling makes
/// progress. The bound turns a hypothetical stall into a 400 instead of a hang.
const MAX_POLLS: usize = 64;

fn multipart_body(body: &[u8], boundary: &str) -> Result<Map<String, Value>, NormalizeError> {
    let chunk = Bytes::copy_from_slice(body);
    let stream =
        futures_util::stream::once(futures_util::future::ready(Ok::<_, Infallible>(chunk)));
    let mut multipart = multer::Multipart::new(stream, boundary.to_owned());
    let parse = async move {
        let mut fields = Map::new();
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let (name, value) = read_part(field).await?;
            push_repeated(&mut fields, name, value);
        }
        Ok(fields)
    };
    poll_ready(parse).unwrap_or_else(|| {
        Err(NormalizeError::MalformedMultipart(
            "parser did not finish".to_owned(),
        ))
    })
}

async fn read_part(field: multer::Field<'_>) -> Result<(String, Value), NormalizeError> {
    let name = field.name().map(str::to_owned).ok_or_else(|| {
        NormalizeError::MalformedMultipart(
            "a part has no name in its Content-Disposition".to_owned(),
        )
    })?;
    let file_name = field.file_name().map(str::to_owned);
    let content_type = field.content_type().map(ToString::to_string);
    let data = field.bytes().await.map_err(multipart_error)?;
    let value = match file_name {
        Some(file_name) => file_value(file_name, content_type, &data),
        None => text_value(&name, data)?,
    };
    Ok((name, value))
}

fn text_value(name: &str, data: Bytes) -> Result<Value, NormalizeError> {
    String::from_utf8(data.to_vec())
        .map(Value::String)
        .map_err(|_| {
            NormalizeError::MalformedMultipart(format!("field `{}` is not valid UTF-8", clip(name)))
        })
}

fn file_value(file_name: String, content_type: Option<String>, data: &[u8]) -> Value {
    let mut file = Map::new();
    file.insert("filename".to_owned(), Value::String(file_name));
    file.insert(
        "content_type".to_owned(),
        content_type.map_or(Value::Null, Value::String),
    );
    file.insert("size".to_owned(), Value::from(data.len()));
    file.insert(
        "content_base64".to_owned(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(data)),
    );
    Value::Object(file)
}

fn multipart_error(err: multer::Error) -> NormalizeError {
    // multer's messages can quote field names, which the client chose: clip them.
    NormalizeError::MalformedMultipart(clip(&err.to_string()))
}

/// Polls a future that has everything it needs in memory, without a runtime.
fn poll_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
    }
    None
}

#[cfg(test)]
mod tests {
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
            assert!(
                message.contains("application/json") && message.contains("multipart/form-data")
            );
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

    #[test]
    fn json_output_is_compact() {
        let normalized = to_json(Some("application/json"), b"{ \"a\" : [ 1 , 2 ] }\n", None);
        assert_eq!(normalized.map(|n| n.body), Ok(br#"{"a":[1,2]}"#.to_vec()));
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

    // --- XML -----------------------------------------------------------------------------

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
        let body = r#"<r q="&quot;x&quot; &amp; &#x41;">  Tom &amp; Jerry &lt;3 &#65;&#x42;&apos;&gt; </r>"#;
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
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
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

    // --- robustness ----------------------------------------------------------------------

    /// Deterministic pseudo-random numbers (Knuth's MMIX LCG), to avoid a fuzzing dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next_byte(&mut self) -> u8 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // The high bits of an LCG are the random-looking ones.
            (self.0 >> 56) as u8
        }

        /// A number in `0..bound` (0 when `bound` is 0).
        fn below(&mut self, bound: usize) -> usize {
            let wide = u16::from_be_bytes([self.next_byte(), self.next_byte()]);
            usize::from(wide) % bound.max(1)
        }

        /// A byte, biased towards the characters the formats' grammars care about.
        fn interesting_byte(&mut self) -> u8 {
            const ALPHABET: &[u8] = b"<>/=&%\"'![]{}:;,-+?#\r\n \tCDATA-abc123";
            match self.next_byte() % 3 {
                0 => self.next_byte(),
                _ => ALPHABET[self.below(ALPHABET.len())],
            }
        }
    }

    fn random_bytes(rng: &mut Lcg, max_len: usize) -> Vec<u8> {
        let len = rng.below(max_len);
        (0..len).map(|_| rng.interesting_byte()).collect()
    }

    /// Overwrites, inserts or deletes a few bytes of a valid body, so the parsers get past
    /// their first checks and fail (or succeed) deep inside.
    fn mutate(rng: &mut Lcg, seed: &[u8]) -> Vec<u8> {
        let mut body = seed.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(body.len() + 1);
            match rng.next_byte() % 3 {
                0 if at < body.len() => body[at] = rng.interesting_byte(),
                1 if at < body.len() => {
                    body.remove(at);
                }
                _ => body.insert(at, rng.interesting_byte()),
            }
        }
        body
    }

    fn multipart_ct() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    /// Runs one input; success must always produce JSON text.
    fn check_never_panics(content_type: Option<&str>, body: &[u8], query: &str) {
        if let Ok(normalized) = to_json(content_type, body, Some(query)) {
            let parsed = serde_json::from_slice::<Value>(&normalized.body);
            assert!(parsed.is_ok(), "{content_type:?} {body:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic_for_any_content_type() {
        let multipart_ct = multipart_ct();
        let content_types = [
            None,
            Some("application/json"),
            Some("application/problem+json"),
            Some("application/xml"),
            Some("text/xml"),
            Some("application/x-www-form-urlencoded"),
            Some(multipart_ct.as_str()),
            Some("multipart/form-data"),
            Some("text/plain"),
        ];
        let mut rng = Lcg(0x5eed);
        for _ in 0..2_000 {
            let body = random_bytes(&mut rng, 400);
            let query = String::from_utf8_lossy(&random_bytes(&mut rng, 40)).into_owned();
            for content_type in content_types {
                check_never_panics(content_type, &body, &query);
            }
        }
    }

    #[test]
    fn mutated_valid_bodies_never_panic() {
        let multipart_ct = multipart_ct();
        let multipart_seed = multipart(&[
            ("Content-Disposition: form-data; name=\"a\"", "1"),
            (
                "Content-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\nContent-Type: application/octet-stream",
                "\u{0}\u{1}binary",
            ),
        ]);
        let seeds: [(Option<&str>, &[u8]); 5] = [
            (Some("application/json"), br#"{"a":[1,{"b":"c\u00e9"}],"d":null}"#),
            (
                Some("application/xml"),
                b"<?xml version='1.0'?><r a='1' b=\"&amp;\"><x>1</x><x><![CDATA[y]]></x>t&#65;<e/></r>",
            ),
            (Some("application/x-www-form-urlencoded"), b"a=1&b=%C3%A9&b=x+y&c"),
            (Some(multipart_ct.as_str()), &multipart_seed),
            (None, b"a=1&b=2"),
        ];
        let mut rng = Lcg(0xdecaf);
        let mut successes = 0;
        for round in 0..4_000 {
            let (content_type, seed) = seeds[round % seeds.len()];
            let body = mutate(&mut rng, seed);
            check_never_panics(content_type, &body, "q=1&q=2");
            successes += usize::from(to_json(content_type, &body, None).is_ok());
        }
        // The mutations must not be so destructive that only error paths run.
        assert!(
            successes > 400,
            "only {successes} mutated bodies were accepted"
        );
    }
}
