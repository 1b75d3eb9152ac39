//! Route lookup by path: a route's path matches itself and everything below it; the longest
//! match wins.

pub mod path;
mod route;
mod upstream;

pub use route::{HeaderRule, Mode, Rate, RateSpec, ResponseSpec, Route, RouteState, UNORDERED};
pub use upstream::{Backoff, Resign, Upstream, url_credentials};

use std::sync::Arc;

pub struct Router {
    /// Sorted by path length, longest first, so the first match is the most specific.
    routes: Vec<Arc<Route>>,
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
        routes.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| a.name.cmp(&b.name))
        });
        Router { routes }
    }

    /// `path_and_query` is the request target as received (origin form).
    pub fn find<'r, 'p>(&'r self, path_and_query: &'p str) -> Option<Match<'r, 'p>> {
        self.routes.iter().find_map(|route| {
            rest_below(&route.path, path_and_query).map(|rest| Match { route, rest })
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
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
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let prefix = route_path.trim_end_matches('/');
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() || rest.starts_with('/') {
        path_and_query.get(prefix.len()..)
    } else {
        None
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
