//! The loader's unit tests: every mistake at its line, defaults, the senders' options.

use std::path::Path;
use std::time::Duration;

use crate::config::{LoadError, StoreKind, parse};

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

#[test]
fn redis_store_settings() {
    let c = parse(Path::new("t.toml"), &with_store("[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\nconsumer = \"pod-1\"\nshards = 4")).unwrap();
    match &c.store.kind {
        StoreKind::Redis(r) => {
            assert_eq!(
                (r.consumer.as_str(), r.shards, r.claim_after, r.timeout),
                ("pod-1", 4, Duration::from_secs(8), Duration::from_secs(2))
            );
            assert_eq!(r.prefix, "hookgate");
            assert_eq!(r.record_ttl, Duration::from_secs(3600));
            assert_eq!(
                r.replica_acks, 0,
                "the master's own write is enough by default"
            );
        }
        other => panic!("{other:?}"),
    }
    // replica_acks: Redis only, 0 to 16; record_ttl: Redis only, greater than zero.
    for (store, wanted) in [
        (
            "[store]\nreplica_acks = 1",
            "store.replica_acks applies to kind = \"redis\"",
        ),
        (
            "[store]\nkind = \"redis\"\nurl = \"redis://x\"\nreplica_acks = 17",
            "store.replica_acks must be between 0 and 16, got 17",
        ),
        (
            "[store]\nrecord_ttl = \"1h\"",
            "store.record_ttl applies to kind = \"redis\"",
        ),
        (
            "[store]\nkind = \"redis\"\nurl = \"redis://x\"\nrecord_ttl = \"0s\"",
            "store.record_ttl must be greater than zero",
        ),
    ] {
        let e = errors(&with_store(store));
        assert!(e.iter().any(|m| m.contains(wanted)), "{store}: {e:?}");
    }
    let e = errors(&with_store("[store]\nkind = \"redis\"\npath = \"./x\""));
    assert!(
        e.iter().any(|m| m.contains("store.url is required")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("store.path applies to kind = \"embedded\"")),
        "{e:?}"
    );
    let e = errors(&with_store("[store]\nurl = \"redis://x\""));
    assert!(
        e.iter()
            .any(|m| m.contains("store.url applies to kind = \"redis\"")),
        "{e:?}"
    );
    let e = errors(&with_store("[store]\nkind = \"redis\"\nurl = \"http://x\""));
    assert!(e.iter().any(|m| m.contains("not a Redis URL")), "{e:?}");
    let e = errors(
        &with_store("[store]\nkind = \"redis\"\nurl = \"redis://x\"\nclaim_after = \"5s\"")
            .replace(
                "url = \"http://127.0.0.1:3000/webhooks\"",
                "url = \"http://127.0.0.1:3000/webhooks\"\ntimeout = \"60s\"",
            ),
    );
    assert!(
        e.iter()
            .any(|m| m.contains("must be at least 4 × store.timeout")),
        "{e:?}"
    );
    // A slow upstream is fine: its deliveries are heartbeated.
    let e = errors(
        &with_store("[store]\nkind = \"redis\"\nurl = \"redis://x\"\ntimeout = \"1s\"\nclaim_after = \"5s\"")
            .replace(
                "url = \"http://127.0.0.1:3000/webhooks\"",
                "url = \"http://127.0.0.1:3000/webhooks\"\ntimeout = \"60s\"",
            ),
    );
    assert!(e.is_empty(), "{e:?}");
    let e = errors(&with_store(
        "[store]\nkind = \"redis\"\nurl = \"redis://x\"\nconsumer = \"env:HOOKGATE_SURELY_UNSET_POD\"",
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("HOOKGATE_SURELY_UNSET_POD is not set")),
        "{e:?}"
    );
    let c = parse(
        Path::new("t.toml"),
        &with_store("[store]\nkind = \"redis\"\nurl = \"redis://:pw@127.0.0.1/0\""),
    )
    .unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("store.url carries credentials")),
        "{:?}",
        c.warnings
    );
    assert!(
        !c.warnings.iter().any(|w| w.contains("pw@")),
        "the password is not repeated"
    );
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

#[test]
fn embedded_store_memory() {
    let memory = |store: &str| match parse(Path::new("t.toml"), &with_store(store))
        .unwrap()
        .store
        .kind
    {
        StoreKind::Embedded { memory, .. } => memory,
        other => panic!("{other:?}"),
    };
    assert_eq!(memory("[store]"), crate::config::EmbeddedMemory::default());
    assert_eq!(
        memory("[store]").cache,
        2 << 20,
        "a sidecar's block cache: the dedup filters and indexes are pinned outside it"
    );
    let m = memory("[store]\ncache_size = \"16MiB\"\nmemtable_size = 2097152\nhot_size = 0");
    assert_eq!((m.cache, m.memtable, m.hot), (16 << 20, 2 << 20, 0));
    for (store, refusal) in [
        // A missing unit (bytes, not MiB) is caught, with where it was written.
        (
            "memtable_size = 64",
            "t.toml:6:17: store.memtable_size must be between 1MiB and 4GiB",
        ),
        ("cache_size = \"lots\"", "store.cache_size: invalid size"),
        (
            "kind = \"redis\"\nurl = \"redis://x\"\nhot_size = \"1MiB\"",
            "store.hot_size applies to kind = \"embedded\"",
        ),
        ("cache_mb = 5", "cache_mb"),
    ] {
        let e = errors(&with_store(&format!("[store]\n{store}")));
        assert!(e.iter().any(|m| m.contains(refusal)), "{store}: {e:?}");
    }
}

#[test]
fn redis_cluster_store_settings() {
    let with_store = |store: &str| {
        BASE.replace(
            "[upstreams.orders]",
            &format!("[store]\nkind = \"redis\"\n{store}\n\n[upstreams.orders]"),
        )
    };
    let redis = |text: &str| match parse(Path::new("t.toml"), &with_store(text))
        .unwrap()
        .store
        .kind
    {
        StoreKind::Redis(r) => (r.urls.len(), r.cluster),
        other => panic!("{other:?}"),
    };
    // A list is a cluster's nodes; one URL is a cluster only when it says so.
    assert_eq!(
        redis("url = [\"redis://a:7000\", \"redis://b:7001\", \"redis://c:7002\"]"),
        (3, true)
    );
    assert_eq!(redis("url = \"redis://a:7000\"\ncluster = true"), (1, true));
    let warned = |text: &str| {
        parse(Path::new("t.toml"), &with_store(text))
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("on a Redis Cluster puts each route on 1 node"))
    };
    assert!(warned("url = \"redis://a:7000\"\ncluster = true"));
    assert!(!warned(
        "url = \"redis://a:7000\"\ncluster = true\nshards = 6"
    ));
    assert!(!warned("url = \"redis://a:7000\""));
    assert_eq!(redis("url = \"redis://a:7000\""), (1, false));
    let e = errors(&with_store(
        "url = [\"redis://a:7000\", \"redis://b:7001\"]\ncluster = false",
    ));
    assert!(
        e.iter().any(|m| m.contains("store.cluster = false")),
        "{e:?}"
    );
    let e = errors(&with_store("url = []"));
    assert!(e.iter().any(|m| m.contains("the list is empty")), "{e:?}");
    // Each node is checked where it is written.
    let text = with_store("url = [\"redis://a:7000\",\n  \"redis://b:7001/2\",\n  \"http://c\"]");
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let e = errors(&text);
    let at = |needle: &str| e.iter().find(|m| m.contains(needle)).cloned();
    let only_db0 = at("only database 0").unwrap_or_default();
    let not_url = at("not a Redis URL").unwrap_or_default();
    let b = format!("t.toml:{}:3:", line_of("b:7001/2"));
    let c = format!("t.toml:{}:3:", line_of("http://c"));
    assert!(only_db0.starts_with(&b), "{e:?}");
    assert!(not_url.starts_with(&c), "{e:?}");
    let e = errors(&BASE.replace(
        "[upstreams.orders]",
        "[store]\ncluster = true\n\n[upstreams.orders]",
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("store.cluster applies to kind = \"redis\"")),
        "{e:?}"
    );
}
