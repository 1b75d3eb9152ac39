//! The loader's unit tests for an operator's mistakes that must not open anything: presets
//! that sign nothing, values in the wrong shape (never echoed), proxies trusted too widely,
//! durations past any use, shadow mode, degenerate secrets.

use std::path::Path;
use std::time::Duration;

use crate::config::parse;

use super::tests::{BASE, ROUTE, errors, with_route, with_server, with_store};

/// A preset that authenticates nothing (Lindo: a User-Agent anyone can send) is named as such
/// at load unless the route limits who may send; an explicit `scheme = "none"` is not warned
/// about (it says what it means), nor is a preset that signs.
#[test]
fn a_preset_that_signs_nothing_without_an_allowlist_is_warned_about() {
    let lindo = BASE.replace(
        "verify = { scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"lit\"] }",
        "verify = { provider = \"lindo\" }",
    );
    let signs_nothing = |c: &crate::config::Config| {
        c.warnings
            .iter()
            .any(|w| w.contains("routes.limai: lindo signs nothing"))
    };
    let c = parse(Path::new("t.toml"), &lindo).unwrap();
    assert!(signs_nothing(&c), "{:?}", c.warnings);
    let allowed = lindo.replace(
        "event_id = \"json:/eventId\"",
        "event_id = \"json:/eventId\"\nallow_ips = [\"192.0.2.0/24\"]",
    );
    assert!(!signs_nothing(
        &parse(Path::new("t.toml"), &allowed).unwrap()
    ));
    let none = BASE.replace(
        "verify = { scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"lit\"] }",
        "verify = { scheme = \"none\" }",
    );
    let c = parse(Path::new("t.toml"), &none).unwrap();
    assert!(!c.warnings.iter().any(|w| w.contains("signs nothing")));
    let c = parse(Path::new("t.toml"), BASE).unwrap();
    assert!(!c.warnings.iter().any(|w| w.contains("signs nothing")));
}

/// serde's type errors quote the value they found; a secret written in the wrong shape must
/// not be echoed to stderr, the reload log or /healthz. What was found and what was expected,
/// and where, are kept.
#[test]
fn a_value_of_the_wrong_type_is_never_repeated() {
    let secret = "tok_live_abc";
    let cases = [
        (
            BASE.replace("secrets = [\"lit\"]", &format!("secrets = \"{secret}\"")),
            "t.toml:11:91: expected a sequence, found a string",
        ),
        (
            BASE.replace(
                "url = \"http://127.0.0.1:3000/webhooks\"",
                &format!("url = \"http://127.0.0.1:3000/webhooks\"\nheaders = \"Bearer {secret}\""),
            ),
            "t.toml:7:11: expected a map, found a string",
        ),
        (
            with_server("admin_token = 12345678"),
            "t.toml:4:15: expected a string, found an integer",
        ),
        (
            with_server("admin_token = 1234.5678"),
            "t.toml:4:15: expected a string, found a float",
        ),
        (
            with_server("admin_token = true"),
            "t.toml:4:15: expected a string, found a boolean",
        ),
        (
            BASE.replace(
                "secrets = [\"lit\"]",
                &format!("secrets = [{{ secret = \"{secret}\", not_after = 12345678 }}]"),
            ),
            "expected a string, found an integer",
        ),
        (
            BASE.replace("[routes.limai]", &format!("[telemetry]\notlp_endpoint = \"http://x\"\nheaders = \"{secret}\"\n\n[routes.limai]")),
            "t.toml:10:11: expected a map, found a string",
        ),
        // Quotes and the word "expected" inside the value change nothing.
        (
            with_server(&format!("threads = \"{secret}\\\", expected a \\\\\"")),
            "t.toml:4:11: expected i64, found a string",
        ),
        (
            with_server("max_body_bytes = [1]"),
            "t.toml:4:18: expected a size such as \"1MiB\" or a number of bytes, found a sequence",
        ),
    ];
    for (text, want) in cases {
        let e = errors(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:") && e[0].ends_with(want), "{e:?}");
        for leaked in [secret, "12345678", "1234.5678", "true"] {
            assert!(!e[0].contains(leaked), "{e:?}");
        }
    }
    // A syntax error names what is wrong, not the line it is on.
    let e = errors(&with_server(&format!("admin_token = \"{secret}")));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.toml:4:"), "{e:?}");
    assert!(!e[0].contains(secret), "{e:?}");
    let e = errors(&with_server(&format!("admin_token = {secret}")));
    assert!(!e[0].contains(secret), "{e:?}");
}

/// Trusting every hop makes the client the left-most X-Forwarded-For entry, which the sender
/// writes: a catch-all, or a network too wide to be anyone's proxies, is refused.
#[test]
fn trusted_proxies_that_would_trust_senders_are_refused() {
    let proxies = |list: &str| with_server(&format!("trusted_proxies = {list}"));
    for (list, wanted) in [
        (
            "[\"0.0.0.0/0\"]",
            "t.toml:4:20: server.trusted_proxies: \"0.0.0.0/0\" is every address",
        ),
        (
            "[\"10.0.0.0/8\", \"::/0\"]",
            "t.toml:4:34: server.trusted_proxies: \"::/0\" is every address",
        ),
        (
            "[\"::ffff:0.0.0.0/96\"]",
            "\"::ffff:0.0.0.0/96\" is every address",
        ),
        ("[\"10.0.0.0/7\"]", "\"10.0.0.0/7\" is wider than /8"),
        ("[\"128.0.0.0/1\"]", "\"128.0.0.0/1\" is wider than /8"),
        ("[\"2000::/3\"]", "\"2000::/3\" is wider than /16"),
        ("[\"fc00::/6\"]", "\"fc00::/6\" is wider than /16"),
    ] {
        let e = errors(&proxies(list));
        assert_eq!(e.len(), 1, "{list}: {e:?}");
        assert!(e[0].contains(wanted), "{list}: {e:?}");
        assert!(e[0].contains("X-Forwarded-For"), "{e:?}");
    }
    let c = parse(
        Path::new("t.toml"),
        &proxies("[\"10.0.0.0/8\", \"fc00::/7\", \"2001:db8::/16\", \"::ffff:192.168.0.0/112\", \"::ffff:192.0.2.1\"]"),
    )
    .unwrap();
    let nets: Vec<String> = c
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    // IPv4-mapped networks are IPv4, as the client addresses they are matched with.
    assert_eq!(
        nets,
        [
            "10.0.0.0/8",
            "fc00::/7",
            "2001:db8::/16",
            "192.168.0.0/16",
            "192.0.2.1/32"
        ]
    );
    assert!(crate::limits::client_ip::allowed(
        crate::limits::client_ip::canonical("::ffff:192.168.4.5".parse().unwrap()),
        &c.server.trusted_proxies
    ));
}

/// An allowlist that lets everyone in (or a network as wide) does not silence the warning that
/// a preset signs nothing; IPv4-mapped networks in it match IPv4 clients.
#[test]
fn a_catch_all_allowlist_still_warns_that_a_preset_signs_nothing() {
    let lindo = |allow: &str| {
        BASE.replace(
            "verify = { scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"lit\"] }",
            "verify = { provider = \"lindo\" }",
        )
        .replace(ROUTE, &format!("{ROUTE}allow_ips = {allow}\n"))
    };
    let warned = |allow: &str| {
        let c = parse(Path::new("t.toml"), &lindo(allow)).unwrap();
        c.warnings.iter().any(|w| w.contains("lindo signs nothing"))
    };
    assert!(warned("[\"0.0.0.0/0\"]"));
    assert!(warned("[\"192.0.2.0/24\", \"::/0\"]"));
    assert!(warned("[\"0.0.0.0/1\", \"128.0.0.0/1\"]"));
    assert!(!warned("[\"192.0.2.0/24\", \"2001:db8::/32\"]"));
    let c = parse(Path::new("t.toml"), &lindo("[\"::ffff:192.0.2.0/120\"]")).unwrap();
    let r = c.routes.get("limai").unwrap();
    let allow = r.allow_ips.as_deref().unwrap();
    assert!(crate::limits::client_ip::allowed(
        "192.0.2.7".parse().unwrap(),
        allow
    ));
}

/// Every duration has an upper bound at load: past it a value is a slip, and the arithmetic on
/// it (a deadline, `× 4`, milliseconds in a u64) would panic or wrap. Some keys have a lower
/// bound of their own.
#[test]
fn durations_have_an_upper_bound() {
    let huge = "18446744073709552s";
    let redis = |line: &str| {
        with_store(&format!(
            "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\n{line}"
        ))
    };
    let upstream = |line: &str| {
        BASE.replace(
            "url = \"http://127.0.0.1:3000/webhooks\"",
            &format!("url = \"http://127.0.0.1:3000/webhooks\"\n{line}"),
        )
    };
    let cases = [
        (with_route(&format!("dedup_ttl = \"{huge}\"")), "routes.limai.dedup_ttl must be at most 20years"),
        (with_route("dedup_ttl = \"21y\""), "routes.limai.dedup_ttl must be at most 20years"),
        (with_route(&format!("mode = \"sync\"\nsync_timeout = \"{huge}\"")), "routes.limai.sync_timeout must be at most 1h"),
        (with_route("mode = \"sync\"\nsync_timeout = \"61m\""), "routes.limai.sync_timeout must be at most 1h"),
        (with_route(&format!("rate_limit = {{ per_ip = \"1/{huge}\" }}")), "routes.limai.rate_limit.per_ip: \"1/18446744073709552s\" is not a rate"),
        (redis(&format!("timeout = \"{huge}\"")), "store.timeout must be at most 1m"),
        (redis(&format!("claim_after = \"{huge}\"")), "store.claim_after must be at most 20years"),
        (redis(&format!("record_ttl = \"{huge}\"")), "store.record_ttl must be at most 20years"),
        (redis("rate_limit_timeout = \"11s\""), "store.rate_limit_timeout must be at most 10s"),
        (with_server(&format!("shutdown_timeout = \"{huge}\"")), "server.shutdown_timeout must be at most 1h"),
        (with_server("body_timeout = \"2h\""), "server.body_timeout must be at most 1h"),
        (with_server("retry_after = \"2h\""), "server.retry_after must be at most 1h"),
        (with_server(&format!("stranded_dead_after = \"{huge}\"")), "server.stranded_dead_after must be at most 20years"),
        (upstream(&format!("timeout = \"{huge}\"")), "upstreams.orders.timeout must be at most 1h"),
        (upstream(&format!("max_age = \"{huge}\"")), "upstreams.orders.max_age must be at most 20years"),
        (upstream(&format!("backoff = {{ max = \"{huge}\" }}")), "upstreams.orders.backoff.max must be at most 20years"),
        (
            BASE.replace("prefix = \"sha256=\"", &format!("prefix = \"sha256=\", timestamp_header = \"X-Ts\", payload = \"{{timestamp}}.{{body}}\", tolerance = \"{huge}\"")),
            "routes.limai.verify.tolerance must be at most 20years",
        ),
    ];
    for (text, wanted) in cases {
        let e = errors(&text);
        assert!(
            e.iter()
                .any(|m| m.contains(wanted) && m.starts_with("t.toml:")),
            "{wanted}: {e:?}"
        );
    }
    // At the bounds, all is well.
    let c = parse(
        Path::new("t.toml"),
        &with_route("dedup_ttl = \"20y\"\nmode = \"sync\"\nsync_timeout = \"1h\"").replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nshutdown_timeout = \"1h\"",
        ),
    )
    .unwrap();
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(3600));
}

/// Shadow mode lets a request that fails verification through: said at every load and reload,
/// where it is written.
#[test]
fn shadow_mode_is_warned_about() {
    let shadow = BASE.replace(
        "secrets = [\"lit\"]",
        "secrets = [\"lit\"], enforce = false",
    );
    let c = parse(Path::new("t.toml"), &shadow).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("t.toml:11: routes.limai: shadow mode")
                && w.contains("fails verification is accepted and delivered")),
        "{:?}",
        c.warnings
    );
    let enforced = BASE.replace("secrets = [\"lit\"]", "secrets = [\"lit\"], enforce = true");
    let c = parse(Path::new("t.toml"), &enforced).unwrap();
    assert!(
        !c.warnings.iter().any(|w| w.contains("shadow mode")),
        "{:?}",
        c.warnings
    );
}

/// A secret that is no secret is refused at load: Basic credentials without a password, a
/// value of whitespace only.
#[test]
fn degenerate_secrets_are_refused() {
    let basic = |secret: &str| {
        BASE.replace(
            "scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"lit\"]",
            &format!("scheme = \"basic\", secrets = [{secret:?}]"),
        )
    };
    for creds in ["user:", ":", "user:  ", "nocolon"] {
        let e = errors(&basic(creds));
        assert!(
            e.iter().any(|m| m.starts_with("t.toml:11:")
                && m.contains("basic credentials must be written as \"user:password\"")),
            "{creds:?}: {e:?}"
        );
    }
    for creds in ["user:pw", ":pw", "user:p:w"] {
        assert_eq!(errors(&basic(creds)), Vec::<String>::new(), "{creds:?}");
    }
    for blank in [" ", "\t ", "\n"] {
        let e = errors(&BASE.replace("[\"lit\"]", &format!("[{blank:?}]")));
        assert!(
            e.iter()
                .any(|m| m.contains("routes.limai.verify.secrets[0]: secret literal is blank")),
            "{blank:?}: {e:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank");
    std::fs::write(&blank, "  \n").unwrap();
    let e = errors(&BASE.replace("[\"lit\"]", &format!("[\"file:{}\"]", blank.display())));
    assert!(e.iter().any(|m| m.contains("is blank")), "{e:?}");
}

/// A load that fails still tells which `file:` secrets the file names, read or not: the
/// reload watches them, so creating the missing one retries it.
#[test]
fn a_failed_load_names_the_secret_files_it_wanted() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        BASE.replace("[\"lit\"]", &format!("[\"file:{}\"]", missing.display())),
    )
    .unwrap();
    let (loaded, named) = crate::config::load_naming_files(&config);
    assert!(loaded.is_err());
    assert_eq!(named, std::slice::from_ref(&missing));
    std::fs::write(&missing, "s3\n").unwrap();
    let (loaded, named) = crate::config::load_naming_files(&config);
    assert_eq!(loaded.unwrap().secret_files, std::slice::from_ref(&missing));
    assert_eq!(named, [missing]);
}

/// A URL written with a query may carry a secret (Event Grid's `?code=`): refused without
/// repeating it.
#[test]
fn a_public_url_with_a_query_is_refused_without_repeating_it() {
    let e = errors(&BASE.replace(
        "prefix = \"sha256=\"",
        "prefix = \"sha256=\", public_url = \"https://hooks.example.com/h?code=c0de-s3cret\"",
    ));
    assert!(
        e.iter()
            .any(|m| m
                .contains("routes.limai.verify.public_url must be an http(s) URL without query")),
        "{e:?}"
    );
    assert!(!e.iter().any(|m| m.contains("c0de-s3cret")), "{e:?}");
}

/// An upstream URL no HTTP request can be sent to (over 65,534 bytes) is refused at load: every
/// event of its routes would be taken with a 2xx and then dead-lettered.
#[test]
fn an_upstream_url_no_request_can_carry_is_refused() {
    let long = BASE.replace(
        "http://127.0.0.1:3000/webhooks",
        &format!("http://127.0.0.1:3000/{}", "b".repeat(65_600)),
    );
    let e = errors(&long);
    assert!(
        e.iter()
            .any(|e| e.contains("not a URL an HTTP request can be sent to")),
        "{e:?}"
    );
    let fits = BASE.replace(
        "http://127.0.0.1:3000/webhooks",
        &format!("http://127.0.0.1:3000/{}", "b".repeat(40_000)),
    );
    assert!(errors(&fits).is_empty(), "{:?}", errors(&fits));
}

/// `server.max_body_memory`: by default 64MiB, or twice the largest body a route takes; set
/// below a route's `max_body_bytes` (such a body could never be read) or past 64GiB, an error
/// at its line.
#[test]
fn body_memory_covers_the_largest_body() {
    let c = parse(Path::new("t.toml"), BASE).unwrap();
    assert_eq!(c.server.max_body_memory, 64 << 20);
    let big = with_route("max_body_bytes = \"100MiB\"");
    let c = parse(Path::new("t.toml"), &big).unwrap();
    assert_eq!(c.server.max_body_memory, 200 << 20);
    let set = with_server("max_body_memory = \"8MiB\"");
    let c = parse(Path::new("t.toml"), &set).unwrap();
    assert_eq!(c.server.max_body_memory, 8 << 20);
    let small = with_server("max_body_memory = \"512KiB\"");
    let e = errors(&small);
    assert!(
        e.iter()
            .any(|m| m.starts_with("t.toml:4:")
                && m.contains("less than the largest max_body_bytes")),
        "{e:?}"
    );
    let e = errors(&big.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8080\"\nmax_body_memory = \"64MiB\"",
    ));
    assert!(e.iter().any(|m| m.contains("(104857600 bytes)")), "{e:?}");
    let e = errors(&with_server("max_body_memory = \"65GiB\""));
    assert!(e.iter().any(|m| m.contains("at most 64GiB")), "{e:?}");
}

/// A mistyped secret reference in an upstream header (`{ENV:T}`, `{ env:T }`, or `{env:T`
/// without its `}`) is refused at load: sent as written, every delivery would get 401 and be
/// dead-lettered. Braces that are not a reference stay text.
#[test]
fn a_mistyped_secret_reference_in_an_upstream_header_is_refused() {
    for value in [
        "Bearer {ENV:T}",
        "Bearer { env:T }",
        "Bearer {env:T",
        "x {File:/t}",
        "ENV:T",
        "$T",
        "${T}",
    ] {
        let text = BASE.replace(
            "url = \"http://127.0.0.1:3000/webhooks\"",
            &format!("url = \"http://127.0.0.1:3000/webhooks\"\nheaders = {{ Authorization = \"{value}\" }}"),
        );
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e.contains("upstreams.") && e.contains("secret reference")),
            "{value}: {errs:?}"
        );
    }
    let plain = BASE.replace(
        "url = \"http://127.0.0.1:3000/webhooks\"",
        "url = \"http://127.0.0.1:3000/webhooks\"\nheaders = { X-Plain = \"a {b} c {envelope}\", X-Braced = \"{T}\" }",
    );
    assert!(errors(&plain).is_empty(), "{:?}", errors(&plain));
}

/// A secret that reads as a reference but is none (`{env:X}`, `${X}`, `$X`, `{X}`, `ENV:X`,
/// `File:/p`, ` env:X`, `env :X`) is refused where it stands, not taken as the literal key;
/// a literal that reads as no reference (`$2b$…`, `{"k":1}`, `envelope`) is only warned about.
#[test]
fn a_secret_that_looks_like_a_reference_but_is_none_is_refused() {
    for value in [
        "{env:LIT}",
        "${LIT}",
        "${env:LIT}",
        "$LIT",
        "{LIT}",
        "ENV:LIT",
        "File:/run/s",
        " env:LIT",
        "env :LIT",
        "$env:LIT",
    ] {
        let text = BASE.replace("secrets = [\"lit\"]", &format!("secrets = [\"{value}\"]"));
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.starts_with("t.toml:11:")
                && e.contains("routes.limai.verify.secrets[0]: looks like a secret reference")),
            "{value}: {errs:?}"
        );
        assert!(!errs.iter().any(|e| e.contains(value.trim())), "{errs:?}");
    }
    for literal in ["$2b$12$abc", "{\\\"k\\\":1}", "envelope", "a$B", "lit"] {
        let text = BASE.replace("secrets = [\"lit\"]", &format!("secrets = [\"{literal}\"]"));
        let c = parse(Path::new("t.toml"), &text).unwrap();
        assert!(
            c.warnings.iter().any(|w| w.contains("written literally")),
            "{literal}: {:?}",
            c.warnings
        );
    }
    let consumer = with_store(
        "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\nconsumer = \"$HOSTNAME\"",
    );
    assert!(
        errors(&consumer)
            .iter()
            .any(|e| e.contains("store.consumer: looks like an environment reference")),
        "{:?}",
        errors(&consumer)
    );
}
