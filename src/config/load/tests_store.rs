//! The loader's unit tests for `[store]`: the Redis store's settings (standalone and Cluster)
//! and the embedded store's memory bounds.

use std::path::Path;
use std::time::Duration;

use crate::config::{StoreKind, parse};

use super::tests::{BASE, errors, with_store};

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
    let m = memory(
        "[store]\ncache_size = \"16MiB\"\nmemtable_size = 2097152\nhot_size = 0\nlog_size = \"8MiB\"",
    );
    assert_eq!(
        (m.cache, m.memtable, m.hot, m.log),
        (16 << 20, 2 << 20, 0, 8 << 20)
    );
    for (store, refusal) in [
        // A missing unit (bytes, not MiB) is caught, with where it was written.
        (
            "memtable_size = 64",
            "t.toml:6:17: store.memtable_size must be between 1MiB and 4GiB",
        ),
        ("cache_size = \"lots\"", "store.cache_size: invalid size"),
        (
            "log_size = \"100KiB\"",
            "store.log_size must be between 1MiB and 4GiB",
        ),
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
