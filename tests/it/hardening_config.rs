//! The CLI reads its admin token as the server reads a secret, a reload says which part of
//! `keepalive_timeout` waits for a restart, and config errors and logs never echo a URL's
//! credentials.

use crate::common;

use std::process::{Command, Output};

use common::ops::*;
use common::*;

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
