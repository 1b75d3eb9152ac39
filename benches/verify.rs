//! Micro-benchmarks of request verification: the per-request crypto cost.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookgate::verify::{
    Algorithm, Encoding, HmacSpec, HmacVerifier, Request, Template, TimestampCheck, TokenKind,
    TokenVerifier, Verifier, sign,
};
use http::{HeaderMap, HeaderName};

fn secrets(n: usize) -> Vec<hookgate::config::Secret> {
    (0..n)
        .map(|i| hookgate::config::Secret::literal(format!("whsec_benchmark_secret_{i}")))
        .collect()
}

fn hmac_verifier(template: &str, timestamp: bool, n_secrets: usize) -> Verifier {
    Verifier::Hmac(
        HmacVerifier::new(HmacSpec {
            algorithm: Algorithm::Sha256,
            secrets: secrets(n_secrets),
            header: HeaderName::from_static("x-signature"),
            prefix: Some("sha256=".into()),
            encoding: Encoding::Hex,
            payload: Template::parse(template).unwrap(),
            timestamp: timestamp.then(|| TimestampCheck {
                header: HeaderName::from_static("x-timestamp"),
                tolerance: Duration::from_secs(300),
            }),
            id_header: None,
        })
        .unwrap(),
    )
}

/// Benchmarks one verification, checking every iteration gives the expected verdict.
fn expect(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    v: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
    valid: bool,
) {
    let now = SystemTime::now();
    g.bench_function(name, |b| {
        b.iter(|| {
            assert_eq!(
                v.verify(&Request {
                    headers,
                    body: black_box(body),
                    now
                })
                .is_ok(),
                valid
            )
        })
    });
}

fn bench_hmac(c: &mut Criterion) {
    let mut g = c.benchmark_group("hmac_sha256_hex");
    let v = hmac_verifier("{body}", false, 1);
    for size in [256usize, 4 << 10, 64 << 10, 1 << 20] {
        let body = vec![b'x'; size];
        let mut h = HeaderMap::new();
        let sig = hex::encode(sign(Algorithm::Sha256, b"whsec_benchmark_secret_0", &body));
        h.insert("x-signature", format!("sha256={sig}").parse().unwrap());
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                let r = Request {
                    headers: &h,
                    body: black_box(body),
                    now: SystemTime::now(),
                };
                assert!(v.verify(&r).is_ok());
            })
        });
    }
    g.finish();
}

fn bench_variants(c: &mut Criterion) {
    let body = br#"{"eventId":"evt_123","eventType":"DOCUMENT_EXTRACTED","data":{"fileId":"f_1"}}"#
        .to_vec();
    let mut g = c.benchmark_group("verify_small_body");
    // A timestamped template, as Stripe/Slack-style schemes use.
    let now = SystemTime::now();
    let ts = now
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let v = hmac_verifier("{timestamp}.{body}", true, 1);
    let mut h = HeaderMap::new();
    let sig = hex::encode(sign(
        Algorithm::Sha256,
        b"whsec_benchmark_secret_0",
        format!("{ts}.{}", String::from_utf8_lossy(&body)).as_bytes(),
    ));
    h.insert("x-signature", format!("sha256={sig}").parse().unwrap());
    h.insert("x-timestamp", ts.parse().unwrap());
    expect(&mut g, "hmac_timestamp_template", &v, &h, &body, true);
    // Rotation: the valid secret is the last of three.
    let v = hmac_verifier("{body}", false, 3);
    let mut h = HeaderMap::new();
    let sig = hex::encode(sign(Algorithm::Sha256, b"whsec_benchmark_secret_2", &body));
    h.insert("x-signature", format!("sha256={sig}").parse().unwrap());
    expect(&mut g, "hmac_three_secrets", &v, &h, &body, true);
    // A forged signature costs the same as a valid one (no early exit).
    let mut forged = h.clone();
    forged.insert(
        "x-signature",
        format!("sha256={}", "0".repeat(64)).parse().unwrap(),
    );
    expect(
        &mut g,
        "hmac_three_secrets_forged",
        &v,
        &forged,
        &body,
        false,
    );
    let t =
        Verifier::Token(TokenVerifier::new(TokenKind::Bearer, None, None, &secrets(1)).unwrap());
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        "Bearer whsec_benchmark_secret_0".parse().unwrap(),
    );
    expect(&mut g, "bearer", &t, &h, &body, true);
    g.finish();
}

criterion_group!(benches, bench_hmac, bench_variants);
criterion_main!(benches);
