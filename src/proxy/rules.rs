//! Per-route request rules, checked before the body is read: required headers (exact or
//! regex) and accepted content types.

use http::HeaderMap;

use super::Answer;
use crate::metrics::RequestOutcome;
use crate::normalize::media::MediaType;
use crate::routing::Route;

/// Every `require_headers` rule holds (403 otherwise; the expected value is not disclosed): the
/// header is present, and every copy of it matches — the upstream gets them all, and which one
/// it reads is its framework's choice.
pub fn required_headers(route: &Route, headers: &HeaderMap) -> Result<(), Answer> {
    for (name, rule) in &route.require_headers {
        let mut values = headers.get_all(name).iter().peekable();
        let ok = values.peek().is_some() && values.all(|v| rule.matches(v.as_bytes()));
        if !ok {
            return Err(Answer::refuse(
                RequestOutcome::Forbidden,
                format!("header {name} is missing or does not match this route's rule"),
            ));
        }
    }
    Ok(())
}

/// The content type is one the route accepts (415 otherwise). `type/*` matches a whole type.
/// Every copy of a repeated `Content-Type` must be (as for `require_headers`): the upstream
/// gets them all and may read another than the first.
pub fn content_type(route: &Route, headers: &HeaderMap) -> Result<(), Answer> {
    if route.content_types.is_empty() {
        return Ok(());
    }
    let values = headers.get_all(http::header::CONTENT_TYPE);
    if values.iter().next().is_none() {
        return Err(required());
    }
    for value in values {
        let Some(t) = value.to_str().ok().and_then(MediaType::parse) else {
            return Err(required());
        };
        if !route.content_types.iter().any(|range| t.in_range(range)) {
            return Err(Answer::refuse(
                RequestOutcome::UnsupportedMediaType,
                format!(
                    "content type {:?} is not accepted here (accepted: {})",
                    t.essence,
                    route.content_types.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn required() -> Answer {
    Answer::refuse(
        RequestOutcome::UnsupportedMediaType,
        "a Content-Type header is required on this route",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::HeaderRule;
    use http::{HeaderName, HeaderValue};

    fn route() -> Route {
        let mut r = Route::for_test("r", "/r");
        r.require_headers = vec![
            (
                HeaderName::from_static("user-agent"),
                HeaderRule::Exact("LindoAI-Webhooks/1.0".into()),
            ),
            (
                HeaderName::from_static("x-env"),
                HeaderRule::Pattern(regex::Regex::new("^(prod|staging)$").unwrap()),
            ),
        ];
        r.content_types = vec!["application/json".into(), "text/*".into()];
        r
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn header_rules() {
        let r = route();
        let ok = headers(&[("user-agent", "LindoAI-Webhooks/1.0"), ("x-env", "prod")]);
        assert!(required_headers(&r, &ok).is_ok());
        let refused = required_headers(
            &r,
            &headers(&[("user-agent", "LindoAI-Webhooks/1.1"), ("x-env", "prod")]),
        )
        .unwrap_err();
        assert_eq!(refused.status, 403);
        let why = String::from_utf8_lossy(&refused.body);
        assert!(
            why.contains("user-agent") && !why.contains("LindoAI"),
            "{why}"
        );
        assert!(
            required_headers(
                &r,
                &headers(&[("user-agent", "LindoAI-Webhooks/1.0"), ("x-env", "dev")])
            )
            .is_err()
        );
        assert!(required_headers(&r, &headers(&[("x-env", "prod")])).is_err());
        let twice = |env: &'static str| {
            let ua = ("user-agent", "LindoAI-Webhooks/1.0");
            required_headers(&r, &headers(&[ua, ("x-env", "prod"), ("x-env", env)]))
        };
        assert!(twice("staging").is_ok());
        assert!(twice("dev").is_err(), "every copy must match");
    }

    #[test]
    fn content_types() {
        let r = route();
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/xml",
        ] {
            let h = headers(&[("content-type", ok)]);
            assert!(content_type(&r, &h).is_ok(), "{ok}");
        }
        let h = headers(&[("content-type", "application/xml")]);
        assert_eq!(content_type(&r, &h).unwrap_err().status, 415);
        let h = headers(&[
            ("content-type", "text/plain"),
            ("content-type", "application/json"),
        ]);
        assert!(content_type(&r, &h).is_ok());
        let h = headers(&[
            ("content-type", "application/json"),
            ("content-type", "image/png"),
        ]);
        assert_eq!(content_type(&r, &h).unwrap_err().status, 415, "every copy");
        let h = headers(&[("content-type", "application/json"), ("content-type", " ")]);
        assert_eq!(
            content_type(&r, &h).unwrap_err().status,
            415,
            "a blank copy"
        );
        assert_eq!(content_type(&r, &HeaderMap::new()).unwrap_err().status, 415);
        let any = Route::for_test("any", "/any");
        assert!(content_type(&any, &HeaderMap::new()).is_ok());
    }
}
