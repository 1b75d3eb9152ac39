//! Config loading (`config::parse`): random bytes and random mutations of a valid file never
//! panic, and every error names a `file:line:col` inside the file; the rate-limit spec parser.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;

use hookgate::config::{LoadError, parse};
use hookgate::limits::rate::Rate;

use super::config;

/// A valid file using most keys: every mutation of it exercises some part of the checker.
pub const VALID: &str = r#"[server]
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:9180"
max_body_bytes = "1MiB"
trusted_proxies = ["10.0.0.0/8", "2001:db8::/32"]

[store]
kind = "embedded"
path = "./data"

[upstreams.orders]
url = "http://127.0.0.1:3000/webhooks"
timeout = "10s"
max_attempts = 8
backoff = { initial = "1s", max = "10m" }
concurrency = 32
headers = { X-Plain = "a {b} c" }
sign = { scheme = "standard-webhooks", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }

[routes.limai]
path = "/hooks/limai"
upstream = "orders"
verify = { scheme = "hmac", header = "X-Webhook-Signature", prefix = "sha256=", encoding = "hex", algorithm = "sha256", secrets = ["lit"] }
event_id = "json:/eventId"
dedup_ttl = "72h"
rate_limit = { per_ip = "300/5m", per_route = "5000/s" }
require_headers = { "User-Agent" = "~^Lim", "X-Env" = "prod" }
content_types = ["application/json", "text/*"]
response = { status = 200, body = '{"received":true}' }

[routes.stripe]
path = "/hooks/stripe"
upstream = "orders"
verify = { provider = "stripe", secrets = ["whsec_x"], tolerance = "5m" }
order_key = "json:/data/object/customer"
allow_ips = ["192.0.2.10/32"]

[routes.flow]
path = "/v1/flow"
upstream = "orders"
mode = "sync"
sync_timeout = "30s"
sync_timeout_status = 504
verify = { scheme = "bearer", secrets = ["tok"] }
normalize = "json"
state = "paused"

[routes.lindo]
path = "/hooks/lindo"
upstream = "orders"
verify = { scheme = "none" }
event_id = ["json:/event", "json:/data/website_id", "header:X-Ts"]
"#;

/// Checks that an error list names positions inside `text`.
fn errors_in_bounds(
    text: &str,
    r: Result<hookgate::config::Config, LoadError>,
) -> Result<(), TestCaseError> {
    let Err(e) = r else { return Ok(()) };
    let LoadError::Invalid(errors) = e else {
        return Err(TestCaseError::fail(format!("not a config error: {e}")));
    };
    prop_assert!(!errors.is_empty(), "an invalid file without an error");
    let lines: Vec<&str> = text.split('\n').collect();
    for err in &errors {
        prop_assert_eq!(err.file.as_path(), Path::new("fuzz.toml"));
        prop_assert!(
            (1..=lines.len()).contains(&err.line),
            "line {} of {}: {}",
            err.line,
            lines.len(),
            err
        );
        let width = lines[err.line - 1].chars().count();
        prop_assert!(
            (1..=width + 1).contains(&err.column),
            "column {} of {}: {}",
            err.column,
            width,
            err
        );
        let prefix = format!("fuzz.toml:{}:{}: ", err.line, err.column);
        prop_assert!(err.to_string().starts_with(&prefix), "{}", err);
    }
    Ok(())
}

/// One edit of a text: bytes replaced, inserted or removed at a char boundary.
#[derive(Debug, Clone)]
enum Edit {
    Replace(prop::sample::Index, String),
    Insert(prop::sample::Index, String),
    Delete(prop::sample::Index, usize),
    /// A line duplicated (duplicate keys and tables).
    Duplicate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        "[\\[\\]{}=\",.'#\n a-z0-9_/:-]{1,4}",
        Just("\"\"".to_string()),
        Just("\u{e9}\u{1F600}".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("env:NOPE_NOT_SET".to_string()),
        Just("file:/nonexistent/secret".to_string()),
    ];
    prop_oneof![
        (any::<prop::sample::Index>(), piece.clone()).prop_map(|(i, s)| Edit::Replace(i, s)),
        (any::<prop::sample::Index>(), piece).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<prop::sample::Index>(), 1usize..12).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<prop::sample::Index>().prop_map(Edit::Duplicate),
    ]
}

fn apply(text: &mut String, e: &Edit) {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let at = |i: &prop::sample::Index| boundaries[i.index(boundaries.len())];
    match e {
        Edit::Replace(i, s) => {
            let start = at(i);
            let end = text[start..]
                .char_indices()
                .nth(s.chars().count())
                .map_or(text.len(), |(j, _)| start + j);
            text.replace_range(start..end, s);
        }
        Edit::Insert(i, s) => text.insert_str(at(i), s),
        Edit::Delete(i, n) => {
            let start = at(i);
            let end = text[start..]
                .char_indices()
                .nth(*n)
                .map_or(text.len(), |(j, _)| start + j);
            text.replace_range(start..end, "");
        }
        Edit::Duplicate(i) => {
            let lines: Vec<&str> = text.split('\n').collect();
            let n = i.index(lines.len());
            let mut out: Vec<&str> = lines[..=n].to_vec();
            out.extend(&lines[n..]);
            *text = out.join("\n");
        }
    }
}

fn rate_config(spec: &str) -> String {
    let spec = spec.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\n\n[upstreams.u]\nurl = \"http://127.0.0.1:3000/\"\n\n[routes.r]\npath = \"/r\"\nupstream = \"u\"\nverify = {{ scheme = \"none\" }}\nrate_limit = {{ per_ip = \"{spec}\" }}\n"
    )
}

fn parsed_rate(spec: &str) -> Option<Rate> {
    let c = parse(Path::new("fuzz.toml"), &rate_config(spec)).ok()?;
    c.routes.get("r").and_then(|r| r.rate_limit.per_ip)
}

#[test]
fn the_valid_file_is_valid() {
    if let Err(e) = parse(Path::new("fuzz.toml"), VALID) {
        panic!("{e}");
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        errors_in_bounds(&text, parse(Path::new("fuzz.toml"), &text))?;
    }

    #[test]
    fn random_toml_never_panics(text in "([\\[\\]a-z_.]{0,12}( = )?(\"[a-z0-9/:.]{0,10}\"|[0-9]{1,3}|\\{[a-z =\"]{0,10}\\}|\\[\\])?\n){0,12}") {
        errors_in_bounds(&text, parse(Path::new("fuzz.toml"), &text))?;
    }

    #[test]
    fn mutated_configs_never_panic(edits in proptest::collection::vec(edit(), 1..5)) {
        let mut text = VALID.to_string();
        for e in &edits {
            apply(&mut text, e);
        }
        errors_in_bounds(&text, parse(Path::new("fuzz.toml"), &text))?;
    }

    /// `"N/<duration>"` is N requests per that duration, `"N/<unit>"` per one unit; a zero
    /// count or period is an error.
    #[test]
    fn rate_specs_parse_as_written(count in 0u32..100_000, n in proptest::option::of(0u64..1000), unit in 0usize..4, pad in "[ ]{0,1}") {
        let (suffix, secs) = [("s", 1u64), ("m", 60), ("h", 3600), ("d", 86_400)][unit];
        let spec = match n {
            Some(n) => format!("{count}{pad}/{pad}{n}{suffix}"),
            None => format!("{count}/{suffix}"),
        };
        let per = Duration::from_secs(n.unwrap_or(1) * secs);
        let expected = (count > 0 && !per.is_zero()).then_some(Rate { count, per });
        prop_assert_eq!(parsed_rate(&spec), expected, "{:?}", spec);
    }

    #[test]
    fn random_rate_specs_never_panic(spec in "[0-9 /a-z.+-]{0,16}") {
        let text = rate_config(&spec);
        errors_in_bounds(&text, parse(Path::new("fuzz.toml"), &text))?;
    }
}
