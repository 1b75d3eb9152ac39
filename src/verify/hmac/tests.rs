use base64::Engine as _;

use super::*;
use crate::secret::Secret;

fn secrets(s: &[&str]) -> Vec<KeyedSecret> {
    s.iter()
        .map(|s| KeyedSecret::new(Secret::literal(*s)))
        .collect()
}

fn header(name: &'static str, prefix: Option<&str>) -> SigSource {
    SigSource::Header {
        name: HeaderName::from_static(name),
        prefix: prefix.map(String::from),
    }
}

fn verifier(
    prefix: Option<&str>,
    enc: Encoding,
    payload: &str,
    ts: bool,
    keys: &[&str],
) -> HmacVerifier {
    HmacVerifier::new(HmacSpec {
        payload: Template::parse(payload).unwrap(),
        timestamp: ts.then(|| TimestampCheck {
            source: TsSource::Header(vec![HeaderName::from_static("x-ts")]),
            tolerance: Duration::from_secs(300),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secrets(keys),
            header("x-sig", prefix),
            enc,
        )
    })
    .unwrap()
}

#[test]
fn github_documented_vector() {
    // From GitHub's "Validating webhook deliveries" docs.
    let v = HmacVerifier::new(HmacSpec::simple(
        Algorithm::Sha256,
        secrets(&["It's a Secret to Everybody"]),
        header("x-hub-signature-256", Some("sha256=")),
        Encoding::HexLower,
    ))
    .unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        "x-hub-signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
            .parse()
            .unwrap(),
    );
    assert_eq!(
        v.verify(&Request::at_test_time(&h, b"Hello, World!"))
            .map(|v| v.key),
        Ok(Some(0))
    );
    assert_eq!(
        v.verify(&Request::at_test_time(&h, b"Hello, World?")).err(),
        Some(VerifyError::NoMatch)
    );
    h.insert(
        "x-hub-signature-256",
        "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"
            .parse()
            .unwrap(),
    );
    assert!(matches!(
        v.verify(&Request::at_test_time(&h, b"Hello, World!")),
        Err(VerifyError::Malformed { .. })
    ));
}

#[test]
fn rotation_any_secret_verifies_and_retired_ones_do_not() {
    let v = verifier(
        Some("sha256="),
        Encoding::Hex,
        "{body}",
        false,
        &["old", "new"],
    );
    let mut h = HeaderMap::new();
    let sig = hex::encode(sign(Algorithm::Sha256, b"new", b"{}"));
    h.insert("x-sig", format!("sha256={sig}").parse().unwrap());
    assert_eq!(
        v.verify(&Request::at_test_time(&h, b"{}")).map(|v| v.key),
        Ok(Some(1))
    );
    let sig = hex::encode(sign(Algorithm::Sha256, b"other", b"{}"));
    h.insert("x-sig", format!("sha256={sig}").parse().unwrap());
    assert_eq!(
        v.verify(&Request::at_test_time(&h, b"{}")).err(),
        Some(VerifyError::NoMatch)
    );

    let mut keys = secrets(&["old", "new"]);
    keys[0].not_after = Some(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
    let v = HmacVerifier::new(HmacSpec::simple(
        Algorithm::Sha256,
        keys,
        header("x-sig", None),
        Encoding::Hex,
    ))
    .unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        "x-sig",
        hex::encode(sign(Algorithm::Sha256, b"old", b"{}"))
            .parse()
            .unwrap(),
    );
    assert_eq!(
        v.verify(&Request::at_test_time(&h, b"{}")).err(),
        Some(VerifyError::NoMatch),
        "retired secret"
    );
}

#[test]
fn missing_and_malformed() {
    let v = verifier(Some("sha256="), Encoding::Hex, "{body}", false, &["k"]);
    let h = HeaderMap::new();
    assert_eq!(
        v.verify(&Request::at_test_time(&h, b"x")).err(),
        Some(VerifyError::MissingHeader("x-sig".into()))
    );
    let mut h = HeaderMap::new();
    h.insert("x-sig", "sha1=abcd".parse().unwrap());
    assert!(matches!(
        v.verify(&Request::at_test_time(&h, b"x")),
        Err(VerifyError::Malformed { .. })
    ));
    h.insert("x-sig", "sha256=zz".parse().unwrap());
    assert!(matches!(
        v.verify(&Request::at_test_time(&h, b"x")),
        Err(VerifyError::Malformed { .. })
    ));
}

#[test]
fn timestamp_tolerance_both_directions() {
    let v = verifier(None, Encoding::Base64, "{timestamp}.{body}", true, &["k"]);
    let body = b"{\"a\":1}";
    for (ts, ok) in [
        (1_700_000_000u64, true),
        (1_700_000_299, true),
        (1_699_999_701, true),
        (1_700_000_301, false),
        (1_699_999_699, false),
        (1_700_000_000_000, true),
    ] {
        let mut msg = ts.to_string().into_bytes();
        msg.push(b'.');
        msg.extend_from_slice(body);
        let sig = Encoding::Base64.encode(&sign(Algorithm::Sha256, b"k", &msg));
        let mut h = HeaderMap::new();
        h.insert("x-sig", sig.parse().unwrap());
        h.insert("x-ts", ts.to_string().parse().unwrap());
        let r = v.verify(&Request::at_test_time(&h, body));
        if ok {
            assert!(r.is_ok(), "ts {ts}")
        } else {
            assert_eq!(r.err(), Some(VerifyError::StaleTimestamp), "ts {ts}")
        }
    }
}

#[test]
fn list_and_versioned_headers() {
    // Stripe-like: t=...,v1=...,v1=... and only the second v1 is right.
    let v = HmacVerifier::new(HmacSpec {
        payload: Template::parse("{timestamp}.{body}").unwrap(),
        timestamp: Some(TimestampCheck {
            source: TsSource::ListField {
                name: HeaderName::from_static("x-list"),
                separator: ',',
                key: "t".into(),
            },
            tolerance: Duration::from_secs(300),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secrets(&["k"]),
            SigSource::List {
                name: HeaderName::from_static("x-list"),
                separator: ',',
                key: "v1".into(),
            },
            Encoding::Hex,
        )
    })
    .unwrap();
    let good = hex::encode(sign(Algorithm::Sha256, b"k", b"1700000000.{}"));
    let mut h = HeaderMap::new();
    h.insert(
        "x-list",
        format!("t=1700000000,v1={},v1={good},v0=ff", "00".repeat(32))
            .parse()
            .unwrap(),
    );
    assert!(v.verify(&Request::at_test_time(&h, b"{}")).is_ok());
    h.insert("x-list", "t=1700000000,v0=aa".parse().unwrap());
    assert!(matches!(
        v.verify(&Request::at_test_time(&h, b"{}")),
        Err(VerifyError::Malformed { .. })
    ));

    // Standard Webhooks-like: space-separated versioned entries, whsec_ key.
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef");
    let v = HmacVerifier::new(HmacSpec {
        key_format: KeyFormat::WhsecBase64,
        payload: Template::parse("{body}").unwrap(),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secrets(&[&format!("whsec_{key_b64}")]),
            SigSource::Versioned {
                names: vec![HeaderName::from_static("webhook-signature")],
                version: "v1,".into(),
            },
            Encoding::Base64,
        )
    })
    .unwrap();
    let sig = Encoding::Base64.encode(&sign(Algorithm::Sha256, b"0123456789abcdef", b"{}"));
    let mut h = HeaderMap::new();
    h.insert(
        "webhook-signature",
        format!("v1a,xyz v1,AAAA v1,{sig}").parse().unwrap(),
    );
    assert!(v.verify(&Request::at_test_time(&h, b"{}")).is_ok());
}

#[test]
fn template_needs_its_inputs() {
    let spec = |payload: &str| HmacSpec {
        payload: Template::parse(payload).unwrap(),
        ..HmacSpec::simple(
            Algorithm::Sha1,
            secrets(&["k"]),
            header("x-sig", None),
            Encoding::Hex,
        )
    };
    assert!(HmacVerifier::new(spec("{timestamp}{body}")).is_err());
    assert!(HmacVerifier::new(spec("{id}{body}")).is_err());
    assert!(HmacVerifier::new(spec("{url}{body}")).is_err());
    assert!(HmacVerifier::new(spec("{body}")).is_ok());
}

#[test]
fn linear_style_body_timestamp_is_checked_after_the_signature() {
    let v = HmacVerifier::new(HmacSpec {
        timestamp: Some(TimestampCheck {
            source: TsSource::JsonMillis("/webhookTimestamp".into()),
            tolerance: Duration::from_secs(60),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secrets(&["k"]),
            header("x-sig", None),
            Encoding::Hex,
        )
    })
    .unwrap();
    for (ms, ok) in [
        (1_700_000_000_000u64, true),
        (1_700_000_059_000, true),
        (1_700_000_061_000, false),
        (1_699_999_939_000, false),
    ] {
        let body = format!(r#"{{"webhookTimestamp":{ms}}}"#);
        let mut h = HeaderMap::new();
        h.insert(
            "x-sig",
            hex::encode(sign(Algorithm::Sha256, b"k", body.as_bytes()))
                .parse()
                .unwrap(),
        );
        assert_eq!(
            v.verify(&Request::at_test_time(&h, body.as_bytes()))
                .is_ok(),
            ok,
            "{ms}"
        );
    }
}

#[test]
fn one_timestamp_per_signature_set() {
    // Persona during a rotation: `t=..,v1=.. t=..,v1=..`, each set signed at its own time.
    let v = HmacVerifier::new(HmacSpec {
        payload: Template::parse("{timestamp}.{body}").unwrap(),
        timestamp: Some(TimestampCheck {
            source: TsSource::ListField {
                name: HeaderName::from_static("x-sig"),
                separator: ',',
                key: "t".into(),
            },
            tolerance: Duration::from_secs(300),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secrets(&["new"]),
            SigSource::List {
                name: HeaderName::from_static("x-sig"),
                separator: ',',
                key: "v1".into(),
            },
            Encoding::HexLower,
        )
    })
    .unwrap();
    let set = |t: u64, key: &str| {
        let mac = sign(
            Algorithm::Sha256,
            key.as_bytes(),
            format!("{t}.{{}}").as_bytes(),
        );
        format!("t={t},v1={}", hex::encode(mac))
    };
    let at = |value: String| {
        let mut h = HeaderMap::new();
        h.insert("x-sig", value.parse().unwrap());
        HmacVerifier::verify(&v, &Request::at_test_time(&h, b"{}"))
    };
    let now = 1_700_000_000;
    assert!(at(format!("{} {}", set(now - 1, "old"), set(now - 2, "new"))).is_ok());
    assert!(at(format!("{} {}", set(now - 2, "new"), set(now - 1, "old"))).is_ok());
    // A stale set beside a fresh one signed with another key: the stale one never counts.
    assert_eq!(
        at(format!("{} {}", set(now - 400, "new"), set(now, "old"))),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(at(set(now - 400, "new")), Err(VerifyError::StaleTimestamp));
    // A fresh `t` added to a stale signature does not revive it.
    let stale = set(now - 400, "new");
    assert!(
        at(format!(
            "t={now},{}",
            stale.replace(&format!("t={},", now - 400), "")
        ))
        .is_err()
    );
    // More timestamps than signature sets are refused before any MAC is computed.
    let many = (0..5)
        .map(|i| set(now - i, "new"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(matches!(at(many), Err(VerifyError::Malformed { .. })));
    // Junk `t=` that is no time beside a good set is ignored; alone, it is malformed.
    assert!(at(format!("{},t=a", set(now, "new"))).is_ok());
    assert!(matches!(
        at("t=a,v1=00".to_string()),
        Err(VerifyError::Malformed { .. })
    ));
}
