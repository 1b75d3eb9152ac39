//! The loader's unit tests: every mistake at its line, defaults, the senders' options (`[store]`:
//! `tests_store`; mistakes that must not open anything: `tests_mistakes`).

use std::path::Path;
use std::time::Duration;

use crate::config::{LoadError, parse};

use crate::routing::Resign;

use crate::event::id::IdSource;
use crate::routing::{Mode, Rate, RateSpec, RouteState};

pub(super) const BASE: &str = r#"
[server]
listen = "127.0.0.1:8080"

[upstreams.orders]
url = "http://127.0.0.1:3000/webhooks"

[routes.limai]
path = "/hooks/limai"
upstream = "orders"
verify = { scheme = "hmac", header = "X-Webhook-Signature", prefix = "sha256=", secrets = ["lit"] }
event_id = "json:/eventId"
"#;

pub(super) fn errors(text: &str) -> Vec<String> {
    match parse(Path::new("t.toml"), text) {
        Ok(_) => vec![],
        Err(LoadError::Invalid(e)) => e.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn base_is_valid_and_warns_about_literal() {
    let c = parse(Path::new("t.toml"), BASE).unwrap();
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.server.max_body_bytes, 1 << 20);
    assert!(
        c.warnings.iter().any(|w| w.contains("written literally")),
        "{:?}",
        c.warnings
    );
    assert_eq!(c.hash.len(), 64);
}

/// Two spellings of one path (an escape's hex case, an escaped sub-delimiter) route alike, so
/// they are one path, not two routes.
#[test]
fn two_spellings_of_one_route_path_clash() {
    for (first, second) in [("/h/caf%C3%A9", "/h/caf%c3%a9"), ("/h/a!b", "/h/a%21b")] {
        let route = |name: &str, path: &str| {
            format!(
                "\n[routes.{name}]\npath = \"{path}\"\nupstream = \"orders\"\nverify = {{ scheme = \"none\" }}\n"
            )
        };
        let e = errors(&format!(
            "{BASE}{}{}",
            route("a", first),
            route("b", second)
        ));
        assert!(
            e.iter()
                .any(|m| m.contains(&format!("{second:?} is already used by route \"a\""))),
            "{e:#?}"
        );
    }
}

#[test]
fn unknown_key_has_position() {
    let e = errors(&BASE.replace("listen = ", "listne = \"x\"\nlisten = "));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.toml:3:1: "), "{e:?}");
    assert!(e[0].contains("listne"), "{e:?}");
}

#[test]
fn every_semantic_error_is_reported_with_its_line() {
    let text = BASE
        .replace(
            "\"http://127.0.0.1:3000/webhooks\"",
            "\"ftp://x/\"\ntimeout = \"ten seconds\"",
        )
        .replace(
            "upstream = \"orders\"",
            "upstream = \"nope\"\nallow_ips = [\"10.0.0.0/33\"]\ndedup_ttl = \"0s\"",
        )
        + "\n[routes.dup]\npath = \"/hooks/limai\"\nupstream = \"orders\"\nverify = { scheme = \"none\" }\n";
    let e = errors(&text);
    let has = |needle: &str, line: usize| {
        e.iter()
            .any(|m| m.contains(needle) && m.starts_with(&format!("t.toml:{line}:")))
    };
    assert!(has("scheme must be http or https", 6), "{e:#?}");
    assert!(has("ten seconds", 7), "{e:#?}");
    assert!(has("no upstream named \"nope\"", 11), "{e:#?}");
    assert!(has("not an IP network", 12), "{e:#?}");
    assert!(has("dedup_ttl must be greater than zero", 13), "{e:#?}");
    assert!(
        has("\"/hooks/limai\" is already used by route \"limai\"", 18),
        "{e:#?}"
    );
    assert!(
        !e.iter().any(|m| m.contains("no upstream named \"orders\"")),
        "a broken upstream is still defined: {e:#?}"
    );
    let lines: Vec<&str> = e.iter().map(|m| m.split(':').nth(1).unwrap()).collect();
    assert!(
        lines
            .windows(2)
            .all(|w| w[0].parse::<u32>().unwrap() <= w[1].parse::<u32>().unwrap()),
        "{e:#?}"
    );
}

#[test]
fn verify_is_mandatory_and_fail_closed() {
    let no_verify = BASE.replace("verify = { scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"lit\"] }\n", "");
    assert!(
        errors(&no_verify)
            .iter()
            .any(|m| m.contains("has no verify table"))
    );
    let unknown = BASE.replace("scheme = \"hmac\"", "scheme = \"magic\"");
    assert!(
        errors(&unknown)
            .iter()
            .any(|m| m.contains("unknown scheme \"magic\""))
    );
    let missing_env = BASE.replace("[\"lit\"]", "[\"env:HOOKGATE_SURELY_UNSET_VAR\"]");
    assert!(
        errors(&missing_env)
            .iter()
            .any(|m| m.contains("HOOKGATE_SURELY_UNSET_VAR is not set"))
    );
    let bad_key = BASE.replace(
        "prefix = \"sha256=\"",
        "prefix = \"sha256=\", tolerance = \"5m\"",
    );
    assert!(
        errors(&bad_key)
            .iter()
            .any(|m| m.contains("tolerance needs timestamp_header"))
    );
    // A timestamp checked but not signed: a replay sets a fresh one.
    let unsigned_ts = BASE.replace(
        "prefix = \"sha256=\"",
        "prefix = \"sha256=\", timestamp_header = \"X-Ts\"",
    );
    assert!(
        errors(&unsigned_ts)
            .iter()
            .any(|m| m.contains("the timestamp is checked but not signed")),
        "{:?}",
        errors(&unsigned_ts)
    );
    let signed_ts = BASE.replace(
        "prefix = \"sha256=\"",
        "prefix = \"sha256=\", timestamp_header = \"X-Ts\", payload = \"{timestamp}.{body}\"",
    );
    assert!(
        !errors(&signed_ts).iter().any(|m| m.contains("timestamp")),
        "{:?}",
        errors(&signed_ts)
    );
    let wrong_scheme_key = BASE.replace(
        "scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\"",
        "scheme = \"basic\", prefix = \"x\"",
    );
    assert!(
        errors(&wrong_scheme_key)
            .iter()
            .any(|m| m.contains("verify.prefix does not apply to scheme \"basic\""))
    );
    let bad_template = BASE.replace("prefix = \"sha256=\"", "payload = \"{timestamp}\"");
    assert!(
        errors(&bad_template)
            .iter()
            .any(|m| m.contains("must contain {body}"))
    );
}

#[test]
fn route_paths_are_checked() {
    for (p, why) in [
        ("hooks", "start with '/'"),
        ("/a/", "end with '/'"),
        ("/a/../b", "'..'"),
        ("/a?b", "'?'"),
    ] {
        let e = errors(&BASE.replace("\"/hooks/limai\"", &format!("{p:?}")));
        assert!(e.iter().any(|m| m.contains(why)), "{p}: {e:?}");
    }
}

#[test]
fn sizes_durations_and_defaults() {
    let text = BASE.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:8080\"\nmax_body_bytes = \"64KiB\"\nbody_timeout = \"5s\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]");
    let c = parse(Path::new("t.toml"), &text).unwrap();
    assert_eq!(c.server.max_body_bytes, 64 << 10);
    assert_eq!(c.server.body_timeout, Duration::from_secs(5));
    assert_eq!(c.server.trusted_proxies.len(), 2);
    let u = &c.upstreams["orders"];
    assert_eq!((u.max_attempts, u.concurrency), (8, 32));
    let r = c.routes.get("limai").unwrap();
    assert_eq!(r.dedup_ttl, Duration::from_secs(72 * 3600));
    let e = errors(&BASE.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8080\"\nmax_body_bytes = \"huge\"",
    ));
    assert!(
        e.iter()
            .any(|m| m.starts_with("t.toml:4:") && m.contains("invalid size")),
        "{e:?}"
    );
}

/// The base config with `line` in `[server]` (line 4).
pub(super) fn with_server(line: &str) -> String {
    BASE.replace(
        "listen = \"127.0.0.1:8080\"",
        &format!("listen = \"127.0.0.1:8080\"\n{line}"),
    )
}

/// The base config with a `[store]` table.
pub(super) fn with_store(store: &str) -> String {
    BASE.replace(
        "[upstreams.orders]",
        &format!("{store}\n\n[upstreams.orders]"),
    )
}

pub(super) const ROUTE: &str = "event_id = \"json:/eventId\"\n";

pub(super) fn with_route(extra: &str) -> String {
    BASE.replace(ROUTE, &format!("{ROUTE}{extra}\n"))
}

#[test]
fn the_seed_senders_options_load() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tkn\n").unwrap();
    let text = with_route(
        r#"rate_limit = { per_ip = "300/5m", per_route = "5000/s" }
mode = "sync"
sync_timeout = "10s"
sync_timeout_status = 504
normalize = "json"
state = "paused"
require_headers = { "User-Agent" = "LindoAI-Webhooks/1.0", "X-Env" = "~^prod$" }
content_types = ["Application/JSON", "text/*"]"#,
    )
    .replace(
        "url = \"http://127.0.0.1:3000/webhooks\"",
        "url = \"http://127.0.0.1:3000/webhooks\"\nheaders = { Authorization = \"Bearer {file:TOKEN_FILE}\", X-Plain = \"a {b} c\" }\nsign = { scheme = \"standard-webhooks\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }",
    )
    .replace("TOKEN_FILE", &token.display().to_string());
    let c = parse(Path::new("t.toml"), &text).unwrap();
    let r = c.routes.iter().next().unwrap();
    assert_eq!(
        r.rate_limit,
        RateSpec {
            shared: false,
            per_ip: Some(Rate {
                count: 300,
                per: Duration::from_secs(300)
            }),
            per_route: Some(Rate {
                count: 5000,
                per: Duration::from_secs(1)
            }),
        }
    );
    assert_eq!(
        r.mode,
        Mode::Sync {
            timeout: Duration::from_secs(10),
            timeout_status: 504
        }
    );
    assert!(r.normalize);
    assert_eq!(r.state, RouteState::Paused);
    assert_eq!(r.require_headers.len(), 2);
    assert!(
        r.require_headers
            .iter()
            .all(|(_, rule)| rule.matches(b"prod") || rule.matches(b"LindoAI-Webhooks/1.0"))
    );
    assert_eq!(r.content_types, ["application/json", "text/*"]);
    let up = &c.upstreams["orders"];
    let h: Vec<(&str, &[u8])> = up
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    assert_eq!(
        h,
        [
            ("authorization", &b"Bearer tkn"[..]),
            ("x-plain", b"a {b} c")
        ]
    );
    assert!(up.headers[0].1.is_sensitive());
    assert!(matches!(&up.resign, Some(Resign::StandardWebhooks { .. })));
    let composite = parse(Path::new("t.toml"), &BASE.replace(ROUTE, "event_id = [\"json:/event\", \"header:X-Ts\"]\norder_key = \"json:/data/website_id\"\n")).unwrap();
    let r = composite.routes.iter().next().unwrap();
    assert!(matches!(&r.event_id, IdSource::Composite(parts) if parts.len() == 2));
    assert_eq!(r.order_key, Some(IdSource::Json("/data/website_id".into())));
}

#[test]
fn the_seed_senders_options_are_checked() {
    let cases = [
        (
            "rate_limit = { per_ip = \"300 per 5m\" }",
            "not a rate like",
        ),
        ("rate_limit = { per_ip = \"0/5m\" }", "not a rate like"),
        ("rate_limit = { per_minute = \"1/m\" }", "per_minute"),
        (
            "mode = \"sync\"\nsync_timeout_status = 500",
            "must be 408 or 504",
        ),
        ("sync_timeout = \"5s\"", "applies to mode = \"sync\""),
        (
            "mode = \"sync\"\norder_key = \"json:/a\"",
            "order_key applies to mode = \"async\" only",
        ),
        (
            "mode = \"sync\"\nresponse = { status = 202 }",
            "response applies to mode = \"async\" only",
        ),
        ("normalize = \"yaml\"", "expected \"json\""),
        (
            "state = \"sleeping\"",
            "is not one of \"active\", \"paused\", \"disabled\"",
        ),
        (
            "require_headers = { \"X-A\" = \"~(\" }",
            "not a valid regex",
        ),
        ("require_headers = { \"Bad Header\" = \"x\" }", "Bad Header"),
        ("content_types = [\"json\"]", "not a media type"),
        ("order_key = \"sha256\"", "order_key must be"),
    ];
    for (extra, needle) in cases {
        let e = errors(&with_route(extra));
        assert!(
            e.iter()
                .any(|m| m.contains(needle) && m.starts_with("t.toml:")),
            "{extra}: {e:#?}"
        );
    }
    let composite = errors(&BASE.replace(ROUTE, "event_id = [\"json:/a\", \"sha256\"]\n"));
    assert!(
        composite.iter().any(|m| m.contains("composite event_id")),
        "{composite:#?}"
    );
    let up = |extra: &str| {
        errors(&BASE.replace(
            "url = \"http://127.0.0.1:3000/webhooks\"",
            &format!("url = \"http://127.0.0.1:3000/webhooks\"\n{extra}"),
        ))
    };
    assert!(
        up("sign = { scheme = \"hmac\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }")
            .iter()
            .any(|m| m.contains("not supported"))
    );
    assert!(
        up("sign = { scheme = \"standard-webhooks\", secret = \"whsec_!!\" }")
            .iter()
            .any(|m| m.contains("sign.secret"))
    );
    assert!(
        up("headers = { A = \"{env:HOOKGATE_SURELY_UNSET_VAR}\" }")
            .iter()
            .any(|m| m.contains("HOOKGATE_SURELY_UNSET_VAR is not set"))
    );
    let tls = |t: &str| {
        errors(&BASE.replace(
            "listen = \"127.0.0.1:8080\"",
            &format!("listen = \"127.0.0.1:8080\"\ntls = {t}"),
        ))
    };
    assert!(tls("{ listen = \"127.0.0.1:8443\", cert = \"/nonexistent.crt\", key = \"/nonexistent.key\" }").iter().any(|m| m.contains("server.tls.cert") && m.contains("/nonexistent.crt")));
    assert!(
        tls("{ listen = \"127.0.0.1:8080\", cert = \"a\", key = \"b\" }")
            .iter()
            .any(|m| m.contains("must differ"))
    );
    assert!(
        tls("{ listen = \"127.0.0.1:8443\" }")
            .iter()
            .any(|m| m.contains("cert"))
    );
}

#[test]
fn positions_count_characters_and_warnings_carry_the_line() {
    // "é" is two bytes but one column.
    let e = errors(&BASE.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8080\"\n# café\ntrusted_proxies = [\"é\", \"x\"]",
    ));
    assert_eq!(
        e,
        [
            "t.toml:5:20: server.trusted_proxies: \"é\" is not an IP network (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")",
            "t.toml:5:25: server.trusted_proxies: \"x\" is not an IP network (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")",
        ],
    );
    let c = parse(Path::new("t.toml"), BASE).unwrap();
    assert!(
        c.warnings.iter().any(
            |w| w.starts_with("t.toml:11: routes.limai.verify.secrets[0] is written literally")
        ),
        "{:?}",
        c.warnings
    );
}
