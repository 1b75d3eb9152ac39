//! `application/x-www-form-urlencoded` bodies and query strings.

use serde_json::{Map, Value};

use super::{NormalizeError, push_repeated};

pub(super) fn looks_like(body: &[u8]) -> bool {
    other_format(body).is_none() && body.contains(&b'=') && body.iter().all(u8::is_ascii_graphic)
}

/// The format a body called a form starts like, if another: a form encoder percent-encodes
/// `<`, `{` and `[`, and no field name starts with `--`. Refusing these keeps every body to one
/// reading whatever its (unsigned) Content-Type says: XML needs a `<` first (after whitespace
/// or a byte-order mark), multipart its boundary line, and JSON is read as JSON.
pub(super) fn other_format(body: &[u8]) -> Option<&'static str> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let start = body.strip_prefix(BOM).unwrap_or(body).trim_ascii_start();
    match start.first() {
        Some(b'<') => Some("XML"),
        Some(b'{' | b'[') => Some("JSON"),
        _ if body.starts_with(b"--") => Some("multipart"),
        _ => None,
    }
}

pub(super) fn body(body: &[u8]) -> Result<Map<String, Value>, NormalizeError> {
    parse_urlencoded(body).map_err(NormalizeError::MalformedForm)
}

/// Parses `application/x-www-form-urlencoded` pairs, refusing non-UTF-8 instead of letting
/// `form_urlencoded` replace it with U+FFFD (the data would be silently altered).
pub(super) fn parse_urlencoded(raw: &[u8]) -> Result<Map<String, Value>, String> {
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
