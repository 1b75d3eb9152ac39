//! The generic verification engines: signature encodings, `whsec_` keys, payload templates,
//! `key=value` and versioned signature lists, header timestamps.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use hookgate::secret::Secret;
use hookgate::verify::hmac::KeyFormat;
use hookgate::verify::{
    Algorithm, Encoding, HmacSpec, HmacVerifier, KeyedSecret, Request, SigSource, Template,
    TimestampCheck, TsSource, VerifyError, sign,
};

use super::{config, header_bytes, noisy_bytes};

const NOW: u64 = 1_700_000_000;

fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> Request<'a> {
    Request {
        headers,
        body,
        now: UNIX_EPOCH + Duration::from_secs(NOW),
        rest: "",
    }
}

fn secret(s: &str) -> Vec<KeyedSecret> {
    vec![KeyedSecret::new(Secret::literal(s))]
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Hex),
        Just(Encoding::HexLower),
        Just(Encoding::Base64)
    ]
}

/// A Stripe-like verifier: `t=<ts>,v1=<hex>,...` over `{timestamp}.{body}`, or a Paddle-like
/// one with `;` and `ts=`/`h1=`.
fn list_verifier(separator: char, tolerance: Duration) -> HmacVerifier {
    let (ts_key, sig_key) = if separator == ',' {
        ("t", "v1")
    } else {
        ("ts", "h1")
    };
    HmacVerifier::new(HmacSpec {
        payload: Template::parse("{timestamp}.{body}").unwrap(),
        timestamp: Some(TimestampCheck {
            source: TsSource::ListField {
                name: HeaderName::from_static("x-list"),
                separator,
                key: ts_key.into(),
            },
            tolerance,
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secret("k"),
            SigSource::List {
                name: HeaderName::from_static("x-list"),
                separator,
                key: sig_key.into(),
            },
            Encoding::HexLower,
        )
    })
    .unwrap()
}

/// A Standard Webhooks-like verifier (`v1,<b64> v1,<b64>`, `whsec_` key, header timestamp).
fn versioned_verifier(key: &[u8], tolerance: Duration) -> HmacVerifier {
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    HmacVerifier::new(HmacSpec {
        key_format: KeyFormat::WhsecBase64,
        payload: Template::parse("{timestamp}.{body}").unwrap(),
        timestamp: Some(TimestampCheck {
            source: TsSource::Header(vec![HeaderName::from_static("x-ts")]),
            tolerance,
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secret(&whsec),
            SigSource::Versioned {
                names: vec![HeaderName::from_static("x-sigs")],
                version: "v1,".into(),
            },
            Encoding::Base64,
        )
    })
    .unwrap()
}

/// A template piece: literal text (any characters, braces included) or a placeholder.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Body,
    Timestamp,
    Header,
}

fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    let other = prop_oneof![
        "[{}a-z.:\\- \u{e9}]{1,6}".prop_map(Piece::Text),
        Just(Piece::Timestamp),
        Just(Piece::Header),
    ];
    (
        proptest::collection::vec(other.clone(), 0..4),
        proptest::collection::vec(other, 0..4),
    )
        .prop_map(|(mut before, after)| {
            before.push(Piece::Body);
            before.extend(after);
            before
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn decoding_random_text_never_panics(text in noisy_bytes(128), enc in encoding()) {
        let _ = enc.decode(&text);
    }

    #[test]
    fn encode_then_decode_is_identity(bytes in proptest::collection::vec(any::<u8>(), 0..96), enc in encoding()) {
        prop_assert_eq!(enc.decode(enc.encode(&bytes).as_bytes()), Some(bytes));
    }

    #[test]
    fn hex_lower_refuses_any_uppercase(bytes in proptest::collection::vec(any::<u8>(), 1..48), at in any::<prop::sample::Index>()) {
        let mut bytes = bytes;
        bytes.push(0xab);
        let mut text = hex::encode(&bytes).into_bytes();
        let letters: Vec<usize> = (0..text.len()).filter(|&i| text[i].is_ascii_alphabetic()).collect();
        let i = letters[at.index(letters.len())];
        text[i] = text[i].to_ascii_uppercase();
        prop_assert_eq!(Encoding::HexLower.decode(&text), None);
        prop_assert_eq!(Encoding::Hex.decode(&text), Some(bytes));
    }

    #[test]
    fn whsec_keys_round_trip(key in proptest::collection::vec(any::<u8>(), 1..64), prefixed in any::<bool>()) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
        let text = if prefixed { format!("whsec_{b64}") } else { b64 };
        prop_assert_eq!(KeyFormat::WhsecBase64.key(text.as_bytes()), Ok(key));
    }

    #[test]
    fn whsec_random_text_never_panics(text in noisy_bytes(96)) {
        let _ = KeyFormat::WhsecBase64.key(&text);
        let mut prefixed = b"whsec_".to_vec();
        prefixed.extend_from_slice(&text);
        let _ = KeyFormat::WhsecBase64.key(&prefixed);
    }

    #[test]
    fn template_parse_never_panics(text in "[{}a-z:\\-. \u{e9}\u{1F600}]{0,40}") {
        let _ = Template::parse(&text);
    }

    /// A template written with doubled braces for literal text renders exactly the pieces.
    #[test]
    fn template_renders_its_pieces(pieces in pieces(), body in noisy_bytes(32), ts in "[0-9]{1,13}", hv in "[a-z0-9]{0,8}") {
        let mut text = String::new();
        let mut expected = Vec::new();
        for p in &pieces {
            match p {
                Piece::Text(t) => {
                    text.push_str(&t.replace('{', "{{").replace('}', "}}"));
                    expected.extend_from_slice(t.as_bytes());
                }
                Piece::Body => {
                    text.push_str("{body}");
                    expected.extend_from_slice(&body);
                }
                Piece::Timestamp => {
                    text.push_str("{timestamp}");
                    expected.extend_from_slice(ts.as_bytes());
                }
                Piece::Header => {
                    text.push_str("{header:X-Part}");
                    expected.extend_from_slice(hv.as_bytes());
                }
            }
        }
        let t = Template::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let mut h = HeaderMap::new();
        h.insert("x-part", HeaderValue::from_str(&hv).unwrap());
        let mut out = Vec::new();
        t.feed(&h, &body, Some(ts.as_bytes()), None, None, |b| out.extend_from_slice(b)).unwrap();
        prop_assert_eq!(out, expected);
    }

    /// Whatever the signature header holds, the engines answer without panicking.
    #[test]
    fn signature_headers_never_panic(
        list in header_bytes(120),
        sigs in header_bytes(120),
        ts in header_bytes(24),
        body in noisy_bytes(64),
        sep in prop_oneof![Just(','), Just(';')],
    ) {
        let mut h = HeaderMap::new();
        h.insert("x-list", HeaderValue::from_bytes(&list).unwrap());
        h.insert("x-sigs", HeaderValue::from_bytes(&sigs).unwrap());
        h.insert("x-ts", HeaderValue::from_bytes(&ts).unwrap());
        let _ = list_verifier(sep, Duration::from_secs(300)).verify(&request(&h, &body));
        let _ = versioned_verifier(b"key", Duration::from_secs(300)).verify(&request(&h, &body));
    }

    /// In a `t=..,v1=..` list, the right signature is found among any number of wrong ones,
    /// in any position, with any spacing; without it the request is refused.
    #[test]
    fn list_signature_found_among_decoys(
        decoys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 32), 0..4),
        at in any::<prop::sample::Index>(),
        junk in proptest::collection::vec("[a-z]{1,3}=[a-z0-9]{0,6}", 0..3),
        space in prop_oneof![Just(""), Just(" ")],
        sep in prop_oneof![Just(','), Just(';')],
        body in noisy_bytes(64),
        include_good in any::<bool>(),
    ) {
        let (ts_key, sig_key) = if sep == ',' { ("t", "v1") } else { ("ts", "h1") };
        let mut msg = format!("{NOW}.").into_bytes();
        msg.extend_from_slice(&body);
        let good = hex::encode(sign(Algorithm::Sha256, b"k", &msg));
        let mut items: Vec<String> = decoys.iter().map(|d| format!("{sig_key}={}", hex::encode(d))).collect();
        if include_good {
            let i = at.index(items.len() + 1);
            items.insert(i, format!("{sig_key}={good}"));
        }
        items.extend(junk);
        items.insert(0, format!("{ts_key}={NOW}"));
        let value = items.join(&format!("{sep}{space}"));
        let mut h = HeaderMap::new();
        h.insert("x-list", HeaderValue::from_str(&value).unwrap());
        let r = list_verifier(sep, Duration::from_secs(300)).verify(&request(&h, &body));
        prop_assert_eq!(r.is_ok(), include_good, "{} -> {:?}", value, r);
    }

    /// Same for space-separated versioned entries: only `v1,` entries count.
    #[test]
    fn versioned_signature_found_among_decoys(
        key in proptest::collection::vec(any::<u8>(), 1..40),
        decoys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 32), 0..4),
        at in any::<prop::sample::Index>(),
        body in noisy_bytes(64),
        include_good in any::<bool>(),
        other_version in prop_oneof![Just("v1a,"), Just("v2,"), Just("V1,"), Just("v1")],
    ) {
        let mut msg = format!("{NOW}.").into_bytes();
        msg.extend_from_slice(&body);
        let good = Encoding::Base64.encode(&sign(Algorithm::Sha256, &key, &msg));
        let mut entries: Vec<String> = decoys.iter().map(|d| format!("v1,{}", Encoding::Base64.encode(d))).collect();
        // The right MAC under another version tag must not count.
        entries.push(format!("{other_version}{good}"));
        if include_good {
            let i = at.index(entries.len() + 1);
            entries.insert(i, format!("v1,{good}"));
        }
        let mut h = HeaderMap::new();
        h.insert("x-sigs", HeaderValue::from_str(&entries.join(" ")).unwrap());
        h.insert("x-ts", HeaderValue::from(NOW));
        let r = versioned_verifier(&key, Duration::from_secs(300)).verify(&request(&h, &body));
        prop_assert_eq!(r.is_ok(), include_good, "{:?}", r);
    }

    /// Header timestamps, in seconds or milliseconds, in a plain header or a list field:
    /// accepted iff |now - t| <= tolerance.
    #[test]
    fn header_timestamp_accepted_iff_within_tolerance(
        tolerance_ms in 0u64..600_000,
        skew_ms in -1_200_000i64..1_200_000,
        millis in any::<bool>(),
        list in any::<bool>(),
        body in noisy_bytes(32),
    ) {
        let tolerance = Duration::from_millis(tolerance_ms);
        let now_ms = NOW as i64 * 1000;
        // Seconds can only say whole seconds.
        let (text, at_ms) = if millis {
            let t = now_ms + skew_ms;
            (t.to_string(), t)
        } else {
            let t = (now_ms + skew_ms).div_euclid(1000);
            (t.to_string(), t * 1000)
        };
        let within = (at_ms - now_ms).unsigned_abs() <= tolerance_ms;
        let mut msg = format!("{text}.").into_bytes();
        msg.extend_from_slice(&body);
        let mac = sign(Algorithm::Sha256, b"k", &msg);
        let mut h = HeaderMap::new();
        let r = if list {
            h.insert("x-list", HeaderValue::from_str(&format!("t={text},v1={}", hex::encode(mac))).unwrap());
            list_verifier(',', tolerance).verify(&request(&h, &body))
        } else {
            h.insert("x-ts", HeaderValue::from_str(&text).unwrap());
            h.insert("x-sigs", HeaderValue::from_str(&format!("v1,{}", Encoding::Base64.encode(&mac))).unwrap());
            versioned_verifier(b"k", tolerance).verify(&request(&h, &body))
        };
        if within {
            prop_assert!(r.is_ok(), "{} tol {:?}: {:?}", text, tolerance, r);
        } else {
            prop_assert_eq!(r.err(), Some(VerifyError::StaleTimestamp), "{} tol {:?}", text, tolerance);
        }
    }
}

/// A P-256 SubjectPublicKeyInfo (DER) for a generated key, and its point.
fn p256_key() -> (Vec<u8>, Vec<u8>) {
    use ring::signature::KeyPair as _;
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let spki = [
        hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap(),
        point.clone(),
    ]
    .concat();
    (spki, point)
}

proptest! {
    #![proptest_config(config(64))]

    /// Public keys as operators paste them: P-256 as base64 DER or PEM, wrapped at any width
    /// with any line ends; Ed25519 as hex in either case. Random text never panics.
    #[test]
    fn public_keys_read_in_every_written_form(width in 16usize..80, crlf in any::<bool>(), pem in any::<bool>(), upper in any::<bool>(), seed in any::<[u8; 32]>()) {
        use hookgate::verify::AsymAlg;
        let (spki, point) = p256_key();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
        let nl = if crlf { "\r\n" } else { "\n" };
        let lines: Vec<&str> = b64.as_bytes().chunks(width).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let body = lines.join(nl);
        let text = if pem {
            format!("-----BEGIN PUBLIC KEY-----{nl}{body}{nl}-----END PUBLIC KEY-----{nl}")
        } else {
            format!("  {body}{nl}")
        };
        prop_assert_eq!(AsymAlg::EcdsaP256.public_key(&text), Ok(point));
        let ed = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let public = ring::signature::KeyPair::public_key(&ed).as_ref().to_vec();
        let hex_text = if upper { hex::encode_upper(&public) } else { hex::encode(&public) };
        prop_assert_eq!(AsymAlg::Ed25519.public_key(&format!(" {hex_text}\n")), Ok(public));
    }

    #[test]
    fn random_public_key_text_never_panics(text in "[A-Za-z0-9+/=\\- \n]{0,120}") {
        let _ = hookgate::verify::AsymAlg::EcdsaP256.public_key(&text);
        let _ = hookgate::verify::AsymAlg::Ed25519.public_key(&text);
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Shared tokens: the configured token (Bearer) or `user:password` (Basic) is accepted
    /// with the scheme word in any case and any surrounding space; any other token is refused;
    /// random Authorization values never panic.
    #[test]
    fn tokens_match_exactly(
        token in "[!-~]{1,40}",
        other in "[!-~]{1,40}",
        basic in any::<bool>(),
        scheme_case in proptest::collection::vec(any::<bool>(), 6),
        pad in "[ \t]{0,2}",
        junk in header_bytes(64),
    ) {
        use hookgate::verify::{TokenKind, TokenVerifier};
        // Basic credentials need a password (a bare `user:` is refused at load).
        let token = if basic { format!("u:{token}") } else { token };
        let kind = if basic { TokenKind::Basic } else { TokenKind::Bearer };
        let v = TokenVerifier::new(kind, None, None, &secret(&token)).unwrap();
        let word: String = (if basic { "Basic" } else { "Bearer" })
            .chars()
            .zip(scheme_case.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        let credential = |t: &str| if basic { base64::engine::general_purpose::STANDARD.encode(t) } else { t.to_string() };
        let check = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", HeaderValue::from_str(value).unwrap());
            v.verify(&request(&h, b""))
        };
        let good = format!("{pad}{word} {}{pad}", credential(&token));
        prop_assert_eq!(check(&good), Ok(()), "{:?}", good);
        if other != token {
            let wrong = format!("{word} {}", credential(&other));
            prop_assert!(check(&wrong).is_err(), "{:?} accepted", wrong);
        }
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_bytes(&junk).unwrap());
        let _ = v.verify(&request(&h, b""));
    }

    /// Twilio signs the URL it called with or without the port: a public URL written either
    /// way verifies a signature made over the other form.
    #[test]
    fn twilio_url_with_or_without_the_default_port(
        https in any::<bool>(),
        host in "[a-z]{1,8}\\.example",
        path in "(/[a-z0-9]{1,6}){0,3}",
        write_port in any::<bool>(),
        sign_port in any::<bool>(),
        body in proptest::collection::vec(("[A-Za-z]{1,6}", "[A-Za-z0-9]{0,8}"), 0..4),
    ) {
        use hookgate::verify::TwilioVerifier;
        let (scheme, port) = if https { ("https", 443) } else { ("http", 80) };
        let url = |with: bool| if with { format!("{scheme}://{host}:{port}{path}") } else { format!("{scheme}://{host}{path}") };
        let v = TwilioVerifier::new(&secret("tw"), url(write_port)).unwrap();
        let form: Vec<String> = body.iter().map(|(k, val)| format!("{k}={val}")).collect();
        let form = form.join("&");
        let mut pairs = body.clone();
        pairs.sort();
        pairs.dedup();
        let params: String = pairs.into_iter().map(|(k, val)| k + &val).collect();
        let mut msg = url(sign_port).into_bytes();
        msg.extend_from_slice(params.as_bytes());
        let sig = Encoding::Base64.encode(&sign(Algorithm::Sha1, b"tw", &msg));
        let mut h = HeaderMap::new();
        h.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
        h.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded"));
        let r = v.verify(&request(&h, form.as_bytes()));
        prop_assert!(r.is_ok(), "{} signed as {}: {:?}", url(write_port), url(sign_port), r);
    }
}
