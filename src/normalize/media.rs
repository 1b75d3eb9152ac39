//! Media types (`Content-Type`): the crate's one parser, used by the route rules and a
//! `response` body's escaping (the essence) and by normalisation (also `charset` and
//! `boundary`).

use super::{NormalizeError, clip};

/// The parts of a `Content-Type` hookgate cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, trimmed and lowercased.
    pub essence: String,
    pub charset: Option<String>,
    pub boundary: Option<String>,
}

impl MediaType {
    /// Parses a `Content-Type` value; `None` when its essence is empty (blank counts as absent).
    pub fn parse(raw: &str) -> Option<MediaType> {
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
        (!media.essence.is_empty()).then_some(media)
    }

    /// Whether this type is in `range`: a type (`application/json`) or a whole type
    /// (`text/*`), lowercase and without parameters as routes' `content_types` hold them.
    /// Whether `text` (trimmed, lowercased) is a media range as a config lists them:
    /// `type/subtype` or `type/*`, each an RFC 9110 token.
    pub fn is_range(text: &str) -> bool {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        matches!(text.split_once('/'), Some((ty, sub)) if token(ty) && (token(sub) || sub == "*"))
    }

    pub fn in_range(&self, range: &str) -> bool {
        range == self.essence
            || range
                .strip_suffix("/*")
                .is_some_and(|ty| self.essence.split('/').next() == Some(ty))
    }
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

#[derive(Clone, Copy)]
pub(super) enum Format {
    Json,
    Xml,
    Form,
    Multipart,
}

pub(super) fn classify(essence: &str) -> Option<Format> {
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

pub(super) fn check_charset(charset: Option<&str>) -> Result<(), NormalizeError> {
    match charset {
        None => Ok(()),
        Some(name) if is_utf8_label(name) => Ok(()),
        Some(name) => Err(NormalizeError::UnsupportedCharset(clip(name))),
    }
}

pub(super) fn is_utf8_label(name: &str) -> bool {
    name.eq_ignore_ascii_case("utf-8") || name.eq_ignore_ascii_case("utf8")
}
