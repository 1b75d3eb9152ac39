//! `[routes.NAME]`: path, mode, event identity, limits, rules and the answer (its `verify`
//! table is in `verify`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use toml::Spanned;

use super::{Checker, WAIT_MAX, nets, valid_name};
use crate::config::file::{RouteFile, Text};
use crate::config::trust;
use crate::config::units::{MAX_DURATION, parse_duration};
use crate::event::id::IdSource;
use crate::metrics::METRICS;
use crate::normalize::media::MediaType;
use crate::routing::path;
use crate::routing::{HeaderRule, Mode, Rate, RateSpec, ResponseSpec, Route, RouteState};
use crate::routing::{Upstream, canonical_path};
use crate::verify::Check;

impl Checker<'_> {
    pub(super) fn routes(
        &mut self,
        map: &BTreeMap<Spanned<String>, Spanned<RouteFile>>,
        (defined, upstreams): (&[&str], &BTreeMap<String, Arc<Upstream>>),
        limits: (usize, usize),
    ) -> Vec<Arc<Route>> {
        let mut out: Vec<Arc<Route>> = Vec::new();
        // By `canonical_path`: two spellings of one path are one route's path.
        let mut paths: BTreeMap<String, String> = BTreeMap::new();
        // In file order, so a clash is reported at the route written second.
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_by_key(|(_, r)| r.span().start);
        for (name, r) in entries {
            let name_s = name.get_ref().as_str();
            if !valid_name(name_s) {
                self.error(name.span(), format!("route name {name_s:?} must be 1-64 characters of letters, digits, '_' or '-'"));
            }
            let rf = r.get_ref();
            if let Some(path) = self.route_path(name_s, &rf.path)
                && let Some(other) = paths.insert(canonical_path(&path), name_s.to_string())
            {
                self.error(
                    rf.path.span(),
                    format!("routes.{name_s}.path: {path:?} is already used by route {other:?}"),
                );
            }
            if !defined.contains(&rf.upstream.get_ref().as_str()) {
                self.error(
                    rf.upstream.span(),
                    format!(
                        "routes.{name_s}.upstream: no upstream named {:?} (define [upstreams.{}])",
                        rf.upstream.get_ref(),
                        rf.upstream.get_ref()
                    ),
                );
            }
            // `None` when the upstream is unknown or invalid, already reported either way.
            let upstream = upstreams.get(rf.upstream.get_ref()).cloned();
            if let Some(route) = self.route(name_s, r.span(), rf, upstream, limits) {
                out.push(Arc::new(route));
            }
        }
        out
    }

    fn route_path(&mut self, name: &str, t: &Text) -> Option<String> {
        let p = t.get_ref();
        let problem = if !p.starts_with('/') {
            Some("must start with '/'")
        } else if p.contains(['?', '#']) {
            Some("must not contain '?' or '#'")
        } else if p.contains("//") {
            Some("must not contain '//'")
        } else if p.len() > 1 && p.ends_with('/') {
            Some("must not end with '/' (a route also matches everything below its path)")
        } else {
            None
        };
        // The rule for request paths holds for route paths too (they are request paths).
        let problem = match (problem, path::check(p)) {
            (Some(why), _) => Some(why.to_string()),
            (None, Err(e)) => Some(format!("is refused: {e}")),
            (None, Ok(())) => None,
        };
        match problem {
            Some(why) => {
                self.error(t.span(), format!("routes.{name}.path {p:?} {why}"));
                None
            }
            None => Some(p.clone()),
        }
    }

    fn route(
        &mut self,
        name: &str,
        span: Range<usize>,
        r: &RouteFile,
        upstream: Option<Arc<Upstream>>,
        (body_limit, header_limit): (usize, usize),
    ) -> Option<Route> {
        let key = |k: &str| format!("routes.{name}.{k}");
        let sync_timeout = self.duration_at_most(
            r.sync_timeout.as_ref(),
            &key("sync_timeout"),
            Duration::from_secs(30),
            WAIT_MAX,
        );
        let timeout_status = self.int(
            r.sync_timeout_status.as_ref(),
            &key("sync_timeout_status"),
            408..505,
            408,
        ) as u16;
        if !matches!(timeout_status, 408 | 504) {
            self.error(
                r.sync_timeout_status
                    .as_ref()
                    .map_or(span.clone(), Spanned::span),
                format!("{} must be 408 or 504", key("sync_timeout_status")),
            );
        }
        let mode = match r.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("async", _)) => {
                for (k, at) in [
                    ("sync_timeout", r.sync_timeout.as_ref().map(Spanned::span)),
                    (
                        "sync_timeout_status",
                        r.sync_timeout_status.as_ref().map(Spanned::span),
                    ),
                ] {
                    if let Some(at) = at {
                        self.error(at, format!("{} applies to mode = \"sync\"", key(k)));
                    }
                }
                Mode::Async
            }
            Some(("sync", _)) => Mode::Sync {
                timeout: sync_timeout,
                timeout_status,
            },
            Some((other, span)) => {
                self.error(
                    span,
                    format!(
                        "{}: {other:?} is not one of \"async\", \"sync\"",
                        key("mode")
                    ),
                );
                Mode::Async
            }
        };
        // A sync route has no queue: no delivery series for it.
        let delivers = matches!(mode, Mode::Async);
        let configured_id = match &r.event_id {
            Some(t) => self.check(
                t.span(),
                IdSource::parse_all(&t.get_ref().0)
                    .map_err(|e| format!("{}: {e}", key("event_id"))),
            ),
            None => None,
        };
        let order_key = match &r.order_key {
            Some(t) => self.check(
                t.span(),
                IdSource::parse(t.get_ref())
                    .and_then(|k| {
                        if k == IdSource::BodyHash {
                            Err("order_key must be \"json:/pointer\" or \"header:Name\"".into())
                        } else {
                            Ok(k)
                        }
                    })
                    .map_err(|e| format!("{}: {e}", key("order_key"))),
            ),
            None => None,
        };
        let rate_limit = r
            .rate_limit
            .as_ref()
            .map_or(RateSpec::default(), |rl| RateSpec {
                per_ip: rl
                    .get_ref()
                    .per_ip
                    .as_ref()
                    .and_then(|t| self.rate(t, &key("rate_limit.per_ip"))),
                per_route: rl
                    .get_ref()
                    .per_route
                    .as_ref()
                    .and_then(|t| self.rate(t, &key("rate_limit.per_route"))),
                shared: rl.get_ref().shared.as_ref().is_some_and(|s| *s.get_ref()),
            });
        let normalize = match &r.normalize {
            None => false,
            Some(n) if n.get_ref() == "json" => true,
            Some(n) => {
                self.error(
                    n.span(),
                    format!(
                        "{}: {:?} is not supported (expected \"json\")",
                        key("normalize"),
                        n.get_ref()
                    ),
                );
                false
            }
        };
        let state = match &r.state {
            None => RouteState::Active,
            Some(t) => self
                .check(
                    t.span(),
                    RouteState::parse(t.get_ref()).ok_or_else(|| {
                        format!(
                            "{}: {:?} is not one of \"active\", \"paused\", \"disabled\"",
                            key("state"),
                            t.get_ref()
                        )
                    }),
                )
                .unwrap_or(RouteState::Active),
        };
        let require_headers = self.header_rules(name, r.require_headers.as_ref());
        let content_types = self.content_types(name, r.content_types.as_deref());
        if let Mode::Sync { .. } = mode {
            // A sync route answers with the upstream's answer, right away: nothing to order or
            // to answer in its place.
            for (k, at) in [
                ("order_key", r.order_key.as_ref().map(Spanned::span)),
                ("response", r.response.as_ref().map(Spanned::span)),
            ] {
                if let Some(at) = at {
                    self.error(at, format!("{} applies to mode = \"async\" only", key(k)));
                }
            }
        }
        let verified = match &r.verify {
            Some(v) => self.verifier(name, v, configured_id.as_ref()),
            None => {
                self.error(span, format!("routes.{name} has no verify table: add verify = {{ scheme = \"none\" }} to accept unauthenticated requests explicitly"));
                None
            }
        };
        // The route's own event_id wins over the provider's default.
        let (verifier, preset_id, window) = match verified {
            Some((v, id, window)) => (Some(v), id, window),
            None => (None, None, None),
        };
        if let Some(v) = &verifier {
            for w in trust::warnings(
                name,
                &v.check,
                normalize,
                configured_id.as_ref(),
                order_key.as_ref(),
            ) {
                self.warn(&r.path.span(), w);
            }
        }
        let allow_ips = r
            .allow_ips
            .as_ref()
            .map(|l| self.nets(l, &key("allow_ips")));
        // An explicit `scheme = "none"` says what it means; a preset that checks only public
        // values looks like verification and is none. An allowlist with a network as wide as
        // a catch-all limits no sender.
        let limits_senders = allow_ips
            .as_ref()
            .is_some_and(|nets| !nets.iter().any(|n| nets::too_wide(n).is_some()));
        if let Some(v) = &verifier
            && !matches!(v.check, Check::None)
            && !v.check.authenticates()
            && !limits_senders
        {
            self.warn(
                &r.path.span(),
                format!(
                    "routes.{name}: {} signs nothing (it checks only values anyone can send), so anyone who knows this path can send events: add allow_ips with the sender's addresses",
                    v.label
                ),
            );
        }
        let mut event_id = configured_id.or(preset_id).unwrap_or(IdSource::BodyHash);
        if let Some(v) = &verifier {
            event_id = v.check.signed_id(event_id);
        }
        let response = self.response(name, r);
        let dedup_ttl = self.duration(
            r.dedup_ttl.as_ref(),
            &key("dedup_ttl"),
            Duration::from_secs(72 * 3600),
        );
        // Not an error: tests and deliberate setups use short windows.
        if let Some(window) = window.filter(|w| dedup_ttl < *w) {
            let (ttl, window) = (
                humantime::format_duration(dedup_ttl),
                humantime::format_duration(window),
            );
            self.warn(
                &r.dedup_ttl.as_ref().map_or_else(|| r.path.span(), Spanned::span),
                format!("routes.{name}: dedup_ttl ({ttl}) is shorter than the replay window of its verification ({window}): a captured request sent again after {ttl} and within {window} of its signing passes verification and is delivered again; make dedup_ttl at least {window}"),
            );
        }
        Some(Route {
            name: name.to_string(),
            path: r.path.get_ref().clone(),
            mode,
            event_id,
            dedup_ttl,
            allow_ips,
            max_body_bytes: self.size(
                r.max_body_bytes.as_ref(),
                &key("max_body_bytes"),
                body_limit,
            ),
            max_header_bytes: self.header_bytes(
                r.max_header_bytes.as_ref(),
                &key("max_header_bytes"),
                header_limit,
            ),
            response: response?,
            rate_limit,
            normalize,
            state,
            require_headers,
            content_types,
            order_config: crate::routing::Route::order_config_of(order_key.as_ref()),
            order_key,
            metrics: METRICS.route(name, delivers),
            verifier: verifier?,
            // Last: the fields above still report their errors when the upstream is missing.
            upstream: upstream?,
        })
    }

    /// `rate_limit.shared` needs a place all replicas see: Redis, not one process's own disk.
    pub(super) fn shared_rates(
        &mut self,
        map: &BTreeMap<Spanned<String>, Spanned<RouteFile>>,
        redis: bool,
    ) {
        for (name, r) in map {
            let Some(rl) = r.get_ref().rate_limit.as_ref().map(Spanned::get_ref) else {
                continue;
            };
            let Some(shared) = rl.shared.as_ref().filter(|s| *s.get_ref()) else {
                continue;
            };
            let name = name.get_ref();
            if !redis {
                self.error(
                    shared.span(),
                    format!(
                        "routes.{name}.rate_limit.shared = true needs store.kind = \"redis\" \
                         (the embedded store is one process's; its limits are already local)"
                    ),
                );
            } else if rl.per_ip.is_none() && rl.per_route.is_none() {
                self.error(
                    shared.span(),
                    format!("routes.{name}.rate_limit.shared: set per_ip or per_route to share"),
                );
            }
        }
    }

    /// `"300/5m"`: 300 requests per 5 minutes.
    fn rate(&mut self, t: &Text, what: &str) -> Option<Rate> {
        let parsed = t.get_ref().split_once('/').and_then(|(n, per)| {
            let count: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
            let per = per.trim();
            // "300/s" reads as one second.
            let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
                parse_duration(per).ok()?
            } else {
                parse_duration(&format!("1{per}")).ok()?
            };
            (!per.is_zero() && per <= MAX_DURATION).then_some(Rate { count, per })
        });
        self.check(
            t.span(),
            parsed.ok_or_else(|| {
                format!(
                    "{what}: {:?} is not a rate like \"300/5m\" or \"5000/1s\"",
                    t.get_ref()
                )
            }),
        )
    }

    /// `"application/json"`, `"text/*"`: media types without parameters, lowercase.
    fn content_types(&mut self, name: &str, list: Option<&[Text]>) -> Vec<String> {
        let mut out = Vec::new();
        for t in list.into_iter().flatten() {
            let v = t.get_ref().trim().to_ascii_lowercase();
            match MediaType::is_range(&v) {
                true => out.push(v),
                false => self.error(t.span(), format!("routes.{name}.content_types: {:?} is not a media type like \"application/json\" or \"text/*\"", t.get_ref())),
            }
        }
        out
    }

    fn header_rules(
        &mut self,
        name: &str,
        map: Option<&BTreeMap<Spanned<String>, Text>>,
    ) -> Vec<(HeaderName, HeaderRule)> {
        let mut out = Vec::new();
        for (k, v) in map.into_iter().flatten() {
            let what = format!("routes.{name}.require_headers");
            let Some(hn) = self.header_name(k, &what) else {
                continue;
            };
            let rule = match v.get_ref().strip_prefix('~') {
                Some(pattern) => match regex::Regex::new(pattern) {
                    Ok(re) => HeaderRule::Pattern(re),
                    Err(e) => {
                        self.error(
                            v.span(),
                            format!("{what}.{}: not a valid regex: {e}", k.get_ref()),
                        );
                        continue;
                    }
                },
                None => HeaderRule::Exact(v.get_ref().clone()),
            };
            out.push((hn, rule));
        }
        out
    }

    fn response(&mut self, name: &str, r: &RouteFile) -> Option<ResponseSpec> {
        let Some(resp) = &r.response else {
            return Some(ResponseSpec {
                status: 200,
                body: None,
                headers: Vec::new(),
            });
        };
        let resp = resp.get_ref();
        let status = self.int(
            resp.status.as_ref(),
            &format!("routes.{name}.response.status"),
            200..300,
            200,
        ) as u16;
        let mut headers = Vec::new();
        for (h, v) in &resp.headers {
            let hn = self.header_name(h, &format!("routes.{name}.response.headers"));
            if let Some(hn) = hn {
                headers.push((hn, v.get_ref().clone()));
            }
        }
        Some(ResponseSpec {
            status,
            body: resp.body.as_ref().map(|b| b.get_ref().clone()),
            headers,
        })
    }
}
