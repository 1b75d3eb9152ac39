//! The one rule for request paths hookgate forwards. The sub-path below a route is appended to
//! the upstream's base path, and every server between hookgate and the handler decodes and
//! normalises paths its own way (WHATWG reads `\` as `/`, Tomcat drops `;params`, IIS trims
//! trailing dots, some frameworks decode twice). Rather than guess each one, a path is refused
//! unless every reading of it stays below the base path:
//!
//! - raw bytes: only RFC 3986 path characters (`A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , = : @ /`
//!   and `%XX`); so no `\`, `;`, space, control or non-ASCII byte;
//! - escapes: well-formed `%XX` only, never of `/`, `\`, `.`, `%` (double encoding), `;` or a
//!   control byte, and decoding to valid UTF-8 without look-alikes of `.`, `/` and `\` — as
//!   read after Unicode normalisation too (NFKC, which some frameworks apply: `‥` is `..`,
//!   `℀` is `a/c`, a no-break space a space);
//! - segments: no `.` or `..` (nor any segment of only dots and spaces), and no empty segment
//!   (`//`) except a trailing `/`.
//!
//! The query is not checked here: it is set as a query, structurally, and cannot move the path.

use std::borrow::Cow;

/// Why a path is refused; the text goes into the 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("path must not contain {0}")]
    Byte(&'static str),
    #[error("path must not contain a malformed '%' escape")]
    BadEscape,
    #[error("path must not contain an encoded {0}")]
    Encoded(&'static str),
    #[error("path must not contain encoded bytes that are not UTF-8")]
    NotUtf8,
    #[error("path must not contain a look-alike of '.', '/' or '\\'")]
    LookAlike,
    #[error("path must not contain '.' or '..' segments")]
    DotSegment,
    #[error("path must not contain empty segments ('//')")]
    EmptySegment,
}

/// Checks the path of `path_and_query` (everything before the first `?`).
pub fn check(path_and_query: &str) -> Result<(), PathError> {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let Some(body) = path.strip_prefix('/') else {
        return Err(PathError::NotAbsolute);
    };
    for b in path.bytes() {
        raw_byte(b)?;
    }
    let mut segments = body.split('/').peekable();
    while let Some(seg) = segments.next() {
        // "/" alone and a trailing "/" are the only empty segments.
        if seg.is_empty() && segments.peek().is_some() {
            return Err(PathError::EmptySegment);
        }
        // Without an escape a segment is itself decoded: its bytes passed `raw_byte`, all
        // ASCII, none a look-alike (checked per request: no copy then).
        let decoded = if seg.contains('%') {
            Cow::Owned(decode(seg)?)
        } else {
            Cow::Borrowed(seg)
        };
        if dot_segment(&decoded) {
            return Err(PathError::DotSegment);
        }
    }
    Ok(())
}

/// Only dots and spaces, which Windows and IIS trim to a `.` or `..` segment (any whitespace
/// counts: NFKC turns most of Unicode's spaces into ' ', and trimming reads the others alike).
fn dot_segment(seg: &str) -> bool {
    !seg.is_empty() && seg.chars().all(|c| c == '.' || c.is_whitespace())
}

fn raw_byte(b: u8) -> Result<(), PathError> {
    match b {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => Ok(()),
        b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' => {
            Ok(())
        }
        b',' | b'=' | b':' | b'@' | b'/' | b'%' => Ok(()),
        b'\\' => Err(PathError::Byte("'\\'")),
        b';' => Err(PathError::Byte("';'")),
        0..=0x1f | 0x7f => Err(PathError::Byte("control characters")),
        0x80.. => Err(PathError::Byte("non-ASCII bytes (percent-encode them)")),
        _ => Err(PathError::Byte("characters outside RFC 3986 paths")),
    }
}

/// Percent-decodes one segment, refusing the escapes that could change how it is split.
fn decode(seg: &str) -> Result<String, PathError> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |b: u8| (b as char).to_digit(16);
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::BadEscape);
        };
        let b = (hi * 16 + lo) as u8;
        let what = match b {
            b'/' => Some("'/'"),
            b'\\' => Some("'\\'"),
            b'.' => Some("'.'"),
            b'%' => Some("'%' (double encoding)"),
            b';' => Some("';'"),
            0..=0x1f | 0x7f => Some("control character"),
            // RFC 3986 calls `/x` and `/%78` the same path, and upstreams that normalise decode
            // one into the other; routes match the bytes as sent. A sender has no reason to
            // encode these.
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => {
                Some("an unreserved character (send it as is)")
            }
            _ => None,
        };
        if let Some(what) = what {
            return Err(PathError::Encoded(what));
        }
        out.push(b);
        i += 3;
    }
    let text = String::from_utf8(out).map_err(|_| PathError::NotUtf8)?;
    if text.chars().any(look_alike) {
        return Err(PathError::LookAlike);
    }
    // What an upstream that normalises reads: no separator or escape the raw rule refuses, and
    // no dot segment (`‥` U+2025 is `..`, `…` U+2026 `...`, `..` + U+00A0 `.. `). Applied to
    // what NFKC makes of the segment rather than to a list of characters, which would always
    // miss some. ASCII is its own NFKC form: a segment without escapes needs no pass.
    let nfkc = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(&text);
    if nfkc != text.as_str() {
        if nfkc
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '%' | ';') || c.is_control() || look_alike(c))
        {
            return Err(PathError::LookAlike);
        }
        if dot_segment(&nfkc) {
            return Err(PathError::DotSegment);
        }
    }
    Ok(text)
}

/// Characters that a lenient decoder (Windows' best-fit mappings) or Unicode normalisation
/// (NFKC, used by some frameworks; also checked on its own output in `decode`) turns into `.`,
/// `/` or `\`.
fn look_alike(c: char) -> bool {
    matches!(
        c,
        '\u{2024}' // one dot leader
            | '\u{FE52}' // small full stop
            | '\u{FF0E}' // fullwidth full stop
            | '\u{2044}' // fraction slash
            | '\u{2215}' // division slash
            | '\u{FF0F}' // fullwidth solidus
            | '\u{29F5}' // reverse solidus operator
            | '\u{FE68}' // small reverse solidus
            | '\u{FF3C}' // fullwidth reverse solidus
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for p in [
            "/",
            "/hooks/a",
            "/hooks/a/",
            "/hooks/a..b/c?x=../&y=\\",
            "/hooks/%20x/%C3%A9",
            "/hooks/@127.0.0.1:1/x",
            "/hooks/a.b/.well-known",
            "/hooks/~user/!$&'()*+,=:@",
            "/hooks/a%e2%80%a6b/%c2%a0x",
        ] {
            assert_eq!(check(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn refused() {
        for p in [
            "",
            "hooks",
            "/hooks/a/../b",
            "/hooks/./b",
            "/hooks/..",
            "/hooks/...",
            "/hooks/..%20",
            "/hooks/a/%2E%2e/b",
            "/hooks/%2e",
            "/hooks/a%2fb",
            "/hooks/a%2Fb",
            "/hooks/a%5cb",
            "/hooks/a%255c",
            "/hooks/a%3bb",
            "/hooks/a%00b",
            "/hooks/a%0d%0ab",
            "/hooks/a%7f",
            "/hooks/a%zz",
            "/hooks/a%2",
            "/hooks/%c0%ae%c0%ae/x",
            "/hooks/%ef%bc%8f",
            "/hooks/%ef%bc%8e%ef%bc%8e",
            "/hooks/a\\b",
            "/hooks/..\\..\\admin",
            "/hooks/a;b",
            "/hooks/..;/admin",
            "/hooks//a",
            "//evil.example/x",
            "/hooks/a b",
            "/hooks/a\u{1}",
            "/hooks/é",
            "/hooks/a\"b",
            "/hooks/a<b>",
            "/hooks/{a}",
            "/hooks/a|b",
            "/hooks/a^b",
            "/hooks/a`b",
            "/hooks/[::1]",
            // NFKC: two dot leader, its vertical form, ellipses, a no-break and an ideographic
            // space after dots, ACCOUNT OF (a/c), fullwidth '%' and ';'.
            "/hooks/%e2%80%a5/x",
            "/hooks/%ef%b8%b0/x",
            "/hooks/%e2%80%a6/x",
            "/hooks/%ef%b8%99/x",
            "/hooks/..%c2%a0/x",
            "/hooks/%e3%80%80../x",
            "/hooks/%e2%84%80",
            "/hooks/%e2%84%85",
            "/hooks/%ef%bc%852e",
            "/hooks/a%ef%bc%9b",
        ] {
            assert!(check(p).is_err(), "{p:?} was accepted");
        }
    }
}
