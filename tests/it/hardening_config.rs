//! The CLI reads its admin token as the server reads a secret, a reload says which part of
//! `keepalive_timeout` waits for a restart (and what else a reload cannot follow), and config errors and logs never echo a URL's
//! credentials.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::ops::*;
use common::*;

/// `[server]` keys for an HTTPS listener on a fresh port with a self-signed certificate in
/// `dir`.
fn tls_listener(dir: &Path) -> String {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    format!(
        "tls = {{ listen = \"127.0.0.1:{}\", cert = \"{}\", key = \"{}\" }}",
        free_port(),
        cert.display(),
        key.display()
    )
}

/// `hookgate routes list` against `gw` with `env` (and no other admin token variable).
fn routes_list(gw: &Gateway, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["routes", "list", "--json", "--config"])
        .arg(gw.config_path())
        .args(args)
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .env_remove("ADMIN_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn assert_listed(out: &Output, how: &str) {
    assert!(
        out.status.success(),
        "{how}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("limai"),
        "{how}"
    );
}

/// The token from `HOOKGATE_ADMIN_TOKEN` (or `--token-env`'s variable) loses one trailing
/// newline, as the server's `env:` and `file:` secrets do: a Kubernetes secret or an `echo >`
/// file keeps one. The config's own `server.admin_token` reference reads the same way.
#[test]
fn the_cli_drops_one_trailing_newline_of_its_admin_token_like_the_server() {
    let up = Upstream::start();
    let newline = format!("{ADMIN_TOKEN}\n");
    let gw = Gateway::start(
        "admin_token = \"env:ADMIN_TOKEN\"",
        &common::conn::limai_body(&up),
        &[("LIMAI_SECRET", SECRET), ("ADMIN_TOKEN", &newline)],
    );
    let crlf = format!("{ADMIN_TOKEN}\r\n");
    for (how, args, env) in [
        (
            "HOOKGATE_ADMIN_TOKEN",
            &[][..],
            ("HOOKGATE_ADMIN_TOKEN", newline.as_str()),
        ),
        (
            "--token-env",
            &["--token-env", "MY_ADMIN_TOKEN"][..],
            ("MY_ADMIN_TOKEN", crlf.as_str()),
        ),
        // No token variable: the config's `env:ADMIN_TOKEN`, read as the server reads it.
        (
            "server.admin_token",
            &[][..],
            ("ADMIN_TOKEN", newline.as_str()),
        ),
    ] {
        assert_listed(&routes_list(&gw, args, &[env]), how);
    }
    // Only one newline goes: the rest is the token, which no header can carry (said so, not
    // reqwest's bare "builder error").
    let two = format!("{ADMIN_TOKEN}\n\n");
    let out = routes_list(&gw, &[], &[("HOOKGATE_ADMIN_TOKEN", &two)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin token: not usable"), "{err}");
    assert!(!err.contains(ADMIN_TOKEN), "{err}");
    // An empty variable (a newline only) is no token: said without a request.
    let out = routes_list(&gw, &[], &[("HOOKGATE_ADMIN_TOKEN", "\n")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secret env:HOOKGATE_ADMIN_TOKEN is empty"),
        "{err}"
    );
}

/// `hookgate sign --secret-env` reads the secret as the route's `env:` reference does: a value
/// with one trailing newline signs what the gateway accepts.
#[tokio::test]
async fn the_sign_tool_drops_one_trailing_newline_of_its_secret_like_the_server() {
    let up = Upstream::start();
    let body = format!(
        "{}\n[routes.stripe]\npath = \"/hooks/stripe\"\nupstream = \"up\"\nverify = {{ provider = \"stripe\", secrets = [\"env:WHSEC\"] }}\n",
        upstream_block("up", &up.url("/"), "")
    );
    let env = [("WHSEC", "whsec_test\n")];
    let gw = Gateway::start("", &body, &env);
    let url = gw.url("/hooks/stripe");
    let args = [
        "sign",
        "--provider",
        "stripe",
        "--secret-env",
        "WHSEC",
        "--url",
        &url,
        "--send",
    ];
    let (code, out, err) = common::prova::hookgate(&args, &env);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("200"), "{out}");
    let (code, _, err) = common::prova::hookgate(&args, &[("WHSEC", "\n")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("secret env:WHSEC is empty"), "{err}");
}

/// HTTP/2 is served on the TLS listener only, and pingora takes its idle timeout when the
/// listener is built: a reload that changes `keepalive_timeout` says that HTTP/1.1 takes the
/// new value now and HTTP/2 the start's until a restart, as a change of a restart-only key is
/// announced (`hardening_ops::a_reload_that_changes_shutdown_timeout_says_it_needs_a_restart`).
#[tokio::test]
async fn a_reload_that_changes_keepalive_timeout_says_http2_keeps_the_start_value() {
    let up = Upstream::start();
    let certs = tempfile::tempdir().unwrap();
    let server = format!(
        "keepalive_timeout = \"60s\"\n{}",
        tls_listener(certs.path())
    );
    let body = common::conn::limai_body(&up);
    let gw = Gateway::start(&server, &body, &[("LIMAI_SECRET", SECRET)]);
    gw.rewrite_config(&server.replace("\"60s\"", "\"5s\""), &body);
    let line = log_line(&gw, "server.keepalive_timeout")
        .await
        .expect("the reload says what of keepalive_timeout waits for a restart");
    assert!(
        line.contains("HTTP/1.1") && line.contains("HTTP/2") && line.contains("restart"),
        "{line}"
    );
    assert!(
        line.contains("http1=5s") && line.contains("http2=1m"),
        "the values each takes: {line}"
    );
    // Back to the start's value: HTTP/1.1 and HTTP/2 agree again, nothing to say.
    gw.rewrite_config(&server, &body);
    eventually(WAIT, async || {
        (gw.logs().matches("config reloaded").count() == 2).then_some(())
    })
    .await
    .expect("the second reload");
    assert_eq!(
        gw.logs().matches("server.keepalive_timeout").count(),
        1,
        "{}",
        gw.logs()
    );
}

/// Without a TLS listener there is no HTTP/2 (the plain listener speaks HTTP/1.1 only): the
/// change applies whole, and nothing is said.
#[tokio::test]
async fn a_keepalive_timeout_change_without_tls_applies_without_a_word() {
    let up = Upstream::start();
    let body = common::conn::limai_body(&up);
    let gw = Gateway::start(
        "keepalive_timeout = \"60s\"",
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    gw.rewrite_config("keepalive_timeout = \"5s\"", &body);
    log_line(&gw, "config reloaded").await.expect("the reload");
    assert!(!gw.logs().contains("keepalive_timeout"), "{}", gw.logs());
}

/// What a reload applies but what was sized at start cannot follow is said: a sync route that
/// now waits past the request-duration histogram's top bucket (its buckets are fixed for the
/// process's life), and a `max_connections` that the open-file limit can no longer hold.
#[tokio::test]
async fn a_reload_past_what_was_sized_at_start_says_so() {
    let up = Upstream::start();
    let route = |t: &str| {
        format!(
            "{}{}",
            upstream_block("orders", &up.url("/in"), ""),
            limai_route(
                "s",
                "/hooks/s",
                "orders",
                &format!("mode = \"sync\"\nsync_timeout = \"{t}\"")
            )
        )
    };
    let gw = Gateway::start(
        "max_connections = 100",
        &route("20s"),
        &[("LIMAI_SECRET", SECRET)],
    );
    // util-linux's prlimit (Debian's essential set): the gateway's open-file limit, lowered.
    let set = Command::new("prlimit")
        .args(["--pid", &gw.pid().to_string(), "--nofile=600:600"])
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    gw.rewrite_config("max_connections = 1000", &route("45s"));
    let top = log_line(&gw, "top bucket")
        .await
        .expect("the reload says the longer sync route outgrows the top bucket");
    assert!(
        top.contains("longest=45s") && top.contains("top_bucket=20s"),
        "{top}"
    );
    let fds = log_line(&gw, "open files")
        .await
        .expect("the reload says the open-file limit cannot hold max_connections");
    assert!(
        fds.contains("max_connections = 1000") && fds.contains("is 600"),
        "{fds}"
    );
    // Within what was sized: nothing more is said.
    gw.rewrite_config("max_connections = 100", &route("15s"));
    eventually(WAIT, async || {
        (gw.logs().matches("config reloaded").count() == 2).then_some(())
    })
    .await
    .expect("the second reload");
    let logs = gw.logs();
    assert_eq!(
        (
            logs.matches("top bucket").count(),
            logs.matches("open files").count()
        ),
        (1, 1),
        "{logs}"
    );
}

/// Config errors name the key and the place (file:line:col), never a URL's credentials: the
/// OTLP endpoint, a provider's `key_url` and a sentinel `store.url` (literal or through `env:`)
/// are told without their userinfo and query.
#[test]
fn config_errors_never_echo_a_urls_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    let secrets = [
        "pw-otlp-5ecret",
        "qk-otlp-t0ken",
        "pw-key-5ecret",
        "qk-key-t0ken",
        "pw-sentinel-5ecret",
        "pw-upstream-5ecret",
    ];
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{}"

[store]
kind = "redis"
url = "redis+sentinel://s1:26379/mymaster/0?password=pw-sentinel-5ecret"

[upstreams.up]
url = "https://hook:pw-upstream-5ecret@up.example:99999/in"

[routes.sns]
path = "/sns"
upstream = "up"
verify = {{ provider = "aws-sns", sender = "arn:aws:sns:us-east-1:1:t", key_url = "http://ops:pw-key-5ecret@certs.example/c.pem?sig=qk-key-t0ken" }}

[telemetry]
otlp_endpoint = "grpc://otel:pw-otlp-5ecret@collector.example:4317/?api_key=qk-otlp-t0ken"
"#,
        free_port()
    );
    std::fs::write(&path, &text).unwrap();
    let out = hookgate(&["check"], &path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (at, key) in [
        (":6:7: store.url", ""),
        (":9:7: upstreams.up.url", ""),
        (":14:10: routes.sns.verify", "key_url"),
        (":17:17: telemetry.otlp_endpoint", "collector.example:4317"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(at))
            .unwrap_or_else(|| panic!("no error at {at}: {err}"));
        assert!(line.contains(key), "{line}");
    }
    for s in secrets {
        assert!(!err.contains(s), "{s} echoed: {err}");
    }
    // The same sentinel URL through `env:` (the secret reference a password belongs in).
    let env_text = text.replace(
        "url = \"redis+sentinel://s1:26379/mymaster/0?password=pw-sentinel-5ecret\"",
        "url = \"env:REDIS_URL\"",
    );
    std::fs::write(&path, env_text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(&path)
        .env(
            "REDIS_URL",
            "redis+sentinel://s1:26379/mymaster/0?password=pw-sentinel-5ecret",
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":6:7: store.url"), "{err}");
    for s in secrets {
        assert!(!err.contains(s), "{s} echoed: {err}");
    }
}

/// The OTLP endpoint's credentials (sent as Basic authorization) are not logged: not in the
/// start's "tracing on" line, nor when the collector cannot be reached.
#[tokio::test]
async fn the_log_never_shows_the_otlp_endpoints_credentials() {
    let up = Upstream::start();
    let block = format!(
        "[telemetry]\notlp_endpoint = \"http://otel:pw-otlp-5ecret@127.0.0.1:{}/?api_key=qk-otlp-t0ken\"\n",
        free_port()
    );
    let gw = Gateway::start(
        "",
        &format!("{}\n{block}", common::conn::limai_body(&up)),
        &[("LIMAI_SECRET", SECRET)],
    );
    let (status, _) =
        send_signed(&client(), &gw.url("/hooks/limai"), &event_body("evt_otlp")).await;
    assert_eq!(status, 200);
    let on = log_line(&gw, "OpenTelemetry tracing on").await.unwrap();
    assert!(on.contains("127.0.0.1"), "{on}");
    log_line(&gw, "cannot export spans")
        .await
        .expect("the export fails: nothing listens");
    for s in ["pw-otlp-5ecret", "qk-otlp-t0ken"] {
        assert!(!gw.logs().contains(s), "{s} logged:\n{}", gw.logs());
    }
}

/// A bearer token that begins or ends with whitespace (a file with a second trailing newline)
/// or holds a control byte can never be presented (a header's value is read trimmed): refused
/// at load, the admin token and a route's alike, without the token in the message. Before,
/// the gateway started and refused every request with 401.
#[test]
fn a_bearer_token_no_request_could_present_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "adm1n-t0ken-x\n\n").unwrap();
    let route = dir.path().join("route-token");
    std::fs::write(&route, "r0ute\tt0ken-y").unwrap();
    let path = dir.path().join("hookgate.toml");
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{}"
admin_token = "file:{}"

[upstreams.up]
url = "http://127.0.0.1:9/in"

[routes.a]
path = "/a"
upstream = "up"
verify = {{ scheme = "bearer", secrets = ["file:{}"] }}
"#,
        free_port(),
        token.display(),
        route.display()
    );
    std::fs::write(&path, &text).unwrap();
    let out = hookgate(&["check"], &path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(":3:15: server.admin_token: a token begins or ends with whitespace"),
        "{err}"
    );
    assert!(
        err.contains("routes.a.verify") && err.contains("holds a control character"),
        "{err}"
    );
    assert!(!err.contains("adm1n") && !err.contains("r0ute"), "{err}");
}

/// Two listeners on one port, one on a wildcard address: each bound alone at the start's check,
/// so the config passed and the second listener failed after pingora's retries. A load error
/// at the key's line (before: `hookgate check` exit 0).
#[test]
fn listeners_on_one_port_through_a_wildcard_are_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    let port = free_port();
    for (listen, admin, at) in [
        (
            "0.0.0.0",
            "127.0.0.1",
            ":3:16: server.admin_listen must differ",
        ),
        (
            "127.0.0.1",
            "[::]",
            ":3:16: server.admin_listen must differ",
        ),
    ] {
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"{listen}:{port}\"\nadmin_listen = \"{admin}:{port}\"\n\n\
                 [upstreams.up]\nurl = \"http://127.0.0.1:9/in\"\n\n\
                 [routes.a]\npath = \"/a\"\nupstream = \"up\"\nverify = {{ scheme = \"none\" }}\n"
            ),
        )
        .unwrap();
        let out = hookgate(&["check"], &path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{listen} {admin}: {err}");
        assert!(err.contains(at), "{listen} {admin}: {err}");
    }
}

mod references;
