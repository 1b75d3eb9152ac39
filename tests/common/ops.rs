//! Helpers of tests/it/hardening_ops.rs (issue 9, items 9–11): sync-route requests and the
//! replay-cache scenario run against one gateway or two replicas, admin API calls, a hookgate
//! process from a config of the test's own, and rotated-secret checks.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

pub const WAIT: Duration = Duration::from_secs(15);
pub const ADMIN_TOKEN: &str = "adm-7Qk2-token";

pub async fn post(
    c: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let mut req = c.post(url).body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("send")
}

pub fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn sync_routes(up: &Upstream, upstream_extra: &str, route_extra: &str) -> String {
    format!(
        "{}\n[routes.flow]\npath = \"/flow\"\nupstream = \"flows\"\nmode = \"sync\"\nverify = {{ scheme = \"bearer\", secrets = [\"env:FLOW_TOKEN\"] }}\nevent_id = \"json:/eventId\"\n{route_extra}\n",
        upstream_block("flows", &up.url("/in"), upstream_extra)
    )
}

pub const AUTH: [(&str, &str); 2] = [
    ("authorization", "Bearer flow-tok"),
    ("content-type", "application/json"),
];

pub fn cookie_upstream() -> Upstream {
    let up = Upstream::start();
    up.set_default(Reply {
        headers: vec![
            ("content-type", "application/json".into()),
            ("set-cookie", "session=victim-session; HttpOnly".into()),
        ],
        body: r#"{"account":"victim"}"#,
        ..Reply::status(200)
    });
    up
}

/// The first request's answer goes only to the same request again; `first` and `second` may be
/// the same gateway or two replicas sharing a store.
pub async fn same_id_other_request_is_a_conflict(first: &Gateway, second: &Gateway, up: &Upstream) {
    let c = client();
    let body = r#"{"eventId":"run_1","amount":1}"#;
    let r = post(&c, &first.url("/flow?tenant=a"), &AUTH, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.count(), 1);

    // The same event ID with another body: 409 with a JSON reason, no cookie, no upstream call.
    let other = post(
        &c,
        &second.url("/flow?tenant=a"),
        &AUTH,
        r#"{"eventId":"run_1","amount":999}"#,
    )
    .await;
    assert_eq!(other.status(), 409);
    assert_eq!(header(&other, "set-cookie"), None);
    assert_eq!(header(&other, "idempotent-replayed"), None);
    let v: Value = other.json().await.expect("JSON reason");
    assert_eq!(v["error"], "conflict", "{v}");
    assert!(
        !v.to_string().contains("victim"),
        "nothing of the first answer: {v}"
    );
    // The same body to another sub-path or query is another request too.
    for url in [second.url("/flow?tenant=b"), second.url("/flow/x?tenant=a")] {
        let r = post(&c, &url, &AUTH, body).await;
        assert_eq!(r.status(), 409, "{url}");
        assert_eq!(header(&r, "set-cookie"), None);
    }
    // The same body with another content type.
    let r = post(
        &c,
        &second.url("/flow?tenant=a"),
        &[AUTH[0], ("content-type", "text/plain")],
        body,
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(up.count(), 1, "the upstream was called once");

    // The identical request again: the first answer, marked as replayed.
    let again = post(&c, &second.url("/flow?tenant=a"), &AUTH, body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(
        header(&again, "set-cookie"),
        Some("session=victim-session; HttpOnly")
    );
    assert_eq!(again.text().await.unwrap(), r#"{"account":"victim"}"#);
    assert_eq!(up.count(), 1);

    // A mismatch while the first request is still being answered is refused at once.
    up.script([Reply::status(200).after(Duration::from_millis(1500))]);
    let slow_body = r#"{"eventId":"run_2"}"#;
    let slow = {
        let (c, url) = (c.clone(), first.url("/flow"));
        tokio::spawn(async move { post(&c, &url, &AUTH, slow_body).await.status().as_u16() })
    };
    eventually(WAIT, async || (up.count() == 2).then_some(()))
        .await
        .expect("slow call reached the upstream");
    let started = Instant::now();
    let r = post(
        &c,
        &second.url("/flow"),
        &AUTH,
        r#"{"eventId":"run_2","x":1}"#,
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(up.count(), 2);
}

pub fn hookgate(args: &[&str], config: &Path) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hookgate");
    // `run` with a config it should refuse would otherwise serve forever.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A hookgate process started from a config of the test's own (the harness binds the admin
/// listener to loopback); killed when dropped.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn admin_call(
    c: &reqwest::Client,
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut req = match method {
        "GET" => c.get(gw.admin(path)),
        _ => c.post(gw.admin(path)),
    };
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("admin").status().as_u16()
}

pub const GUARDED: [(&str, &str); 7] = [
    ("GET", "/events/evt_1"),
    ("GET", "/dlq"),
    ("GET", "/routes"),
    ("POST", "/dlq/replay"),
    ("POST", "/dlq/evt_1/replay?route=limai"),
    ("POST", "/routes/limai/pause"),
    ("GET", "/nonexistent"),
];

pub async fn state(c: &reqwest::Client, gw: &Gateway, auth: &[(&str, &str)]) -> String {
    let mut req = c.get(gw.admin("/routes"));
    for (k, v) in auth {
        req = req.header(*k, *v);
    }
    let v: Value = req.send().await.unwrap().json().await.unwrap();
    v["routes"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub const OLD: &str = "rot-old-4f1c9a";
pub const NEW: &str = "rot-new-b7e302";

pub fn file_secret_routes(up: &Upstream, secret: &Path) -> String {
    format!(
        "{}\n[routes.limai]\npath = \"/hooks/limai\"\nupstream = \"orders\"\nverify = {{ scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"file:{}\"] }}\nevent_id = \"json:/eventId\"\n",
        upstream_block("orders", &up.url("/"), ""),
        secret.display()
    )
}

pub async fn status_with(c: &reqwest::Client, gw: &Gateway, secret: &str, id: &str) -> u16 {
    signed_with(c, &gw.url("/hooks/limai"), secret, &event_body(id))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub async fn health(c: &reqwest::Client, gw: &Gateway) -> (String, Value) {
    let r = c.get(gw.admin("/healthz")).send().await.unwrap();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap();
    (text, v)
}

/// After the secret changed on disk: the new one works, the old one is refused, /healthz's
/// effective hash moved (the file's did not), and no secret value shows anywhere.
pub async fn rotated(c: &reqwest::Client, gw: &Gateway, before: &Value) {
    let n = std::cell::Cell::new(0u32);
    eventually(WAIT, async || {
        n.set(n.get() + 1);
        let id = format!("evt_new_{}", n.get());
        (status_with(c, gw, NEW, &id).await == 200).then_some(())
    })
    .await
    .expect("the new secret is accepted without a restart");
    assert_eq!(status_with(c, gw, OLD, "evt_old_after").await, 401);
    let (text, h) = health(c, gw).await;
    assert_ne!(h["effective_config_hash"], before["effective_config_hash"]);
    assert_eq!(
        h["config_hash"], before["config_hash"],
        "the file did not change"
    );
    assert!(h["last_reload_error"].is_null(), "{h}");
    for v in [OLD, NEW] {
        assert!(!text.contains(v), "/healthz shows a secret: {text}");
        assert!(
            !gw.logs().contains(v),
            "a secret was logged:\n{}",
            gw.logs()
        );
    }
    log_line(gw, "config reloaded")
        .await
        .expect("the reload is logged");
}

/// A gateway serving `conn::limai_body`, with `extra_server` in `[server]`.
pub fn limai_gateway(up: &Upstream, extra_server: &str) -> Gateway {
    Gateway::start(
        extra_server,
        &super::conn::limai_body(up),
        &[("LIMAI_SECRET", SECRET)],
    )
}

/// The first line of the gateway's log that contains `needle`, waited for up to `WAIT`.
pub async fn log_line(gw: &Gateway, needle: &str) -> Option<String> {
    eventually(WAIT, async || {
        gw.logs()
            .lines()
            .find(|l| l.contains(needle))
            .map(String::from)
    })
    .await
}
