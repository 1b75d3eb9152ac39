//! Operating hookgate: hot reload, config checking, graceful shutdown, admin API.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

fn routes(up: &Upstream, secret_env: &str) -> String {
    format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
            .replace("env:LIMAI_SECRET", &format!("env:{secret_env}"))
    )
}

#[tokio::test]
async fn new_secret_takes_effect_without_restart_and_broken_config_keeps_the_old() {
    let up = Upstream::start();
    let gw = Gateway::start(
        "",
        &routes(&up, "LIMAI_SECRET"),
        &[("LIMAI_SECRET", SECRET), ("ROTATED_SECRET", "rotated")],
    );
    let c = client();
    let (_, health) = get_json(&c, &gw.admin("/healthz")).await;
    let first_hash = health["config_hash"].as_str().unwrap().to_string();
    assert_eq!(
        send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_r1"))
            .await
            .0,
        200
    );

    // Switch the route to another secret, on disk only.
    gw.rewrite_config("", &routes(&up, "ROTATED_SECRET"));
    let sign = |secret: &'static str, id: &'static str| {
        let (c, url) = (c.clone(), gw.url("/hooks/limai"));
        async move {
            let body = event_body(id);
            signed_with(&c, &url, secret, &body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    eventually(WAIT, async || {
        (sign("rotated", "evt_r2").await == 200).then_some(())
    })
    .await
    .expect("new secret accepted after reload");
    assert_eq!(sign(SECRET, "evt_r3").await, 401, "old secret refused");
    let (_, health) = get_json(&c, &gw.admin("/healthz")).await;
    assert_ne!(health["config_hash"].as_str().unwrap(), first_hash);
    assert!(health["last_reload_error"].is_null());

    // A broken file: the running config stays, the error is reported.
    std::fs::write(gw.config_path(), "[server]\nlisten = \"nonsense\"\n").unwrap();
    let err = eventually(WAIT, async || {
        let (_, h) = get_json(&c, &gw.admin("/healthz")).await;
        h["last_reload_error"].as_str().map(String::from)
    })
    .await
    .expect("reload error reported");
    assert!(err.contains("hookgate.toml:2:"), "{err}");
    assert_eq!(
        sign("rotated", "evt_r4").await,
        200,
        "old config keeps serving"
    );
    let metrics = metrics(&c, &gw).await;
    assert!(
        metrics.contains(r#"hookgate_config_reloads_total{result="error"} 1"#),
        "{metrics}"
    );

    // SIGHUP reloads too (and does not kill the process).
    gw.rewrite_config("", &routes(&up, "LIMAI_SECRET"));
    gw.signal("HUP");
    eventually(WAIT, async || {
        (sign(SECRET, "evt_r5").await == 200).then_some(())
    })
    .await
    .expect("reloaded by SIGHUP");
}

fn check(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn check_prints_file_line_and_column_for_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"0.0.0.0:8080\"\nmax_body_bytes = \"lots\"\n\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let out = check(&path);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:7:1: unknown field `colour`", path.display())),
        "{err}"
    );

    std::fs::write(
        &path,
        "[server]\nlisten = \"0.0.0.0:8080\"\nmax_body_bytes = \"lots\"\n\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n\n[routes.r]\npath = \"/r\"\nupstream = \"b\"\n",
    )
    .unwrap();
    let out = check(&path);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    assert!(
        err.contains(&format!("{p}:3:18: server.max_body_bytes: invalid size")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}:8:1: routes.r has no verify table")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:10:12: routes.r.upstream: no upstream named \"b\""
        )),
        "{err}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"0.0.0.0:8080\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = { scheme = \"none\" }\n").unwrap();
    let out = check(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_example_configs_are_valid() {
    for file in ["hookgate.toml", "senders.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .arg("check")
            .arg("--config")
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("conf")
                    .join(file),
            )
            .envs([
                ("LIMAI_SECRET", "x"),
                ("LAHZA_SECRET", "x"),
                ("LOCOIA_TOKEN", "x"),
                ("LIDO_TOKEN", "x"),
                ("LIDO_CALLBACK_TOKEN", "x"),
                ("INTERNAL_WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn sigterm_finishes_in_flight_delivery_and_exits_promptly() {
    let up = Upstream::start();
    // The upstream takes a second; shutdown must wait for it, then exit without the full grace.
    up.set_default(Reply {
        status: 200,
        delay: Duration::from_millis(1000),
        headers: vec![],
        body: "ok",
    });
    let mut gw = Gateway::start(
        "",
        &routes(&up, "LIMAI_SECRET"),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    assert_eq!(
        send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_term"))
            .await
            .0,
        200
    );
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivery started");
    let took = gw.terminate();
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    // Restarted, the event is known as delivered: the in-flight attempt was recorded.
    gw.spawn();
    let (_, st) = get_json(&c, &gw.admin("/events/evt_term")).await;
    assert_eq!(st["state"], "delivered", "{st}");
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn sigterm_leaves_undeliverable_events_queued_for_the_next_start() {
    let up = Upstream::start();
    up.set_default(Reply::status(503));
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "max_attempts = 1000"),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let mut gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    assert_eq!(
        send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_later"))
            .await
            .0,
        200
    );
    eventually(WAIT, async || (up.count() >= 1).then_some(()))
        .await
        .expect("a first attempt failed");
    gw.terminate();
    up.set_default(Reply::status(200));
    gw.spawn();
    let v = eventually(WAIT, async || {
        let (_, st) = get_json(&c, &gw.admin("/events/evt_later")).await;
        (st["state"] == "delivered").then_some(st)
    })
    .await
    .expect("delivered after restart");
    assert!(v["attempts"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn admin_token_protects_the_admin_api_but_not_probes() {
    let up = Upstream::start();
    let gw = Gateway::start(
        "admin_token = \"env:ADMIN_TOKEN\"",
        &routes(&up, "LIMAI_SECRET"),
        &[("LIMAI_SECRET", SECRET), ("ADMIN_TOKEN", "adm1n")],
    );
    let c = client();
    let status = async |req: reqwest::RequestBuilder| req.send().await.unwrap().status().as_u16();
    assert_eq!(status(c.get(gw.admin("/healthz"))).await, 200);
    assert_eq!(status(c.get(gw.admin("/readyz"))).await, 200);
    assert_eq!(status(c.get(gw.admin("/dlq"))).await, 401);
    // Prometheus cannot send a token: /metrics is open, the API behind it is not.
    assert_eq!(status(c.get(gw.admin("/metrics"))).await, 200);
    assert_eq!(
        status(c.get(gw.admin("/routes")).bearer_auth("wrong")).await,
        401
    );
    assert_eq!(
        status(c.get(gw.admin("/dlq")).bearer_auth("adm1n")).await,
        200
    );
    assert_eq!(
        status(c.get(gw.admin("/nothing")).bearer_auth("adm1n")).await,
        404
    );
    assert_eq!(
        status(c.put(gw.admin("/dlq")).bearer_auth("adm1n")).await,
        405
    );
}

#[tokio::test]
async fn dlq_cli_lists_and_replays() {
    let up = Upstream::start();
    up.set_default(Reply::status(410));
    let gw = Gateway::start(
        "",
        &routes(&up, "LIMAI_SECRET"),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt/with spaces")).await;
    eventually(WAIT, async || {
        let (_, st) = get_json(&c, &gw.admin("/events/evt%2Fwith%20spaces")).await;
        (st["state"] == "dead").then_some(())
    })
    .await
    .expect("dead letter");
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .arg("dlq")
            .args(args)
            .arg("--config")
            .arg(gw.config_path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = cli(&["list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("evt/with spaces") && out.contains("HTTP 410"),
        "{out}"
    );
    up.set_default(Reply::status(200));
    let (ok, out, err) = cli(&["replay", "evt/with spaces"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["replayed"], 1);
    eventually(WAIT, async || {
        (up.received()
            .iter()
            .filter(|r| r.header("x-hookgate-attempt") == Some("1"))
            .count()
            == 2)
            .then_some(())
    })
    .await
    .expect("replayed delivery");
    let (ok, _, err) = cli(&["replay"]);
    assert!(!ok && err.contains("--all"), "{err}");
}

/// The harness itself: a port taken between its pick and the child's `bind` (by another
/// server, or as an outgoing connection's local port) makes it start the gateway again on new
/// ports, rather than test against whoever holds the old one.
#[tokio::test]
async fn the_harness_moves_a_gateway_whose_port_was_taken() {
    let up = Upstream::start();
    let mut gw = Gateway::prepare(
        &[],
        "",
        None,
        "",
        &routes(&up, "LIMAI_SECRET"),
        &[("LIMAI_SECRET", SECRET)],
    );
    let taken = std::net::TcpListener::bind(gw.addr()).unwrap();
    let old = gw.addr().port();
    gw.spawn();
    assert_ne!(gw.port, old);
    // Ready means the gateway's own process listens, not that something answers the port.
    assert!(std::net::TcpStream::connect(("127.0.0.1", old)).is_ok());
    assert!(
        !listens(gw.pid(), old),
        "the test's listener is not the gateway's"
    );
    assert!(listens(gw.pid(), gw.port));
    drop(taken);
    let (status, v) =
        send_signed(&client(), &gw.url("/hooks/limai"), &event_body("evt_moved")).await;
    assert_eq!(status, 200, "{v}");
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
}

#[test]
fn a_taken_port_is_a_clear_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{}\"\n[store]\npath = \"{}\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = {{ scheme = \"none\" }}\n",
            free_port(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no 30 s of bind retries"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (server.listen)"
        )),
        "{err}"
    );
}

#[test]
fn missing_ca_certificates_are_a_clear_startup_error() {
    // A minimal container has no CA bundle, and pingora's connector panics without one. The
    // bundle is hidden in a mount namespace of the hookgate process alone (needs root).
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\n[store]\npath = \"{}\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = {{ scheme = \"none\" }}\n",
            free_port(),
            free_port(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let script = format!(
        "mount --bind {} /etc/ssl || exit 97; exec timeout 20 {} run --config {}",
        empty.display(),
        env!("CARGO_BIN_EXE_hookgate"),
        path.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--", "sh", "-c", &script])
        .output();
    let Ok(out) = out else {
        eprintln!("SKIPPED: no unshare command to hide /etc/ssl in a mount namespace");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    // unshare itself refused (not root, or / is no mount point, as in a chroot), or the mount.
    if out.status.code() == Some(97) || err.starts_with("unshare:") {
        eprintln!(
            "SKIPPED: cannot hide /etc/ssl in a mount namespace (needs root and unshare): {err}"
        );
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no CA certificates on this system"), "{err}");
    assert!(err.contains("apt-get install ca-certificates"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn secrets_never_reach_logs_errors_or_metrics() {
    let up = Upstream::start();
    let secret = "s3cr3t-value-that-must-not-leak";
    let gw = Gateway::start(
        "",
        &routes(&up, "LIMAI_SECRET"),
        &[("LIMAI_SECRET", secret)],
    );
    let c = client();
    // Forged and valid requests, a failing reload: everything that logs.
    let body = event_body("evt_leak");
    for sig in ["sha256=00", "garbage"] {
        c.post(gw.url("/hooks/limai"))
            .header("x-webhook-signature", sig)
            .body(body.clone())
            .send()
            .await
            .unwrap();
    }
    signed_with(&c, &gw.url("/hooks/limai"), secret, &body)
        .send()
        .await
        .unwrap();
    std::fs::write(
        gw.config_path(),
        std::fs::read_to_string(gw.config_path()).unwrap() + "\nbroken = [",
    )
    .unwrap();
    let syntax = eventually(WAIT, async || {
        let (_, h) = get_json(&c, &gw.admin("/healthz")).await;
        h["last_reload_error"].as_str().map(String::from)
    })
    .await
    .expect("reload error");
    // The secret written in the file in the wrong shape: a type error, which must not quote it.
    let running = std::fs::read_to_string(gw.config_path()).unwrap();
    let wrong_shape = running.replace("\nbroken = [", "").replace(
        "[upstreams.orders]",
        &format!("[upstreams.other]\nurl = \"http://127.0.0.1:1/\"\nheaders = \"Bearer {secret}\"\n\n[upstreams.orders]"),
    ) + &format!("\n[routes.tok]\npath = \"/tok\"\nupstream = \"orders\"\nverify = {{ scheme = \"bearer\", secrets = \"{secret}\" }}\n");
    std::fs::write(gw.config_path(), &wrong_shape).unwrap();
    let err = eventually(WAIT, async || {
        let (_, h) = get_json(&c, &gw.admin("/healthz")).await;
        h["last_reload_error"]
            .as_str()
            .filter(|e| *e != syntax)
            .map(String::from)
    })
    .await
    .expect("the type error reported");
    assert!(!err.contains(secret), "{err}");
    assert!(err.contains("found a string"), "{err}");
    let metrics = metrics(&c, &gw).await;
    let (_, health) = get_json(&c, &gw.admin("/healthz")).await;
    let (_, event) = get_json(&c, &gw.admin("/events/evt_leak")).await;
    for (what, text) in [
        ("log", gw.logs()),
        ("metrics", metrics),
        ("healthz", health.to_string()),
        ("events", event.to_string()),
    ] {
        assert!(!text.contains(secret), "the secret leaked into the {what}");
    }
    // A literal secret in the file is accepted with a warning that does not repeat it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lit.toml");
    std::fs::write(&path, format!("[server]\nlisten = \"0.0.0.0:8080\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = {{ scheme = \"bearer\", secrets = [\"{secret}\"] }}\n")).unwrap();
    let out = check(&path);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && all.contains("written literally"),
        "{all}"
    );
    assert!(!all.contains(secret), "{all}");
    // The same file with the secret in the wrong shape (and a value read as a number).
    for (line, wants) in [
        (
            format!("secrets = \"{secret}\""),
            "expected a sequence, found a string",
        ),
        (
            "secrets = [\"env:X\"], header = 12024".to_string(),
            "found an integer",
        ),
    ] {
        std::fs::write(&path, format!("[server]\nlisten = \"0.0.0.0:8080\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = {{ scheme = \"bearer\", {line} }}\n")).unwrap();
        let out = check(&path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(wants), "{err}");
        assert!(!err.contains(secret) && !err.contains("12024"), "{err}");
    }
}

/// Shadow mode (`enforce = false`) lets failing requests through: `hookgate check`, the start
/// and every reload that brings it say so, naming the route.
#[tokio::test]
async fn shadow_mode_is_warned_about_at_check_start_and_reload() {
    let up = Upstream::start();
    let shadow = |route: &str| {
        format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), ""),
            limai_route(route, &format!("/hooks/{route}"), "orders", "")
                .replace("secrets =", "enforce = false, secrets =")
        )
    };
    let gw = Gateway::start("", &shadow("limai"), &[("LIMAI_SECRET", SECRET)]);
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(gw.config_path())
        .env("LIMAI_SECRET", SECRET)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: ")
            && err.contains("routes.limai: shadow mode (verify.enforce = false)"),
        "{err}"
    );
    assert!(
        gw.logs().contains("routes.limai: shadow mode"),
        "{}",
        gw.logs()
    );
    gw.rewrite_config("", &shadow("other"));
    eventually(WAIT, async || {
        gw.logs()
            .contains("routes.other: shadow mode")
            .then_some(())
    })
    .await
    .expect("the reload warns about shadow mode");
}
