//! Micro-benchmarks of the intake steps the seeds' senders added: a rate-limit check (one
//! client, and many distinct clients), and body normalisation to JSON (XML, form, JSON with
//! query parameters) at a typical webhook size.

// A bench may panic on the unexpected: unwrap/expect are denied in src/ only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookgate::limits::rate::{Rate, RateLimits, RateSpec};
use hookgate::normalize::to_json;

fn rate_limits(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate_limit");
    // High enough that nothing is refused: the cost of an admitted request.
    let spec = RateSpec {
        shared: false,
        per_ip: Some(Rate {
            count: u32::MAX,
            per: Duration::from_secs(1),
        }),
        per_route: Some(Rate {
            count: u32::MAX,
            per: Duration::from_secs(1),
        }),
    };
    let limits = RateLimits::new();
    let one = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    g.bench_function("one_client", |b| {
        b.iter(|| black_box(limits.check("r", &spec, one)))
    });
    // 50 000 distinct clients in rotation: the keyed store's lookups, not one hot entry.
    let mut n: u32 = 0;
    g.bench_function("50k_clients", |b| {
        b.iter(|| {
            n = (n + 1) % 50_000;
            black_box(limits.check("r", &spec, IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))))
        })
    });
    g.finish();
}

fn xml_body(items: usize) -> String {
    let mut s = String::from(r#"<?xml version="1.0"?><order id="o-1" currency="EUR">"#);
    for i in 0..items {
        s.push_str(&format!(
            "<item sku=\"sku-{i}\"><name>Item {i} &amp; more</name><qty>{i}</qty></item>"
        ));
    }
    s.push_str("<note><![CDATA[deliver <fast>]]></note></order>");
    s
}

fn normalisation(c: &mut Criterion) {
    let mut g = c.benchmark_group("normalize");
    let xml = xml_body(40);
    let form: String = (0..60)
        .map(|i| format!("field_{i}=value+{i}%21"))
        .collect::<Vec<_>>()
        .join("&");
    let json = format!(
        "{{\"event\":\"website.created\",\"data\":{{{}}}}}",
        (0..60)
            .map(|i| format!("\"k{i}\":\"value {i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (name, ct, body) in [
        ("xml", "application/xml", &xml),
        ("form", "application/x-www-form-urlencoded", &form),
        ("json", "application/json", &json),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(BenchmarkId::new(name, body.len()), body, |b, body| {
            b.iter(|| {
                black_box(to_json(
                    Some(ct),
                    body.as_bytes(),
                    Some("source=erp&batch=7"),
                ))
            })
        });
    }
    g.finish();
}

/// The event ID from a JSON pointer, in a 1 KiB body of nested objects (the load bench's shape,
/// grown to the issue's 1 KiB).
fn event_id(c: &mut Criterion) {
    use hookgate::event::id::{IdSource, Lookup, extract};
    let mut g = c.benchmark_group("event_id");
    let items: Vec<String> = (0..12)
        .map(|i| {
            format!(r#"{{"fileId":"file_{i}","schemaId":"schema_42","status":"done","pages":{i}}}"#)
        })
        .collect();
    let body = format!(
        r#"{{"eventId":"evt_1_2_3","eventType":"DOCUMENT_EXTRACTED","data":{{"items":[{}]}}}}"#,
        items.join(",")
    );
    let headers = http::HeaderMap::new();
    for ptr in ["json:/eventId", "json:/data/items/11/fileId"] {
        let source = IdSource::parse(ptr).unwrap();
        g.bench_with_input(BenchmarkId::new(ptr, body.len()), &body, |b, body| {
            b.iter(|| black_box(extract(&source, &Lookup::new(&headers, body.as_bytes()))))
        });
    }
    g.finish();
}

criterion_group!(benches, rate_limits, normalisation, event_id);
criterion_main!(benches);
