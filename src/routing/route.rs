//! The route model: what one configured route is, how it answers, its limits and rules.
//! Built by `config::load`, read on the request path and by delivery.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;

use super::Upstream;
use crate::event::id::IdSource;
use crate::metrics::RouteMetrics;
use crate::verify::Verifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Persist, answer 2xx at once, deliver in the background.
    Async,
    /// Call the upstream with the verified request and relay its answer; a duplicate gets the
    /// first answer again. `timeout_status` (408 or 504) when the upstream is slower.
    Sync {
        timeout: Duration,
        timeout_status: u16,
    },
}

/// Whether a route takes events and delivers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    Active,
    /// Accepts and stores, delivers nothing until resumed.
    Paused,
    /// Refuses with 503.
    Disabled,
}

impl RouteState {
    pub fn parse(s: &str) -> Option<RouteState> {
        match s {
            "active" => Some(RouteState::Active),
            "paused" => Some(RouteState::Paused),
            "disabled" => Some(RouteState::Disabled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteState::Active => "active",
            RouteState::Paused => "paused",
            RouteState::Disabled => "disabled",
        }
    }
}

/// `count` requests per `per`, as a token bucket refilled evenly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateSpec {
    pub per_ip: Option<Rate>,
    pub per_route: Option<Rate>,
    /// Both buckets kept in Redis, exact across replicas (`rate_limit.shared`).
    pub shared: bool,
}

/// A `require_headers` rule: the exact value, or (`"~regex"`) a pattern.
#[derive(Debug, Clone)]
pub enum HeaderRule {
    Exact(String),
    Pattern(regex::Regex),
}

impl HeaderRule {
    pub fn matches(&self, value: &[u8]) -> bool {
        match self {
            HeaderRule::Exact(v) => value == v.as_bytes(),
            HeaderRule::Pattern(re) => std::str::from_utf8(value).is_ok_and(|v| re.is_match(v)),
        }
    }
}

/// What an accepted request is answered with.
#[derive(Debug, Clone)]
pub struct ResponseSpec {
    pub status: u16,
    /// `None`: the default JSON `{"status":"accepted","event_id":...}`. Otherwise a template
    /// with `{event_id}` and `{route}` (filled in by `proxy::answer`).
    pub body: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
}

pub struct Route {
    pub name: String,
    pub path: String,
    /// Resolved at load: a route's upstream always exists.
    pub upstream: Arc<Upstream>,
    pub mode: Mode,
    pub verifier: Verifier,
    pub event_id: IdSource,
    pub dedup_ttl: Duration,
    /// `None`: every address may send.
    pub allow_ips: Option<Vec<IpNet>>,
    /// The route's own limit, or the server's.
    pub max_body_bytes: usize,
    /// The route's own limit, or the server's.
    pub max_header_bytes: usize,
    pub response: ResponseSpec,
    pub rate_limit: RateSpec,
    /// XML, form and multipart bodies (and query parameters) become one JSON object.
    pub normalize: bool,
    pub state: RouteState,
    pub require_headers: Vec<(HeaderName, HeaderRule)>,
    /// Media types accepted (lowercase, no parameters); empty: any.
    pub content_types: Vec<String>,
    /// Events with the same key are delivered one after another, in arrival order.
    pub order_key: Option<IdSource>,
    /// `order_key` as text (`none` without one): carried by each event, so that a store whose
    /// events' places depend on it notices a change (`NewEvent::order_config`).
    pub order_config: std::sync::Arc<str>,
    pub metrics: RouteMetrics,
}

/// `Route::order_config` of a route without an `order_key`.
pub const UNORDERED: &str = "none";

impl Route {
    /// `Route::order_config` of an `order_key`.
    pub fn order_config_of(key: Option<&IdSource>) -> std::sync::Arc<str> {
        key.map_or_else(|| UNORDERED.to_string(), |k| format!("{k:?}"))
            .into()
    }

    #[cfg(test)]
    pub fn for_test(name: &str, path: &str) -> Route {
        Route {
            name: name.into(),
            path: path.into(),
            upstream: Arc::new(Upstream::for_test("u")),
            mode: Mode::Async,
            verifier: Verifier::none(),
            event_id: IdSource::BodyHash,
            dedup_ttl: Duration::from_secs(60),
            allow_ips: None,
            max_body_bytes: 1 << 20,
            max_header_bytes: crate::config::header_limit::DEFAULT,
            response: ResponseSpec {
                status: 200,
                body: None,
                headers: vec![],
            },
            rate_limit: RateSpec::default(),
            normalize: false,
            state: RouteState::Active,
            require_headers: Vec::new(),
            content_types: Vec::new(),
            order_key: None,
            order_config: Route::order_config_of(None),
            metrics: crate::metrics::METRICS.route(name, true),
        }
    }
}
