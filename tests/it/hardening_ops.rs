//! Issue 9, items 9–10, end to end: the sync replay cache answers only the same request, sync
//! calls share the upstream's concurrency with deliveries, and the admin API is guarded
//! (item 11, rotated secrets and reloads: `secret_reload`).

mod answers;

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::ops::*;
use common::redis_server::RedisServer;
use common::*;
use serde_json::Value;

#[tokio::test]
async fn sync_replay_cache_answers_only_the_same_request() {
    let up = cookie_upstream();
    let gw = Gateway::start("", &sync_routes(&up, "", ""), &[("FLOW_TOKEN", "flow-tok")]);
    same_id_other_request_is_a_conflict(&gw, &gw, &up).await;
    let m = metrics(&client(), &gw).await;
    assert!(
        m.contains("hookgate_requests_total{outcome=\"conflict\",route=\"flow\"} 5"),
        "{m}"
    );
}

#[tokio::test]
async fn sync_replay_cache_answers_only_the_same_request_on_redis() {
    let redis = RedisServer::start();
    let up = cookie_upstream();
    let store = |name: &str| {
        Some(format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{name}\"",
            redis.url()
        ))
    };
    let routes = sync_routes(&up, "", "");
    let env = [("FLOW_TOKEN", "flow-tok")];
    let a = Gateway::start_full("", store("a"), "", &routes, &env);
    let b = Gateway::start_full("", store("b"), "", &routes, &env);
    // Two replicas: the record (and its digest) lives in Redis, not in one process.
    same_id_other_request_is_a_conflict(&a, &b, &up).await;
}

/// An upstream's `429` or `408` says "not now", not what became of the event: it is relayed but
/// not kept, so the sender's retry of the same request calls the upstream again (as a delivery
/// retries them) rather than getting the `429` replayed for the whole dedup window.
#[tokio::test]
async fn sync_answers_saying_not_now_are_not_replayed() {
    let up = Upstream::start();
    up.script([
        Reply {
            headers: vec![("retry-after", "1".into())],
            ..Reply::status(429)
        },
        Reply::status(408),
        Reply::status(200),
    ]);
    let gw = Gateway::start("", &sync_routes(&up, "", ""), &[("FLOW_TOKEN", "flow-tok")]);
    let c = client();
    let body = r#"{"eventId":"busy_1"}"#;
    for (want, calls) in [(429, 1), (408, 2), (200, 3)] {
        let r = post(&c, &gw.url("/flow"), &AUTH, body).await;
        assert_eq!(r.status(), want);
        assert_eq!(header(&r, "idempotent-replayed"), None);
        assert_eq!(up.count(), calls);
    }
    // The 200 is kept: the same request again is its replay, with no call.
    let r = post(&c, &gw.url("/flow"), &AUTH, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "idempotent-replayed"), Some("true"));
    assert_eq!(up.count(), 3);
}

/// A sync route and an async route on one upstream with `concurrency = 1`.
fn sync_and_async_on_one_slot(up: &Upstream, sync_timeout: &str) -> Gateway {
    let routes = format!(
        "{}\n{}",
        sync_routes(
            up,
            "concurrency = 1",
            &format!("sync_timeout = \"{sync_timeout}\"")
        ),
        limai_route("limai", "/hooks/limai", "flows", "")
    );
    Gateway::start(
        "",
        &routes,
        &[("FLOW_TOKEN", "flow-tok"), ("LIMAI_SECRET", SECRET)],
    )
}

#[tokio::test]
async fn sync_calls_and_deliveries_share_the_upstream_concurrency() {
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(400)));
    let gw = sync_and_async_on_one_slot(&up, "10s");
    let c = client();
    accept_all(
        &c,
        &gw.url("/hooks/limai"),
        (0..4).map(|i| format!("evt_{i}")),
    )
    .await;
    // Deliveries are under way: the sync calls must wait for a free slot, not add to them.
    eventually(WAIT, async || (up.count() >= 1).then_some(()))
        .await
        .expect("a delivery started");
    let calls = futures_util::future::join_all((0..2).map(|i| {
        let (c, url) = (c.clone(), gw.url("/flow"));
        async move {
            post(&c, &url, &AUTH, &format!(r#"{{"eventId":"s_{i}"}}"#))
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert_eq!(calls, [200, 200]);
    eventually(WAIT, async || (up.count() >= 6).then_some(()))
        .await
        .expect("every delivery and call made");
    assert_eq!(
        up.max_in_flight(),
        1,
        "concurrency = 1 holds for sync calls too"
    );
}

#[tokio::test]
async fn a_sync_call_that_finds_the_limit_full_for_its_timeout_gets_the_timeout_answer() {
    let up = Upstream::start();
    // The delivery holds the only slot for 1.5 s (within the upstream's 2 s timeout).
    up.set_default(Reply::status(200).after(Duration::from_millis(1500)));
    let gw = sync_and_async_on_one_slot(&up, "600ms");
    let c = client();
    accept_all(&c, &gw.url("/hooks/limai"), ["evt_0".to_string()]).await;
    eventually(WAIT, async || (up.count() >= 1).then_some(()))
        .await
        .expect("the delivery started");
    let started = Instant::now();
    let r = post(&c, &gw.url("/flow"), &AUTH, r#"{"eventId":"s_0"}"#).await;
    let took = started.elapsed();
    assert_eq!(r.status(), 408);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("concurrency"),
        "{v}"
    );
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(
        up.count(),
        1,
        "the sync call never reached the busy upstream"
    );
    assert_eq!(up.max_in_flight(), 1);
    // Given up, not remembered: once there is room, the sender's retry goes through.
    up.set_default(Reply::status(200));
    let r = eventually(WAIT, async || {
        let r = post(&c, &gw.url("/flow"), &AUTH, r#"{"eventId":"s_0"}"#).await;
        (r.status() == 200).then_some(r)
    })
    .await
    .expect("retry answered");
    assert_eq!(header(&r, "idempotent-replayed"), None);
}

// ---- item 10: the admin API ----

#[test]
fn an_admin_listener_beyond_loopback_without_a_token_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    let base = |admin: &str, token: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\nadmin_listen = \"{admin}\"\n{token}\n[store]\npath = \"{}\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = {{ scheme = \"none\" }}\n",
            free_port(),
            dir.path().join("data").display()
        )
    };
    let port = free_port();
    for admin in [
        format!("0.0.0.0:{port}"),
        format!("[::]:{port}"),
        "10.1.2.3:9180".to_string(),
    ] {
        std::fs::write(&path, base(&admin, "")).unwrap();
        for cmd in [&["check"][..], &["run"][..]] {
            let out = hookgate(cmd, &path);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd:?} {admin}: {err}");
            let at = format!("{}:3:16: server.admin_listen", path.display());
            assert!(err.contains(&at), "{cmd:?} {admin}: {err}");
            assert!(err.contains("server.admin_token is required"), "{err}");
        }
    }
    // Loopback alone, or a token, is fine.
    std::fs::write(&path, base("127.0.0.1:9180", "")).unwrap();
    assert!(hookgate(&["check"], &path).status.success());
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "t0ken\n").unwrap();
    std::fs::write(
        &path,
        base(
            "0.0.0.0:9180",
            &format!("admin_token = \"file:{}\"", token.display()),
        ),
    )
    .unwrap();
    let out = hookgate(&["check"], &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_reload_cannot_drop_the_token_of_an_admin_listener_bound_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    let (port, admin) = (free_port(), free_port());
    let config = |admin_listen: String, token: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"{admin_listen}\"\n{token}\n[store]\npath = \"{}\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = {{ scheme = \"none\" }}\n",
            dir.path().join("data").display()
        )
    };
    std::fs::write(
        &path,
        config(
            format!("0.0.0.0:{admin}"),
            "admin_token = \"env:ADMIN_TOKEN\"",
        ),
    )
    .unwrap();
    let _p = Process(
        Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["run", "--config"])
            .arg(&path)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + WAIT;
    while http_get_status(admin, "/readyz") != Some(200) {
        assert!(Instant::now() < deadline, "hookgate did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = client();
    let url = |p: &str| format!("http://127.0.0.1:{admin}{p}");
    let routes = async |token: Option<&str>| {
        let mut req = c.get(url("/routes"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    };
    assert_eq!(routes(None).await, 401);

    // The file now says loopback without a token; the listener bound at start is still on
    // every interface, so the reload is refused and the token still required.
    std::fs::write(&path, config(format!("127.0.0.1:{admin}"), "")).unwrap();
    let health = async |token: Option<&str>| -> Value {
        let mut req = c.get(url("/healthz"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
    };
    let err = eventually(WAIT, async || {
        let h = health(Some(ADMIN_TOKEN)).await;
        h["last_reload_error"].as_str().map(String::from)
    })
    .await
    .expect("reload refused");
    assert!(err.contains("server.admin_token is required"), "{err}");
    // The probe's view (no token): that a reload failed, not the file's path nor the error's
    // text, which quotes the file.
    let open = health(None).await;
    assert_eq!(open["status"], "ok");
    assert_eq!(open["last_reload_failed"], true, "{open}");
    assert!(
        open.get("last_reload_error").is_none() && open.get("config_path").is_none(),
        "{open}"
    );
    assert_eq!(routes(None).await, 401);
    assert_eq!(routes(Some(ADMIN_TOKEN)).await, 200);
}

#[tokio::test]
async fn the_admin_token_guards_everything_but_probes_and_metrics() {
    let up = Upstream::start();
    let gw = Gateway::start(
        "admin_token = \"env:ADMIN_TOKEN\"",
        &format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), ""),
            limai_route("limai", "/hooks/limai", "orders", "")
        ),
        &[("LIMAI_SECRET", SECRET), ("ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let c = client();
    accept_all(&c, &gw.url("/hooks/limai"), ["evt_1".to_string()]).await;
    // Probes and Prometheus cannot send a token.
    for p in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(admin_call(&c, &gw, "GET", p, &[]).await, 200, "{p}");
    }
    let good = format!("Bearer {ADMIN_TOKEN}");
    let near = format!("Bearer {ADMIN_TOKEN}x");
    let short = format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    let basic = format!("Basic {ADMIN_TOKEN}");
    for (method, path) in GUARDED {
        for bad in [
            vec![],
            vec![("authorization", "Bearer wrong")],
            vec![("authorization", near.as_str())],
            vec![("authorization", short.as_str())],
            vec![("authorization", basic.as_str())],
            vec![("x-admin-token", ADMIN_TOKEN)],
        ] {
            assert_eq!(
                admin_call(&c, &gw, method, path, &bad).await,
                401,
                "{method} {path} {bad:?}"
            );
        }
    }
    let auth = [("authorization", good.as_str())];
    assert_eq!(
        state(&c, &gw, &auth).await,
        "active",
        "nothing paused without the token"
    );
    assert_eq!(
        admin_call(&c, &gw, "GET", "/events/evt_1", &auth).await,
        200
    );
    assert_eq!(admin_call(&c, &gw, "GET", "/dlq", &auth).await, 200);
    assert_eq!(admin_call(&c, &gw, "POST", "/dlq/replay", &auth).await, 200);
    assert_eq!(
        admin_call(&c, &gw, "POST", "/dlq/evt_1/replay?route=limai", &auth).await,
        409,
        "reached the handler: evt_1 is not dead"
    );
    assert_eq!(
        admin_call(&c, &gw, "POST", "/routes/limai/pause", &auth).await,
        200
    );
    assert_eq!(state(&c, &gw, &auth).await, "paused");
    assert_eq!(admin_call(&c, &gw, "GET", "/nonexistent", &auth).await, 404);
    assert!(
        !gw.logs().contains(ADMIN_TOKEN),
        "the token is never logged"
    );
}

#[tokio::test]
async fn a_tokenless_loopback_admin_refuses_browsers() {
    let up = Upstream::start();
    let gw = limai_gateway(&up, "");
    let c = client();
    // A page the operator visits: a cross-site form POST, and a DNS-rebinding read.
    let evil_host = format!("evil.example:{}", gw.admin_port);
    for bad in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("host", evil_host.as_str())],
    ] {
        for (method, path) in GUARDED {
            assert_eq!(
                admin_call(&c, &gw, method, path, &bad).await,
                403,
                "{method} {path} {bad:?}"
            );
        }
    }
    assert_eq!(state(&c, &gw, &[]).await, "active");
    for p in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(admin_call(&c, &gw, "GET", p, &[]).await, 200, "{p}");
    }
    let local = format!("localhost:{}", gw.admin_port);
    assert_eq!(
        admin_call(
            &c,
            &gw,
            "POST",
            "/routes/limai/pause",
            &[("host", local.as_str())]
        )
        .await,
        200
    );
    assert_eq!(state(&c, &gw, &[]).await, "paused");
}

#[test]
fn the_cli_reads_the_admin_token_the_config_names() {
    let up = Upstream::start();
    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("admin-token");
    std::fs::write(&token, format!("{ADMIN_TOKEN}\n")).unwrap();
    let gw = limai_gateway(&up, &format!("admin_token = \"file:{}\"", token.display()));
    let out = hookgate(&["routes", "list", "--json"], &gw.config_path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("limai"));
    // A wrong token from the environment wins, and the refusal says where tokens come from.
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["routes", "list", "--config"])
        .arg(gw.config_path())
        .env("HOOKGATE_ADMIN_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("HOOKGATE_ADMIN_TOKEN"),
        "{err}"
    );
    assert!(!err.contains(ADMIN_TOKEN));
}

/// A reload that renames a route (removes it and adds another on its path) is said: the name
/// is its events' identity, so the old one's queue and dedup window stay with the old name.
#[tokio::test]
async fn a_route_renamed_by_a_reload_is_said() {
    let up = Upstream::start();
    let body = |name: &str| {
        format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), ""),
            limai_route(name, "/hooks/limai", "orders", "")
        )
    };
    let gw = Gateway::start("", &body("limai"), &[("LIMAI_SECRET", SECRET)]);
    gw.rewrite_config("", &body("limai_v2"));
    let said = eventually(Duration::from_secs(30), async || {
        gw.logs()
            .contains("a route renamed by this reload")
            .then_some(())
    })
    .await;
    assert!(said.is_some(), "{}", gw.logs());
    assert!(
        gw.logs().contains("from=limai to=limai_v2"),
        "{}",
        gw.logs()
    );
}

/// A reload that changes how a route computes event IDs (here `event_id` added: the body hash
/// before, `json:/eventId` after) is said, naming the route: a sender's retry of an event
/// accepted before gets another ID, is new to the dedup window and is delivered again. A reload
/// that leaves the IDs alone says nothing of them.
#[tokio::test]
async fn a_reload_that_changes_how_event_ids_are_computed_is_said() {
    let up = Upstream::start();
    let body = |event_id: bool, timeout: &str| {
        let route = limai_route("limai", "/hooks/limai", "orders", "");
        let route = if event_id {
            route
        } else {
            route.replace("event_id = \"json:/eventId\"\n", "")
        };
        format!(
            "{}\n{route}",
            upstream_block("orders", &up.url("/"), &format!("max_age = \"{timeout}\""))
        )
    };
    let gw = Gateway::start("", &body(false, "1h"), &[("LIMAI_SECRET", SECRET)]);
    let gw = &gw;
    let reloads = async |n: usize| {
        eventually(Duration::from_secs(30), async || {
            (gw.logs().matches("config reloaded").count() >= n).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("no reload {n}: {}", gw.logs()));
    };
    gw.rewrite_config("", &body(true, "1h"));
    reloads(1).await;
    let said = "changes how routes.limai computes event IDs";
    let line = gw
        .logs()
        .lines()
        .find(|l| l.contains(said))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("not said: {}", gw.logs()));
    assert!(
        line.contains("sha256")
            && line.contains("json:/eventId")
            && line.contains("delivered again"),
        "{line}"
    );
    // Only the upstream changes: nothing about IDs.
    gw.rewrite_config("", &body(true, "2h"));
    reloads(2).await;
    assert_eq!(gw.logs().matches(said).count(), 1, "{}", gw.logs());
}
