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
//! The body must be valid JSON (400 otherwise; nesting at most 128 deep, numbers within
//! `f64`'s range, as `serde_json::Value` parses it). It is never re-encoded, so every number
//! stays exactly as written: the body passes byte-for-byte, except that an object gets the
//! query parameters it does not have inserted before its closing brace. Any other JSON value
//! (array, string, number, `true`/`false`/`null`) passes without the query (which is still in
//! the forwarded URL).
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
//! The Content-Type is not signed, and a form parser takes any bytes: so that the same signed
//! bytes normalise to one document whatever they are called (or are refused), a body that is
//! JSON is read as JSON, and one that starts like another format (`<`, `{` or `[` after
//! whitespace, or `--`) is a 400. A form encoder percent-encodes all of these.
//!
//! # Multipart (`multipart/form-data`)
//!
//! A part without a filename is a text field and becomes a string (it must be UTF-8, else
//! 400). A part with a filename (even `filename=""`) becomes
//! `{"filename": .., "content_type": .. or null, "size": N, "content_base64": ".."}`
//! (standard alphabet, padded). A repeated field name becomes an array in order. A part
//! without a name, or a body multer cannot parse, is a 400. The body must open with the
//! boundary line (`--BOUNDARY` CRLF): no preamble, so a boundary named by the unsigned
//! Content-Type cannot pick parts out of the middle of other signed text.
//!
//! # No content type
//!
//! - empty body → `{}` (plus query);
//! - body that parses as JSON → handled as JSON;
//! - body that looks like a form → handled as a form. "Looks like a form" is deliberately
//!   narrow: it contains `=`, every byte is printable ASCII other than space (a form encoder
//!   percent-encodes everything else, so raw spaces, newlines or non-ASCII bytes mean some
//!   other format), and it does not start with `<`, `{`, `[` (XML- or JSON-looking text) or
//!   `--` (a multipart boundary);
//! - anything else → 400 "cannot tell the body's format; send a Content-Type".

mod form;
mod json;
pub(crate) mod media;
mod multipart;
#[cfg(test)]
mod tests;
mod xml;

use serde_json::{Map, Value};

use media::MediaType;
pub use xml::MAX_XML_DEPTH;

/// Longest piece of client-supplied text (a media type, an element name, a parser message)
/// echoed back in an error, in characters.
const MAX_ECHO_CHARS: usize = 120;

/// The media types listed in a 415, so the sender knows what would work.
const ACCEPTED: &str = "application/json (or */*+json), application/xml, text/xml (or */*+xml), \
                        application/x-www-form-urlencoded, multipart/form-data";

/// A body converted to one JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// JSON text: a JSON body as sent (an object with the query's parameters added), else
    /// the compact encoding of the converted object.
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
    #[error("the body is called a form but starts like {0}; send its own Content-Type")]
    NotAForm(&'static str),
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
    let media = content_type.and_then(MediaType::parse);
    let converted = match media {
        Some(media) => convert_typed(&media, body)?,
        None => sniff(body)?,
    };
    let json = match converted {
        Converted::Json => json::with_query(body, query)?,
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
    /// The body is JSON: kept as its text (see `json`).
    Json,
    /// An XML, form or multipart body: every value a string.
    Object(Map<String, Value>),
}

fn convert_typed(media: &MediaType, body: &[u8]) -> Result<Converted, NormalizeError> {
    let format = media::classify(&media.essence)
        .ok_or_else(|| NormalizeError::UnsupportedMediaType(clip(&media.essence)))?;
    media::check_charset(media.charset.as_deref())?;
    match format {
        media::Format::Json => Ok(Converted::Json),
        // The Content-Type is not signed: a JSON body called a form would be split at every
        // `&` and `=` inside its strings, into fields (an event ID among them) the sender never
        // signed as such. A body that is JSON is read as JSON, whatever it is called; one that
        // is XML or multipart is refused (see `form::other_format`).
        media::Format::Form if json::is_json(body) => Ok(Converted::Json),
        media::Format::Xml => xml::body(body).map(Converted::Object),
        media::Format::Form => match form::other_format(body) {
            Some(other) => Err(NormalizeError::NotAForm(other)),
            None => form::body(body).map(Converted::Object),
        },
        media::Format::Multipart => {
            let boundary = media
                .boundary
                .as_deref()
                .filter(|boundary| !boundary.is_empty())
                .ok_or(NormalizeError::MissingBoundary)?;
            multipart::body(body, boundary).map(Converted::Object)
        }
    }
}

/// No `Content-Type`: empty, then JSON, then a narrowly recognised form (see module docs).
fn sniff(body: &[u8]) -> Result<Converted, NormalizeError> {
    if body.is_empty() {
        return Ok(Converted::Object(Map::new()));
    }
    if json::is_json(body) {
        return Ok(Converted::Json);
    }
    if form::looks_like(body) {
        return form::body(body).map(Converted::Object);
    }
    Err(NormalizeError::UnknownFormat)
}

/// Shortens client-supplied text before it goes into an error message.
pub(super) fn clip(text: &str) -> String {
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
pub(super) fn push_repeated(map: &mut Map<String, Value>, key: String, value: Value) {
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
    let params = form::parse_urlencoded(raw.as_bytes()).map_err(NormalizeError::MalformedQuery)?;
    for (key, value) in params {
        object.entry(key).or_insert(value);
    }
    Ok(())
}
