//! Shared rate limits (`rate_limit = { ..., shared = true }`): exact over two hookgate replicas
//! on one real redis-server (and on a Redis Cluster), the same headers as the local buckets,
//! and, when Redis hangs or is gone, requests still answered at once from the replica's own
//! buckets.

mod support;

use crate::common;

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;

use common::fleet::check_config;
use common::redis_cluster::RedisCluster;
use common::redis_server::RedisServer;
use common::*;

use support::{
    Answer, TRUST, alternate, cli, count, disabled_route, fallbacks, route, send, statuses, store,
    two_replicas,
};

const WAIT: Duration = Duration::from_secs(20);
#[tokio::test]
async fn two_replicas_share_one_exact_limit_with_the_local_headers() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let routes = [
        route("per_route", "{ per_route = \"10/1m\", shared = true }", ""),
        route("per_ip", "{ per_ip = \"5/1m\", shared = true }", ""),
        route("local", "{ per_route = \"3/1m\" }", ""),
        route(
            "both",
            "{ per_ip = \"2/1m\", per_route = \"5/1m\", shared = true }",
            "",
        ),
    ]
    .concat();
    let gws = two_replicas(&format!("\"{}\"", redis.url()), &up, &routes);
    let c = client();

    // 20 requests, alternating between the replicas, from 20 addresses: exactly the route's 10
    // are accepted, counting down across replicas, then 429 with Retry-After.
    let answers = alternate(&c, &gws, "/per_route", 20, |i| format!("203.0.113.{i}")).await;
    assert_eq!(count(&answers, 200), 10, "{:?}", statuses(&answers));
    assert_eq!(count(&answers, 429), 10);
    for (i, a) in answers.iter().enumerate().take(10) {
        assert_eq!(a.status, 200, "request {i}");
        assert_eq!(a.num("ratelimit-limit"), 10);
        assert_eq!(a.num("ratelimit-remaining"), 9 - i as u64, "request {i}");
        assert_eq!(a.header("ratelimit-policy"), Some("10;w=60"));
        // Until full again: one 6 s token per request taken so far (exact, rounded up).
        let reset = a.num("ratelimit-reset");
        assert!(
            (6 * (i as u64 + 1) - 1..=6 * (i as u64 + 1)).contains(&reset),
            "{reset}"
        );
    }
    for a in &answers[10..] {
        assert_eq!(a.status, 429);
        // The next token of a 10/1m bucket: at most 6 s away.
        assert!((1..=6).contains(&a.num("retry-after")), "{:?}", a.headers);
        assert_eq!(a.num("ratelimit-remaining"), 0);
        assert_eq!(a.header("ratelimit-policy"), Some("10;w=60"));
    }
    // The key expires once the bucket would be full again: within the minute.
    let pttl: i64 = redis
        .cli(&["pttl", "hookgate:{per_route:rl}:r:10/60000"])
        .parse()
        .unwrap();
    assert!((50_000..=60_000).contains(&pttl), "pttl {pttl}");

    // Per IP, shared: 12 requests at once from one address over both replicas, exactly 5 pass.
    let same: Vec<Answer> = futures_util::future::join_all(
        (0..12).map(|i| send(&c, &gws[i % 2], "/per_ip", "198.51.100.7")),
    )
    .await;
    assert_eq!(count(&same, 200), 5, "{:?}", statuses(&same));
    assert_eq!(count(&same, 429), 7);
    // Other addresses are unaffected; an IPv4-mapped IPv6 address is the same IPv4 client.
    assert_eq!(
        send(&c, &gws[0], "/per_ip", "198.51.100.8").await.status,
        200
    );
    let mapped = send(&c, &gws[1], "/per_ip", "::ffff:198.51.100.7").await;
    assert_eq!(mapped.status, 429);
    // IPv6 clients are counted by /64, over both replicas.
    let v6: Vec<u16> = {
        let mut v = Vec::new();
        for i in 0..6 {
            let ip = format!("2001:db8:1:2::{:x}", i + 1);
            v.push(send(&c, &gws[i % 2], "/per_ip", &ip).await.status);
        }
        v
    };
    assert_eq!(v6, [200, 200, 200, 200, 200, 429]);
    assert_eq!(
        send(&c, &gws[0], "/per_ip", "2001:db8:1:3::1").await.status,
        200,
        "another /64"
    );

    // The client's bucket first: an abusive address refused by its own bucket leaves the
    // route's alone (3 of its 5 tokens remain for others).
    let abusive = alternate(&c, &gws, "/both", 6, |_| "198.51.100.66".into()).await;
    assert_eq!(statuses(&abusive), [200, 200, 429, 429, 429, 429]);
    assert_eq!(
        abusive[2].num("ratelimit-limit"),
        2,
        "refused by its own bucket"
    );
    let others = alternate(&c, &gws, "/both", 4, |i| format!("198.51.100.{}", 70 + i)).await;
    assert_eq!(statuses(&others), [200, 200, 200, 429]);
    assert_eq!(
        others[3].num("ratelimit-limit"),
        5,
        "refused by the route's bucket"
    );
    // A request the route's bucket refused did not spend its client's token: that client
    // still has one of its two.
    let again = send(&c, &gws[0], "/both", "198.51.100.73").await;
    assert_eq!((again.status, again.num("ratelimit-limit")), (429, 5));

    // A route without `shared` keeps local buckets: 3 per replica.
    let local = alternate(&c, &gws, "/local", 10, |i| format!("192.0.2.{i}")).await;
    assert_eq!(count(&local, 200), 6, "{:?}", statuses(&local));
    assert!(redis.cli(&["keys", "*{local:rl}*"]).is_empty());

    // Redis answered every check: nothing decided locally.
    for gw in &gws {
        assert_eq!(fallbacks(&c, gw, "per_route").await.0, 0);
        assert_eq!(fallbacks(&c, gw, "per_ip").await.0, 0);
    }

    // A reload that leaves the rate alone keeps the state; a changed rate starts afresh.
    let reload = |rate: &str| {
        let routes = [
            route("per_route", rate, ""),
            route("per_ip", "{ per_ip = \"5/1m\", shared = true }", ""),
            route("other", "{ per_ip = \"1/1s\" }", ""),
        ]
        .concat();
        gws[0].rewrite_config(
            TRUST,
            &format!("{}\n{routes}", upstream_block("up", &up.url("/"), "")),
        );
    };
    let (_, h) = get_json(&c, &gws[0].admin("/healthz")).await;
    let hash = h["config_hash"].as_str().unwrap().to_string();
    reload("{ per_route = \"10/1m\", shared = true }");
    eventually(WAIT, async || {
        let (_, h) = get_json(&c, &gws[0].admin("/healthz")).await;
        (h["config_hash"].as_str() != Some(hash.as_str())).then_some(())
    })
    .await
    .expect("reloaded");
    assert_eq!(
        send(&c, &gws[0], "/per_route", "203.0.113.99").await.status,
        429
    );
    reload("{ per_route = \"11/1m\", shared = true }");
    let fresh = eventually(WAIT, async || {
        let a = send(&c, &gws[0], "/per_route", "203.0.113.99").await;
        (a.status == 200).then_some(a)
    })
    .await
    .expect("a changed rate starts a fresh bucket");
    assert_eq!(fresh.num("ratelimit-limit"), 11);
    assert_eq!(fresh.num("ratelimit-remaining"), 10);
}

#[tokio::test]
async fn one_shared_limit_holds_on_a_redis_cluster() {
    let cluster = RedisCluster::start_with(0);
    let up = Upstream::start();
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let url = format!("[{}]", urls.join(", "));
    let routes = route(
        "orders",
        "{ per_ip = \"4/1m\", per_route = \"10/1m\", shared = true }",
        "",
    );
    let gws = two_replicas(&url, &up, &routes);
    let c = client();
    // Five addresses, four requests each: the client buckets (4) never refuse; the route's
    // bucket refuses the 11th on.
    let answers = alternate(&c, &gws, "/orders", 20, |i| format!("203.0.113.{}", i % 5)).await;
    assert_eq!(count(&answers, 200), 10, "{:?}", statuses(&answers));
    assert!(answers[10..].iter().all(|a| a.status == 429));
    // Every key of the route is on one node (one hash tag).
    let node = cluster.master_of("{orders:rl}");
    let keys = cli(node, &["--scan", "--pattern", "hookgate:{orders:rl}:*"]);
    assert!(keys.contains("hookgate:{orders:rl}:r:10/60000"), "{keys}");
    assert!(keys.contains(":i:4/60000:203.0.113.0"), "{keys}");
    for gw in &gws {
        assert_eq!(fallbacks(&c, gw, "orders").await.0, 0);
    }
}

#[tokio::test]
async fn a_hung_or_dead_redis_leaves_each_replica_its_own_buckets() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    // A disabled route answers 503 right after the rate check: nothing else waits on Redis, so
    // the time to answer is the rate check's. An answer within 2 s is the rate check's
    // fallback (300 ms here, so that a slow test machine does not fall back when Redis is
    // fine), not the connection's own deadline (store.timeout, 5 s) giving up.
    let routes = route(
        "probe",
        "{ per_ip = \"2/1m\", shared = true }",
        "state = \"disabled\"",
    );
    let gw = Gateway::start_full(
        TRUST,
        Some(store(
            &format!("\"redis://127.0.0.1:{}/0\"", redis.port),
            "a",
            "timeout = \"5s\"\nclaim_after = \"20s\"\nrate_limit_timeout = \"300ms\"",
        )),
        "",
        &format!("{}\n{routes}", upstream_block("up", &up.url("/"), "")),
        &[],
    );
    let c = client();
    let a = send(&c, &gw, "/probe", "198.51.100.1").await;
    assert_eq!((a.status, a.num("ratelimit-remaining")), (503, 1));

    redis.signal("STOP");
    let bound = Duration::from_secs(2);
    let mut hung = Vec::new();
    for _ in 0..3 {
        hung.push(send(&c, &gw, "/probe", "198.51.100.2").await);
    }
    for a in &hung {
        assert!(a.took < bound, "answered after {:?}", a.took);
    }
    // The replica's own bucket for that client still bites.
    assert_eq!(statuses(&hung), [503, 503, 429]);
    assert!((1..=30).contains(&hung[2].num("retry-after")));
    let (n, reasons) = fallbacks(&c, &gw, "probe").await;
    assert_eq!(n, 3);
    assert!(reasons.contains(&"timeout".to_string()), "{reasons:?}");
    assert!(reasons.contains(&"backoff".to_string()), "{reasons:?}");

    // Redis answers again: checks go back to it (within a backoff), with the state it had.
    redis.signal("CONT");
    let mut i = 0;
    eventually(WAIT, async || {
        i += 1;
        let before = fallbacks(&c, &gw, "probe").await.0;
        send(&c, &gw, "/probe", &format!("192.0.2.{i}")).await;
        (fallbacks(&c, &gw, "probe").await.0 == before).then_some(())
    })
    .await
    .expect("shared again");
    let a = send(&c, &gw, "/probe", "198.51.100.1").await;
    assert_eq!((a.status, a.num("ratelimit-remaining")), (503, 0));
    assert_eq!(send(&c, &gw, "/probe", "198.51.100.1").await.status, 429);

    // Redis gone (connection refused): answered at once, from the local buckets.
    redis.stop();
    let mut gone = Vec::new();
    for _ in 0..3 {
        gone.push(send(&c, &gw, "/probe", "198.51.100.3").await);
    }
    assert!(
        gone.iter().all(|a| a.took < bound),
        "{:?}",
        gone.iter().map(|a| a.took).collect::<Vec<_>>()
    );
    assert_eq!(statuses(&gone), [503, 503, 429]);
    common::ops::log_line(&gw, "shared rate limit: redis did not answer in time")
        .await
        .expect("the log says why");
}

#[tokio::test]
async fn a_client_costs_under_320_bytes_of_redis() {
    let redis = RedisServer::start();
    // One token per 6 minutes: the keys outlive the measurement.
    let (gw, _up) = disabled_route(&redis, "10/1h");
    let c = client();
    // Warm up: the script is loaded, the connection's buffers exist.
    send(&c, &gw, "/limai", "10.255.255.255").await;
    // What the keys hold: Redis's memory less its clients' buffers and its AOF buffer, which a
    // slow machine leaves holding a backlog of the burst's commands when it is measured.
    let used = || -> i64 {
        let info = redis.cli(&["info", "memory"]);
        let field = |name: &str| -> i64 {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("no {name} in INFO memory"))
                .trim()
                .parse()
                .unwrap()
        };
        field("used_memory") - field("mem_clients_normal") - field("mem_aof_buffer")
    };
    let before = used();
    let calls_before = redis.calls("evalsha");
    let n = 2000;
    let ips: Vec<String> = (0..n)
        .map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1))
        .collect();
    let statuses: Vec<u16> = futures_util::stream::iter(ips.iter())
        .map(|ip| {
            let (c, gw) = (&c, &gw);
            async move { send(c, gw, "/limai", ip).await.status }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let other: Vec<_> = statuses.iter().filter(|s| **s != 503).collect();
    assert!(other.is_empty(), "not the disabled route's 503: {other:?}");
    assert_eq!(fallbacks(&c, &gw, "limai").await, (0, vec![]));
    let keys = redis.cli(&["--scan", "--pattern", "hookgate:{limai:rl}:i:*"]);
    // Each address's key, and the warm-up's.
    assert_eq!(keys.lines().count(), n + 1, "client keys");
    let per_key = (used() - before) as f64 / n as f64;
    println!("redis memory per client: {per_key:.0} bytes ({n} clients)");
    // One script call per check (the store's own few scripts a second aside).
    let calls = (redis.calls("evalsha") - calls_before) as usize;
    assert!(
        (n..n + 200).contains(&calls),
        "{calls} EVALSHA for {n} checks"
    );
    println!(
        "redis per shared rate check: {}",
        redis
            .cli(&["info", "commandstats"])
            .lines()
            .find(|l| l.starts_with("cmdstat_evalsha:"))
            .unwrap_or_default()
    );
    // ~270 bytes on Redis 7.0: a 42-byte key, its value (an integer), its expiry, table slots
    // (~175), and the client's entry in the route's set of live buckets (~95).
    assert!(per_key < 320.0, "{per_key} bytes per client");
}

/// The script on its own (`redis-cli --eval`), with a cap of 2 live client buckets: a third
/// client without one shares the overflow bucket while both live; known clients keep their own;
/// an expired bucket frees its place at once (not at the end of a period).
#[test]
fn the_script_caps_live_client_buckets() {
    let redis = RedisServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/limits/rate/shared.lua");
    let tag = "t:{r:rl}";
    // Client: `t_us` per token, burst `burst`; no route bucket; overflow: burst 30; cap 2; 60 s
    // period.
    let check_with = |client: &str, t_us: u64, burst: u64| -> Vec<i64> {
        let (ckey, rkey, lkey, vkey) = (
            format!("{tag}:i:{client}"),
            format!("{tag}:r"),
            format!("{tag}:l"),
            format!("{tag}:v"),
        );
        let args = [
            t_us.to_string(),
            (t_us * (burst - 1)).to_string(),
            "0".into(),
            "0".into(),
            "100000".into(),
            "2900000".into(),
            "2".into(),
            "60000".into(),
            client.into(),
        ];
        let out = Command::new(common::redis_server::binary().replace("redis-server", "redis-cli"))
            .args(["-p", &redis.port.to_string(), "--eval", script])
            .args([&ckey, &rkey, &lkey, &vkey, ","])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    };
    let check = |client: &str| check_with(client, 1_000_000, 3);
    let a = check("a");
    assert_eq!((a[0], a[2], a[4]), (1, -1, 0), "{a:?}");
    // Until full again: one token (1 s), on Redis' clock.
    assert!((999_000..=1_000_000).contains(&a[1]), "{a:?}");
    assert_eq!(check("b")[4], 0);
    let c = check("c");
    assert_eq!(
        (c[0], c[4]),
        (1, 1),
        "the third client without a bucket shares the overflow bucket"
    );
    assert_eq!(check("a")[4], 0, "a known client keeps its own");
    assert_eq!(redis.cli(&["zcard", &format!("{tag}:l")]), "2");
    // Each key expires when its bucket is full again: `a` (2 tokens taken) within 2 s.
    let pttl: i64 = redis.cli(&["pttl", &format!("{tag}:i:a")]).parse().unwrap();
    assert!((1_000..=2_000).contains(&pttl), "{pttl}");
    assert!(redis.cli(&["exists", &format!("{tag}:i:c")]) == "0");
    // `a` again: the last of its burst of 3, then refused with the wait for its next token.
    assert_eq!(check("a")[0], 1);
    let refused = check("a");
    assert_eq!(refused[0], 0, "{refused:?}");
    assert!((1..=1_000_000).contains(&refused[1]), "{refused:?}");

    // Buckets of 100 ms: once `x` and `y` expired, a new client gets a bucket of its own.
    redis.cli(&["del", &format!("{tag}:l")]);
    let quick = |client: &str| check_with(client, 100_000, 1);
    assert_eq!(quick("x")[4], 0);
    assert_eq!(quick("y")[4], 0);
    assert_eq!(quick("z")[4], 1, "two live buckets: the overflow");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(redis.cli(&["exists", &format!("{tag}:i:x")]), "0");
    assert_eq!(
        quick("w")[4],
        0,
        "expired buckets free their places at once, not at the end of the period"
    );
}

#[tokio::test]
async fn a_client_that_keeps_sending_after_its_429_costs_redis_almost_nothing() {
    let redis = RedisServer::start();
    let (gw, _up) = disabled_route(&redis, "2/1m");
    let c = client();
    for _ in 0..2 {
        assert_eq!(send(&c, &gw, "/limai", "198.51.100.5").await.status, 503);
    }
    let before = redis.calls("evalsha");
    let n = 200;
    let flood: Vec<Answer> = futures_util::stream::iter(0..n)
        .map(|_| send(&c, &gw, "/limai", "198.51.100.5"))
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(count(&flood, 429), n);
    for a in &flood {
        // The remembered refusal: the same bucket, the wait still running down.
        assert_eq!(a.num("ratelimit-limit"), 2);
        assert!((1..=30).contains(&a.num("retry-after")), "{:?}", a.headers);
    }
    // The first refusal asked Redis; the rest were answered from it (what the store's own
    // background scripts add meanwhile is a few a second).
    let calls = (redis.calls("evalsha") - before) as usize;
    println!("{n} refused requests of one client: {calls} script calls");
    assert!(
        calls < n / 4,
        "{calls} script calls for {n} refused requests"
    );
    // Another client is still asked about.
    assert_eq!(send(&c, &gw, "/limai", "198.51.100.6").await.status, 503);
}

#[test]
fn shared_needs_the_redis_store_and_something_to_share() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.toml");
    let head = "[server]\nlisten = \"127.0.0.1:8080\"\n\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = { scheme = \"none\" }\n";
    let check = |text: String| check_config(&path, &text);
    let p = path.display();
    // The embedded store (the default) has nothing replicas share.
    let (ok, err) = check(format!(
        "{head}rate_limit = {{ per_ip = \"300/5m\", shared = true }}\n"
    ));
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{p}:11:44: routes.r.rate_limit.shared = true needs store.kind = \"redis\""
        )),
        "{err}"
    );
    let redis = "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1/0\"\n\n";
    let (ok, err) = check(format!("{redis}{head}rate_limit = {{ shared = true }}\n"));
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{p}:15:25: routes.r.rate_limit.shared: set per_ip or per_route to share"
        )),
        "{err}"
    );
    let (ok, err) = check(format!(
        "{redis}{head}rate_limit = {{ per_route = \"10/1m\", shared = \"yes\" }}\n"
    ));
    assert!(!ok && err.contains(":15:"), "{err}");
    let (ok, err) = check(format!(
        "{redis}{head}rate_limit = {{ per_route = \"10/1m\", shared = true }}\n"
    ));
    assert!(ok, "{err}");
    // The deadline: Redis only, at most 10 s.
    let (ok, err) = check(format!("[store]\nrate_limit_timeout = \"50ms\"\n\n{head}"));
    assert!(!ok);
    assert!(
        err.contains("store.rate_limit_timeout applies to kind = \"redis\""),
        "{err}"
    );
    let (ok, err) = check(format!(
        "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1/0\"\nrate_limit_timeout = \"1m\"\n\n{head}"
    ));
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{p}:4:22: store.rate_limit_timeout must be at most 10s"
        )),
        "{err}"
    );
}
