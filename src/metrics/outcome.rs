//! The values of the `outcome` and `result` labels: how a request ended (and the status a
//! refusal is answered with), how a delivery attempt ended.

/// How a request ended: the value of the `outcome` label, and for a refusal the `error` code
/// of its body and its status (see `row`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Accepted,
    Duplicate,
    NotFound,
    MethodNotAllowed,
    Forbidden,
    PayloadTooLarge,
    /// The request target and headers exceed `max_header_bytes` (431).
    HeadersTooLarge,
    BodyTimeout,
    Unauthorized,
    BadRequest,
    Unavailable,
    /// A provider's URL-verification handshake, answered by hookgate.
    Handshake,
    RateLimited,
    UnsupportedMediaType,
    /// The route is disabled (or a sync route paused).
    RouteDisabled,
    /// A sync route: the upstream's answer, relayed.
    Relayed,
    /// A sync route: the upstream did not answer within `sync_timeout`.
    UpstreamTimeout,
    /// A sync route: the upstream could not be reached.
    UpstreamFailed,
    /// A sync route: the event ID was used before for a different request.
    Conflict,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 19] = [
        RequestOutcome::Accepted,
        RequestOutcome::Duplicate,
        RequestOutcome::NotFound,
        RequestOutcome::MethodNotAllowed,
        RequestOutcome::Forbidden,
        RequestOutcome::PayloadTooLarge,
        RequestOutcome::HeadersTooLarge,
        RequestOutcome::BodyTimeout,
        RequestOutcome::Unauthorized,
        RequestOutcome::BadRequest,
        RequestOutcome::Unavailable,
        RequestOutcome::Handshake,
        RequestOutcome::RateLimited,
        RequestOutcome::UnsupportedMediaType,
        RequestOutcome::RouteDisabled,
        RequestOutcome::Relayed,
        RequestOutcome::UpstreamTimeout,
        RequestOutcome::UpstreamFailed,
        RequestOutcome::Conflict,
    ];

    /// The one table: label, and the status a refusal with this outcome is answered with.
    /// `None` where the status comes from elsewhere: the route's `response` (accepted,
    /// duplicate), the upstream (relayed), the handshake's reply, or the route's
    /// `sync_timeout_status` (upstream timeout).
    const fn row(self) -> (&'static str, Option<u16>) {
        use RequestOutcome as O;
        match self {
            O::Accepted => ("accepted", None),
            O::Duplicate => ("duplicate", None),
            O::NotFound => ("not_found", Some(404)),
            O::MethodNotAllowed => ("method_not_allowed", Some(405)),
            O::Forbidden => ("forbidden", Some(403)),
            O::PayloadTooLarge => ("payload_too_large", Some(413)),
            O::HeadersTooLarge => ("headers_too_large", Some(431)),
            O::BodyTimeout => ("body_timeout", Some(408)),
            O::Unauthorized => ("unauthorized", Some(401)),
            O::BadRequest => ("bad_request", Some(400)),
            O::Unavailable => ("unavailable", Some(503)),
            O::Handshake => ("handshake", None),
            O::RateLimited => ("rate_limited", Some(429)),
            O::UnsupportedMediaType => ("unsupported_media_type", Some(415)),
            O::RouteDisabled => ("route_disabled", Some(503)),
            O::Relayed => ("relayed", None),
            O::UpstreamTimeout => ("upstream_timeout", None),
            O::UpstreamFailed => ("upstream_failed", Some(502)),
            O::Conflict => ("conflict", Some(409)),
        }
    }

    pub const fn label(self) -> &'static str {
        self.row().0
    }

    /// The status of a refusal with this outcome (see `row`).
    pub const fn status(self) -> Option<u16> {
        self.row().1
    }
}

/// How one delivery attempt ended; values of the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    Retry,
    Dead,
}

impl AttemptResult {
    pub fn label(self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::Retry => "retry",
            AttemptResult::Dead => "dead",
        }
    }
}
