//! Route lookup by path: a route's path matches itself and everything below it; the longest
//! match wins.

pub mod state;

use std::sync::Arc;

use crate::config::Route;

pub struct Router {
    /// Sorted by path length, longest first, so the first match is the most specific.
    routes: Vec<Arc<Route>>,
}

/// A matched route and what follows its path in the request (the sub-path, with its query).
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
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(p, _)| p);
        self.routes.iter().find_map(|route| {
            let rest = path.strip_prefix(route.path.as_str())?;
            let on_boundary = rest.is_empty() || rest.starts_with('/') || route.path.ends_with('/');
            on_boundary.then(|| Match {
                route,
                rest: &path_and_query[route.path.len()..],
            })
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

/// A request path hookgate will not route: dot segments would let the sub-path escape the
/// upstream's base path once joined to its URL.
pub fn has_dot_segment(path: &str) -> bool {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    path.split('/').any(|seg| {
        let lower = seg.to_ascii_lowercase();
        let decoded = lower.replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Route;

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
    fn dot_segments() {
        assert!(has_dot_segment("/hooks/a/../b"));
        assert!(has_dot_segment("/hooks/a/%2E%2e/b"));
        assert!(has_dot_segment("/hooks/./b"));
        assert!(!has_dot_segment("/hooks/a..b/c?x=../"));
    }
}
