//! The signed-payload template of the generic HMAC engine: `"{timestamp}.{body}"`,
//! `"v0:{header:X-Slack-Request-Timestamp}:{body}"`, ... Parsed once at load.

use http::{HeaderMap, HeaderName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(Vec<u8>),
    Body,
    Timestamp,
    Id,
    /// The URL the sender called: the route's `public_url` plus the request's sub-path and query.
    Url,
    Header(HeaderName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unclosed '{{' in payload template")]
    Unclosed,
    #[error("unmatched '}}' in payload template (write '}}}}' for a literal brace)")]
    Unmatched,
    #[error("empty placeholder '{{}}' in payload template")]
    Empty,
    #[error("invalid header name {0:?} in payload template")]
    BadHeader(String),
    #[error(
        "payload template must contain {{body}} exactly once: a signature that does not cover the body does not protect it"
    )]
    NoBody,
}

/// A value the template needs that the request did not carry.
#[derive(Debug, PartialEq, Eq)]
pub struct MissingValue(pub String);

impl Template {
    /// The default: the raw body alone.
    pub fn body_only() -> Template {
        Template {
            parts: vec![Part::Body],
        }
    }

    /// `{body}`, `{timestamp}`, `{id}`, `{url}`, `{header:Name}` (or a bare `{Name}`: any other
    /// name is a header); `{{` and `}}` are literal braces.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push(b'{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push(b'}');
                }
                '}' => return Err(TemplateError::Unmatched),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) => name.push(ch),
                            None => return Err(TemplateError::Unclosed),
                        }
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(placeholder(name.trim())?);
                }
                _ => {
                    let mut buf = [0u8; 4];
                    lit.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        if parts.iter().filter(|p| **p == Part::Body).count() != 1 {
            return Err(TemplateError::NoBody);
        }
        Ok(Template { parts })
    }

    pub fn uses(&self, part: &Part) -> bool {
        self.parts.contains(part)
    }

    /// The headers the template signs by name.
    pub fn headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.parts.iter().filter_map(|p| match p {
            Part::Header(h) => Some(h),
            _ => None,
        })
    }

    /// Feeds the signed bytes, piece by piece, without copying the body.
    pub fn feed(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        timestamp: Option<&[u8]>,
        id: Option<&[u8]>,
        url: Option<&[u8]>,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), MissingValue> {
        for part in &self.parts {
            match part {
                Part::Literal(b) => sink(b),
                Part::Body => sink(body),
                Part::Timestamp => sink(timestamp.ok_or_else(|| MissingValue("timestamp".into()))?),
                Part::Id => sink(id.ok_or_else(|| MissingValue("id".into()))?),
                Part::Url => sink(url.ok_or_else(|| MissingValue("url".into()))?),
                Part::Header(h) => sink(
                    headers
                        .get(h)
                        .map(|v| v.as_bytes())
                        .ok_or_else(|| MissingValue(h.as_str().to_string()))?,
                ),
            }
        }
        Ok(())
    }
}

fn placeholder(name: &str) -> Result<Part, TemplateError> {
    match name {
        "" => Err(TemplateError::Empty),
        "body" => Ok(Part::Body),
        "timestamp" => Ok(Part::Timestamp),
        "id" => Ok(Part::Id),
        "url" => Ok(Part::Url),
        other => {
            let header = other.strip_prefix("header:").unwrap_or(other).trim();
            HeaderName::from_bytes(header.as_bytes())
                .map(Part::Header)
                .map_err(|_| TemplateError::BadHeader(header.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(
        t: &Template,
        headers: &HeaderMap,
        ts: Option<&[u8]>,
    ) -> Result<Vec<u8>, MissingValue> {
        let mut out = Vec::new();
        t.feed(headers, b"BODY", ts, Some(b"ID"), Some(b"U"), |b| {
            out.extend_from_slice(b)
        })?;
        Ok(out)
    }

    #[test]
    fn parses_and_renders() {
        let t = Template::parse("{timestamp}.{body}").unwrap();
        assert_eq!(
            render(&t, &HeaderMap::new(), Some(b"123")).unwrap(),
            b"123.BODY"
        );
        let t = Template::parse("v0:{header:X-Ts}:{body}").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ts", "9".parse().unwrap());
        assert_eq!(render(&t, &h, None).unwrap(), b"v0:9:BODY");
        let t = Template::parse("{id}.{X-Ts}.{body}{{}}").unwrap();
        assert_eq!(render(&t, &h, None).unwrap(), b"ID.9.BODY{}");
    }

    #[test]
    fn missing_values_are_reported() {
        let t = Template::parse("{timestamp}.{body}").unwrap();
        assert_eq!(
            render(&t, &HeaderMap::new(), None),
            Err(MissingValue("timestamp".into()))
        );
        let t = Template::parse("{header:x-a}{body}").unwrap();
        assert_eq!(
            render(&t, &HeaderMap::new(), None),
            Err(MissingValue("x-a".into()))
        );
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(Template::parse("{timestamp}"), Err(TemplateError::NoBody));
        assert_eq!(Template::parse("{body}{body}"), Err(TemplateError::NoBody));
        assert_eq!(Template::parse("{body"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("{body}}"), Err(TemplateError::Unmatched));
        assert_eq!(Template::parse("{}{body}"), Err(TemplateError::Empty));
        assert!(matches!(
            Template::parse("{bad header}{body}"),
            Err(TemplateError::BadHeader(_))
        ));
    }
}
