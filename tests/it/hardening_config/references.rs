//! Secrets and references an operator can mistype, and route settings that weaken replay
//! protection: refused or warned at load.

use super::*;

/// Where `needle` (a quoted value) starts in `text`: "line:col:", as load errors tell it.
fn place(text: &str, needle: &str) -> String {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in the config"));
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!(":{line}:{col}:")
}

/// A secret value that reads as a reference but is none (`{env:X}`, the upstream headers'
/// syntax; `${X}`, `$X`, `ENV:X`, `File:/p`, ` env:X`) is a load error at its place, never
/// the secret itself: it was taken as a literal (with a warning), so the text in the file
/// (a ConfigMap, git) was the HMAC key or token, and in a rotation list real events still
/// verified. The CLI refuses the same `admin_token` rather than sending it. A genuine literal
/// still loads with its warning, the references spelled right resolve.
#[test]
fn a_mistyped_secret_reference_is_a_load_error_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{}"
admin_token = "{{env:HG_ADMIN}}"

[upstreams.up]
url = "http://127.0.0.1:9/in"

[routes.a]
path = "/a"
upstream = "up"
verify = {{ provider = "stripe", secrets = ["env:HG_NEW", "${{HG_OLD}}"] }}

[routes.b]
path = "/b"
upstream = "up"
verify = {{ scheme = "bearer", secrets = ["$HG_OLD"] }}

[routes.c]
path = "/c"
upstream = "up"
verify = {{ scheme = "hmac", header = "X-Sig", secrets = ["ENV:HG_OLD", "File:/run/s"] }}

[routes.d]
path = "/d"
upstream = "up"
verify = {{ provider = "meta", secrets = ["env:HG_NEW"], verify_token = " env:HG_OLD" }}

[telemetry]
otlp_endpoint = "http://127.0.0.1:4318"
headers = {{ x-key = "{{ env:HG_OLD }}" }}
"#,
        free_port()
    );
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["check", "--config"])
            .arg(&path)
            .envs([
                ("HG_ADMIN", "adm1n-t0ken"),
                ("HG_NEW", "whsec_bmV3"),
                ("HG_OLD", "0ld-s3cret"),
            ])
            .output()
            .unwrap()
    };
    let out = check(&text);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (value, key) in [
        ("\"{env:HG_ADMIN}\"", "server.admin_token"),
        ("\"${HG_OLD}\"", "routes.a.verify.secrets[1]"),
        ("\"$HG_OLD\"", "routes.b.verify.secrets[0]"),
        ("\"ENV:HG_OLD\"", "routes.c.verify.secrets[0]"),
        ("\"File:/run/s\"", "routes.c.verify.secrets[1]"),
        ("\" env:HG_OLD\"", "routes.d.verify.verify_token"),
        ("\"{ env:HG_OLD }\"", "telemetry.headers.x-key"),
    ] {
        let at = format!("{} {key}", place(&text, value));
        let line = err
            .lines()
            .find(|l| l.contains(&at))
            .unwrap_or_else(|| panic!("no error {at}: {err}"));
        assert!(line.contains("looks like a secret reference"), "{line}");
    }
    assert!(!err.contains("written literally"), "{err}");
    // Spelled right, the same file loads; a genuine literal is still only warned about.
    let fixed = text
        .replace("{env:HG_ADMIN}", "env:HG_ADMIN")
        .replace("${HG_OLD}", "env:HG_OLD")
        .replace("\"$HG_OLD\"", "\"lit3ral\"")
        .replace("ENV:HG_OLD", "env:HG_OLD")
        .replace("\"File:/run/s\"", "\"env:HG_NEW\"")
        .replace(" env:HG_OLD\"", "env:HG_OLD\"")
        .replace("{ env:HG_OLD }", "env:HG_OLD");
    let out = check(&fixed);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("routes.b.verify.secrets[0] is written literally"),
        "{err}"
    );
    // The CLI reads `admin_token` from the same file: refused, not sent as the token.
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["routes", "list", "--admin"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--config")
        .arg(&path)
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .env("HG_ADMIN", "adm1n-t0ken")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("server.admin_token") && err.contains("looks like a secret reference"),
        "{err}"
    );
}

/// A route whose `dedup_ttl` ends before its verification's replay window (a preset's own, or
/// `tolerance`) lets a captured request replayed in between pass verification and be
/// delivered again: warned about at `dedup_ttl`'s line, with both durations. A window the
/// dedup covers, or no window (nothing signed with a time), says nothing.
#[test]
fn a_dedup_window_shorter_than_the_replay_window_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    let route = |name: &str, verify: &str, ttl: &str| {
        format!(
            "[routes.{name}]\npath = \"/{name}\"\nupstream = \"up\"\nverify = {{ {verify} }}\ndedup_ttl = \"{ttl}\"\n"
        )
    };
    let hmac = "scheme = \"hmac\", header = \"X-Sig\", secrets = [\"env:S\"]";
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\n\n[upstreams.up]\nurl = \"http://127.0.0.1:9/in\"\n\n{}{}{}{}",
        free_port(),
        route(
            "stripe",
            "provider = \"stripe\", secrets = [\"env:S\"]",
            "1m"
        ),
        route(
            "own",
            &format!(
                "{hmac}, payload = \"{{timestamp}}.{{body}}\", timestamp_header = \"X-T\", tolerance = \"10m\""
            ),
            "5m"
        ),
        route(
            "covered",
            "provider = \"stripe\", secrets = [\"env:S\"]",
            "5m"
        ),
        route("untimed", hmac, "1m"),
    );
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(&path)
        .env("S", "whsec_c2VjcmV0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let ttl_line = |name: &str| {
        let start = text.find(&format!("[routes.{name}]")).unwrap();
        let at = start + text[start..].find("dedup_ttl").unwrap();
        text[..at].matches('\n').count() + 1
    };
    for (name, ttl, window) in [("stripe", "1m", "5m"), ("own", "5m", "10m")] {
        let warned = err
            .lines()
            .find(|l| l.contains(&format!("routes.{name}: dedup_ttl")))
            .unwrap_or_else(|| panic!("no warning for {name}: {err}"));
        assert!(
            warned.contains(&format!(":{}: routes.{name}", ttl_line(name))),
            "{warned}"
        );
        assert!(
            warned.contains(&format!("({ttl})")) && warned.contains(&format!("({window})")),
            "{warned}"
        );
    }
    for name in ["covered", "untimed"] {
        assert!(!err.contains(&format!("routes.{name}: dedup_ttl")), "{err}");
    }
}
