//! Route lookup by path: a route's path matches itself and everything below it; the longest
//! match wins. Paths are compared as an upstream that decodes reads them: `%C3%A9`, `%c3%a9`
//! and `%21`/`!` are one spelling each, so no spelling of a route's path reaches a parent route
//! (with its weaker check) on its way to the same resource.

pub mod path;
mod route;
mod upstream;

pub use route::{HeaderRule, Mode, Rate, RateSpec, ResponseSpec, Route, RouteState, UNORDERED};
pub use upstream::{Backoff, Resign, Upstream, url_credentials};

use std::sync::Arc;

pub struct Router {
    /// Sorted by decoded path length, longest first, so the first match is the most specific.
    routes: Vec<Arc<Route>>,
    /// Each route's path as its units (`units`, the trailing `/` left out), decoded once at
    /// load rather than at every lookup.
    decoded: Vec<Box<[Unit]>>,
}

/// A matched route and what follows its path in the request (the sub-path, with its query).
/// `rest` is empty, or starts with `/` or `?`: the route `/` is the empty prefix, so its rest
/// is the whole request target (never a bare `x/y` that could be read as a host).
pub struct Match<'r, 'p> {
    pub route: &'r Arc<Route>,
    pub rest: &'p str,
}

impl Router {
    pub fn new(mut routes: Vec<Arc<Route>>) -> Router {
        // Decoded lengths: of two routes that match a request, the longer decoded path is the
        // one below the other (`/a%21` is shorter than `/a!b`).
        routes.sort_by_cached_key(|r| (std::cmp::Reverse(units(&r.path).count()), r.name.clone()));
        let decoded = routes.iter().map(|r| decode(&r.path)).collect();
        Router { routes, decoded }
    }

    /// `path_and_query` is the request target as received (origin form).
    pub fn find<'r, 'p>(&'r self, path_and_query: &'p str) -> Option<Match<'r, 'p>> {
        self.routes
            .iter()
            .zip(&self.decoded)
            .find_map(|(route, units)| {
                rest_after(units, path_and_query).map(|rest| Match { route, rest })
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }

    /// Every route's name and verification check (the key book's fetchers are found by them).
    pub fn checks(&self) -> impl Iterator<Item = (&str, &crate::verify::Check)> {
        self.routes
            .iter()
            .map(|r| (r.name.as_str(), &r.verifier.check))
    }

    /// Every route's name (the store and the limiters are keyed by it).
    pub fn names(&self) -> Vec<String> {
        self.routes.iter().map(|r| r.name.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.name == name)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// What follows `route_path` in `path_and_query`, when the route matches it: empty, or
/// starting with `/` or `?`.
pub fn rest_below<'p>(route_path: &str, path_and_query: &'p str) -> Option<&'p str> {
    rest_after(&decode(route_path), path_and_query)
}

/// A route's path as the units a request's must begin with.
fn decode(route_path: &str) -> Box<[Unit]> {
    units(route_path.trim_end_matches('/')).collect()
}

/// `rest_below` for a route path already decoded.
fn rest_after<'p>(route: &[Unit], path_and_query: &'p str) -> Option<&'p str> {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let mut request = units(path);
    for unit in route {
        if request.next() != Some(*unit) {
            return None;
        }
    }
    let at = request.at;
    let rest = path.get(at..)?;
    if rest.is_empty() || rest.starts_with('/') {
        path_and_query.get(at..)
    } else {
        None
    }
}

/// One text for every spelling of `path` that routes alike (`/caf%c3%a9` and `/caf%C3%A9`,
/// `/a%21` and `/a!`): two routes' paths must differ in it.
pub fn canonical_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for unit in units(path) {
        match unit {
            Unit::Separator => out.push('/'),
            Unit::Byte(b) if b.is_ascii_graphic() && !matches!(b, b'/' | b'%') => {
                out.push(char::from(b));
            }
            Unit::Byte(b) => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A byte of a path as read after percent-decoding; only a `/` as written separates segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Separator,
    Byte(u8),
}

/// The units of a path; `at` is the offset after the last one read. A `%` without two hex
/// digits is itself (such paths are refused by `path::check` before any lookup).
fn units(path: &str) -> Units<'_> {
    Units {
        bytes: path.as_bytes(),
        at: 0,
    }
}

struct Units<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for Units<'_> {
    type Item = Unit;

    fn next(&mut self) -> Option<Unit> {
        let b = *self.bytes.get(self.at)?;
        let hex = |i: usize| {
            self.bytes
                .get(self.at + i)
                .and_then(|b| (*b as char).to_digit(16))
        };
        let (unit, len) = match (b, hex(1), hex(2)) {
            (b'/', ..) => (Unit::Separator, 1),
            (b'%', Some(hi), Some(lo)) => (Unit::Byte((hi * 16 + lo) as u8), 3),
            _ => (Unit::Byte(b), 1),
        };
        self.at += len;
        Some(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::Route;
    use super::*;

    fn router(paths: &[&str]) -> Router {
        Router::new(
            paths
                .iter()
                .map(|p| Arc::new(Route::for_test(p, p)))
                .collect(),
        )
    }

    #[test]
    fn longest_prefix_on_segment_boundary() {
        let r = router(&["/hooks/twilio", "/hooks/twilio/sms", "/hooks"]);
        let m = r.find("/hooks/twilio/sms/inbound?x=1").unwrap();
        assert_eq!(m.route.path, "/hooks/twilio/sms");
        assert_eq!(m.rest, "/inbound?x=1");
        assert_eq!(r.find("/hooks/twilio").unwrap().route.path, "/hooks/twilio");
        assert_eq!(r.find("/hooks/twilio?a=b").unwrap().rest, "?a=b");
        assert_eq!(r.find("/hooks/twiliox").unwrap().route.path, "/hooks");
        assert!(r.find("/other").is_none());
        assert!(r.find("/hooksx").is_none());
    }

    #[test]
    fn every_spelling_of_an_escape_picks_the_same_route() {
        let r = router(&["/hooks", "/hooks/caf%C3%A9", "/hooks/a!b", "/a%21"]);
        for (target, route, rest) in [
            ("/hooks/caf%C3%A9/x?q", "/hooks/caf%C3%A9", "/x?q"),
            ("/hooks/caf%c3%a9/x?q", "/hooks/caf%C3%A9", "/x?q"),
            ("/hooks/caf%c3%A9", "/hooks/caf%C3%A9", ""),
            ("/hooks/a%21b", "/hooks/a!b", ""),
            ("/hooks/a%21b/c", "/hooks/a!b", "/c"),
            ("/hooks/%61!b", "/hooks/a!b", ""),
            ("/a!/x", "/a%21", "/x"),
            ("/hooks/caf%C3%A9x", "/hooks", "/caf%C3%A9x"),
            ("/hooks/caf%C3", "/hooks", "/caf%C3"),
            // An escaped '/' is not a separator (and refused before any lookup).
            ("/hooks/a!b%2Fc", "/hooks", "/a!b%2Fc"),
        ] {
            let m = r.find(target).unwrap();
            assert_eq!((m.route.path.as_str(), m.rest), (route, rest), "{target}");
        }
        assert_eq!(canonical_path("/caf%c3%A9/a%21b%2f"), "/caf%C3%A9/a!b%2F");
    }

    #[test]
    fn root_route_rest_keeps_its_slash() {
        let r = router(&["/", "/hooks"]);
        let m = r.find("/@127.0.0.1:9/x?a=1").unwrap();
        assert_eq!(
            (m.route.path.as_str(), m.rest),
            ("/", "/@127.0.0.1:9/x?a=1")
        );
        assert_eq!(r.find("/normal/path").unwrap().rest, "/normal/path");
        assert_eq!(r.find("/").unwrap().rest, "/");
        assert_eq!(r.find("/?a").unwrap().rest, "/?a");
        assert_eq!(r.find("/hooks/x").unwrap().route.path, "/hooks");
        assert_eq!(r.find("/hooksx").unwrap().route.path, "/");
    }
}
