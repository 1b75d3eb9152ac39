//! Query parameters of the admin API: every endpoint names the ones it takes (anything else is
//! a 400, never silently ignored), and the events filters are parsed here.

use std::time::UNIX_EPOCH;

use http::{Response, StatusCode};

use crate::store::{EventFilter, StateClass, StatusFilter};

/// A request's parameters refused: 400 with `unknown_parameter` or `bad_parameter`.
#[derive(Debug)]
pub struct Refusal {
    unknown: bool,
    detail: String,
}

impl Refusal {
    pub fn reply(self) -> Response<Vec<u8>> {
        let code = if self.unknown {
            "unknown_parameter"
        } else {
            "bad_parameter"
        };
        super::error(StatusCode::BAD_REQUEST, code, self.detail)
    }
}

/// The parsed query string of a request.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty value of `key`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// 400 for a parameter given without a value: to a bulk operation an empty filter would
    /// read as none and widen it to every route's events (`route=$UNSET`).
    pub fn no_empty(&self) -> Result<(), Refusal> {
        match self.0.iter().find(|(_, v)| v.is_empty()) {
            Some((k, _)) => Err(bad(format!(
                "{k}: empty; leave the parameter out to mean all"
            ))),
            None => Ok(()),
        }
    }

    /// 400 `unknown_parameter` for a parameter not in `allowed`, or one given twice.
    pub fn only(&self, allowed: &[&str]) -> Result<(), Refusal> {
        for (i, (k, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                let takes = if allowed.is_empty() {
                    "this endpoint takes none".to_string()
                } else {
                    format!("this endpoint takes {}", allowed.join(", "))
                };
                return Err(Refusal {
                    unknown: true,
                    detail: format!("unknown query parameter {k:?}: {takes}"),
                });
            }
            if self.0[..i].iter().any(|(p, _)| p == k) {
                return Err(bad(format!("{k} given more than once")));
            }
        }
        Ok(())
    }
}

/// A page's `limit`: `default` when absent, else a number from 1 to `max` (anything else is
/// refused, not replaced by a default).
pub fn page_limit(v: Option<&str>, default: usize, max: usize) -> Result<usize, Refusal> {
    match v.map(str::parse::<usize>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(bad(format!("limit: a number from 1 to {max}"))),
    }
}

pub fn bad(detail: impl Into<String>) -> Refusal {
    Refusal {
        unknown: false,
        detail: detail.into(),
    }
}

/// Parameters each endpoint takes, by method and path shape.
pub fn allowed(method: &http::Method, segments: &[&str]) -> &'static [&'static str] {
    const FILTERS: &[&str] = &["route", "state", "since", "until", "status", "q"];
    match (method.as_str(), segments) {
        ("GET", ["events"]) => &[
            "route", "state", "since", "until", "status", "q", "limit", "after",
        ],
        ("POST", ["events", "replay" | "cancel"]) => FILTERS,
        ("DELETE", ["dlq"]) => &["route", "since", "until", "status", "q"],
        ("GET", ["dlq"]) => &["route", "after", "limit"],
        (_, ["events", _] | ["events", _, _] | ["dlq", "replay"] | ["dlq", _, "replay"]) => {
            &["route"]
        }
        _ => &[],
    }
}

/// An instant: RFC 3339 in UTC (`2026-11-29T16:04:05.123Z`) or epoch milliseconds.
pub fn parse_time(key: &str, v: &str) -> Result<u64, Refusal> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v
            .parse()
            .map_err(|_| bad(format!("{key}: {v:?} is out of range")));
    }
    humantime::parse_rfc3339(v)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .ok_or_else(|| {
            bad(format!(
                "{key}: {v:?} is not an RFC 3339 UTC time (2026-11-29T16:04:05Z) or epoch milliseconds"
            ))
        })
}

pub use crate::event::rfc3339_ms as fmt_time;

/// The events filter of a request; `routes` are the routes it covers, `default_state` the
/// states taken when none is asked for.
pub fn filter(
    q: &Query,
    routes: Vec<String>,
    default_state: &[StateClass],
) -> Result<EventFilter, Refusal> {
    let states = match q.value("state") {
        None => default_state.to_vec(),
        Some(list) => list
            .split(',')
            .map(|s| {
                StateClass::parse(s.trim()).ok_or_else(|| {
                    bad(format!(
                        "state: {s:?} is not one of pending, delivered, dead"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let time = |k: &str| q.value(k).map(|v| parse_time(k, v)).transpose();
    let (since_ms, until_ms) = (time("since")?, time("until")?);
    if let (Some(s), Some(u)) = (since_ms, until_ms)
        && s > u
    {
        return Err(bad("since is after until"));
    }
    let status = q
        .value("status")
        .map(|v| {
            StatusFilter::parse(v).ok_or_else(|| {
                bad(format!(
                    "status: {v:?} is not an HTTP status (502), a class (5xx) or \"error\""
                ))
            })
        })
        .transpose()?;
    let search = q.value("q").map(str::to_string);
    if search.as_ref().is_some_and(|s| s.len() > 256) {
        return Err(bad("q: at most 256 bytes"));
    }
    Ok(EventFilter {
        routes,
        states,
        since_ms,
        until_ms,
        status,
        q: search,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("since", "1764432245123").ok(),
            Some(1764432245123)
        );
        let t = parse_time("since", "2025-11-29T16:04:05.123Z").ok();
        assert_eq!(t, Some(1764432245123));
        assert_eq!(fmt_time(1764432245123), "2025-11-29T16:04:05.123Z");
        assert!(parse_time("since", "yesterday").is_err());
        assert!(parse_time("since", "").is_err());
        assert!(parse_time("since", "99999999999999999999999").is_err());
    }
}
