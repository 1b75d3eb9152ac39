//! Load-time warnings about what a route's verification does not cover: unsigned data never
//! becomes part of an event (the query is not merged), but an operator who names an unsigned
//! header as the event ID or order key lets a replayed body choose it.

use http::HeaderName;

use crate::event::id::IdSource;
use crate::verify::Check;

fn headers(source: &IdSource) -> Vec<&HeaderName> {
    match source {
        IdSource::Header(h) => vec![h],
        IdSource::SignedHeader(hs) => hs.iter().collect(),
        IdSource::Composite(parts) => parts.iter().flat_map(headers).collect(),
        IdSource::Json(_) | IdSource::BodyHash => Vec::new(),
    }
}

/// Warnings for route `name` (without position). `event_id` is the route's own setting only:
/// a provider's default (GitHub's delivery header, say) is that provider's design, listed in the
/// README (`providers::tests::unsigned_default_id_headers_are_listed_in_the_readme`).
pub fn warnings(
    name: &str,
    check: &Check,
    normalize: bool,
    event_id: Option<&IdSource>,
    order_key: Option<&IdSource>,
) -> Vec<String> {
    let mut out = Vec::new();
    if normalize && !check.covers_query() {
        out.push(format!(
            "routes.{name}.normalize: query parameters are not merged into the event, since this route's verification does not cover the URL (only a token scheme or a signed URL does)"
        ));
    }
    for (key, source, effect) in [
        ("event_id", event_id, "make a replayed event look new"),
        ("order_key", order_key, "choose the order line"),
    ] {
        for h in source.map(headers).unwrap_or_default() {
            if !check.covers_header(h) {
                out.push(format!(
                    "routes.{name}.{key}: header {h} is not covered by this route's signature, so a sender replaying a signed body can set it (and {effect})"
                ));
            }
        }
    }
    out
}
