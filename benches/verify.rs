//! Micro-benchmarks of request verification: the per-request crypto cost, for the generic HMAC
//! engine by body size and for provider presets (HMAC variants, Ed25519, ECDSA P-256).

// A bench may panic on the unexpected: unwrap/expect are denied in src/ only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookgate::secret::Secret;
use hookgate::verify::providers::{self, Settings};
use hookgate::verify::{
    Algorithm, Check, Encoding, HmacSpec, HmacVerifier, KeyedSecret, Request, SigSource, sign,
};
use http::{HeaderMap, HeaderName};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn keys(n: usize) -> Vec<KeyedSecret> {
    (0..n)
        .map(|i| {
            KeyedSecret::new(Secret::literal(if i + 1 == n {
                SECRET.to_string()
            } else {
                format!("{SECRET}{i}")
            }))
        })
        .collect()
}

fn headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

/// Benchmarks one verification, checking every iteration gives the expected verdict.
fn expect(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    check: &Check,
    headers: &HeaderMap,
    body: &[u8],
    valid: bool,
) {
    let now = SystemTime::now();
    g.bench_function(name, |b| {
        b.iter(|| {
            assert_eq!(
                check
                    .verify(&Request {
                        headers,
                        body: black_box(body),
                        now,
                        rest: ""
                    })
                    .is_ok(),
                valid
            )
        })
    });
}

fn bench_hmac(c: &mut Criterion) {
    let mut g = c.benchmark_group("hmac_sha256_hex");
    let v = Check::Hmac(
        HmacVerifier::new(HmacSpec::simple(
            Algorithm::Sha256,
            keys(1),
            SigSource::Header {
                name: HeaderName::from_static("x-signature"),
                prefix: Some("sha256=".into()),
            },
            Encoding::Hex,
        ))
        .unwrap(),
    );
    for size in [256usize, 4 << 10, 64 << 10, 1 << 20] {
        let body = vec![b'x'; size];
        let sig = hex::encode(sign(Algorithm::Sha256, SECRET.as_bytes(), &body));
        let h = headers(&[("x-signature".into(), format!("sha256={sig}"))]);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                assert!(
                    v.verify(&Request {
                        headers: &h,
                        body: black_box(body),
                        now: SystemTime::now(),
                        rest: ""
                    })
                    .is_ok()
                )
            })
        });
    }
    g.finish();
}

fn bench_presets(c: &mut Criterion) {
    let body = br#"{"id":"evt_123","eventId":"evt_123","type":"invoice.paid","data":{"object":{"amount":2000}}}"#.to_vec();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut g = c.benchmark_group("preset");
    for provider in ["stripe", "slack", "standard-webhooks", "github", "locoia"] {
        let preset = providers::build(
            provider,
            Settings {
                secrets: keys(1),
                ..Settings::default()
            },
        )
        .unwrap();
        let signed = hookgate::verify::sign::sign(provider, SECRET, &body, None, now).unwrap();
        expect(
            &mut g,
            provider,
            &preset.check,
            &headers(&signed.headers),
            &signed.body,
            true,
        );
    }
    // Rotation: the valid secret is the last of three; a forged signature costs the same.
    let preset = providers::build(
        "stripe",
        Settings {
            secrets: keys(3),
            ..Settings::default()
        },
    )
    .unwrap();
    let signed = hookgate::verify::sign::sign("stripe", SECRET, &body, None, now).unwrap();
    expect(
        &mut g,
        "stripe_three_secrets",
        &preset.check,
        &headers(&signed.headers),
        &body,
        true,
    );
    let forged = hookgate::verify::sign::sign("stripe", "whsec_forged", &body, None, now).unwrap();
    expect(
        &mut g,
        "stripe_three_secrets_forged",
        &preset.check,
        &headers(&forged.headers),
        &body,
        false,
    );

    let seed = [9u8; 32];
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let discord = providers::build(
        "discord",
        Settings {
            public_key: vec![KeyedSecret::new(Secret::literal(hex::encode(
                pair.public_key().as_ref(),
            )))],
            ..Settings::default()
        },
    )
    .unwrap();
    let signed =
        hookgate::verify::sign::sign("discord", &hex::encode(seed), &body, None, now).unwrap();
    expect(
        &mut g,
        "discord_ed25519",
        &discord.check,
        &headers(&signed.headers),
        &body,
        true,
    );

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let spki = [
        &hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap()[..],
        pair.public_key().as_ref(),
    ]
    .concat();
    let sendgrid = providers::build(
        "sendgrid",
        Settings {
            public_key: vec![KeyedSecret::new(Secret::literal(
                Encoding::Base64.encode(&spki),
            ))],
            ..Settings::default()
        },
    )
    .unwrap();
    let signed = hookgate::verify::sign::sign(
        "sendgrid",
        &Encoding::Base64.encode(pkcs8.as_ref()),
        &body,
        None,
        now,
    )
    .unwrap();
    expect(
        &mut g,
        "sendgrid_ecdsa_p256",
        &sendgrid.check,
        &headers(&signed.headers),
        &body,
        true,
    );
    g.finish();
}

criterion_group!(benches, bench_hmac, bench_presets);
criterion_main!(benches);
