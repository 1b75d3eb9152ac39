//! XML bodies, read as a stream with an explicit stack (see the module docs for the mapping).

use quick_xml::XmlVersion;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde_json::{Map, Value};

use super::media::is_utf8_label;
use super::{NormalizeError, clip, push_repeated};

/// Deepest element nesting accepted in an XML body (the root is depth 1).
pub const MAX_XML_DEPTH: usize = 100;

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

pub(super) fn body(body: &[u8]) -> Result<Map<String, Value>, NormalizeError> {
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
