//! Upstream URL joining (issue 9 items 2 and 3): whatever the request's sub-path, the URL an
//! event is delivered to has the upstream's scheme, host and port, and a path under the
//! upstream's base path. `stays_under_the_upstream` is the property; it takes the join
//! function under test, so the structural join can be wired in with one line.

use proptest::prelude::*;
use reqwest::Url;

use hookgate::upstream::url::join;

use super::config;

/// Upstream URLs as configured: with and without a port, a base path, a trailing slash.
pub fn upstream() -> impl Strategy<Value = Url> {
    (
        proptest::sample::select(vec!["http", "https"]),
        proptest::sample::select(vec!["127.0.0.1", "upstream.internal", "[::1]"]),
        proptest::option::of(1u16..65535),
        proptest::sample::select(vec!["", "/", "/webhooks", "/a/b/", "/hooks/in"]),
    )
        .prop_map(|(scheme, host, port, path)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            Url::parse(&format!("{scheme}://{host}{port}{path}")).unwrap()
        })
}

/// What follows a route's path in a request target, hostile forms included.
pub fn rest() -> impl Strategy<Value = String> {
    let segment = proptest::sample::select(vec![
        "x",
        "sms",
        "..",
        ".",
        "%2e%2e",
        "%2E.",
        "..\\..",
        "\\",
        "%5c",
        "%2f",
        "%2F..",
        ";",
        "a;b",
        "@127.0.0.1:1",
        "@evil",
        ":9",
        "host:1",
        "//evil",
        "?",
        "#",
        "%00",
        "%",
    ]);
    (
        proptest::collection::vec(segment, 0..5),
        any::<bool>(),
        proptest::option::of("[a-z=&@:/.%]{0,10}"),
    )
        .prop_map(|(segs, lead_slash, query)| {
            let mut r = segs.join("/");
            if lead_slash {
                r.insert(0, '/');
            }
            if let Some(q) = query {
                r.push('?');
                r.push_str(&q);
            }
            r
        })
}

/// The property: a join either refuses, or gives a URL with the upstream's scheme, host and
/// port, no credentials it did not have, and a path equal to the base path or below it.
pub fn stays_under_the_upstream(
    base: &Url,
    rest: &str,
    joined: Option<Url>,
) -> Result<(), TestCaseError> {
    let Some(u) = joined else { return Ok(()) };
    prop_assert_eq!(u.scheme(), base.scheme(), "{} + {:?} -> {}", base, rest, u);
    prop_assert_eq!(
        u.host_str(),
        base.host_str(),
        "{} + {:?} -> {}",
        base,
        rest,
        u
    );
    prop_assert_eq!(
        u.port_or_known_default(),
        base.port_or_known_default(),
        "{} + {:?} -> {}",
        base,
        rest,
        u
    );
    prop_assert_eq!(
        u.username(),
        base.username(),
        "{} + {:?} -> {}",
        base,
        rest,
        u
    );
    prop_assert_eq!(
        u.password(),
        base.password(),
        "{} + {:?} -> {}",
        base,
        rest,
        u
    );
    let base_path = base.path().trim_end_matches('/');
    let under = u.path() == base.path()
        || u.path() == base_path
        || u.path().starts_with(&format!("{base_path}/"));
    prop_assert!(
        under,
        "{} + {:?} -> {} leaves {:?}",
        base,
        rest,
        u,
        base.path()
    );
    // No dot segment survives to be resolved by the upstream (`..` as `/`, `\` or encoded).
    for seg in u.path().split('/') {
        let s = seg.to_ascii_lowercase().replace("%2e", ".");
        prop_assert!(
            s != "." && s != "..",
            "{} + {:?} -> {} keeps a dot segment",
            base,
            rest,
            u
        );
        prop_assert!(
            !s.contains('\\') && !s.contains("%5c") && !s.contains("%2f"),
            "{} + {:?} -> {} keeps a separator in a segment",
            base,
            rest,
            u
        );
    }
    Ok(())
}

/// The other half: an ordinary sub-path and query are joined, exactly below the base path.
pub fn ordinary_rest_is_joined(
    base: &Url,
    segs: &[String],
    query: Option<&str>,
    joined: Option<Url>,
) -> Result<(), TestCaseError> {
    let mut rest = segs.iter().map(|s| format!("/{s}")).collect::<String>();
    if let Some(q) = query {
        rest.push('?');
        rest.push_str(q);
    }
    let Some(u) = joined else {
        return Err(TestCaseError::fail(format!("{base} + {rest:?} refused")));
    };
    let base_path = base.path().trim_end_matches('/');
    let want = if segs.is_empty() {
        base.path().to_string()
    } else {
        format!(
            "{base_path}{}",
            &rest[..rest.find('?').unwrap_or(rest.len())]
        )
    };
    prop_assert_eq!(u.path(), want.as_str(), "{} + {:?} -> {}", base, rest, u);
    prop_assert_eq!(u.query(), query, "{} + {:?} -> {}", base, rest, u);
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn joined_urls_stay_under_the_upstream(base in upstream(), rest in rest()) {
        stays_under_the_upstream(&base, &rest, join(&base, &rest).ok())?;
    }

    #[test]
    fn ordinary_paths_are_joined(base in upstream(), segs in proptest::collection::vec("[a-zA-Z0-9_~-]{1,8}", 0..4), query in proptest::option::of("[a-z0-9=&]{0,10}")) {
        let mut rest = segs.iter().map(|s| format!("/{s}")).collect::<String>();
        if let Some(q) = &query {
            rest.push('?');
            rest.push_str(q);
        }
        ordinary_rest_is_joined(&base, &segs, query.as_deref(), join(&base, &rest).ok())?;
    }
}
