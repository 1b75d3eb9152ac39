//! HTTPS on the public listener: HTTP/1.1 and HTTP/2 over TLS with a certificate the test
//! makes, plain HTTP alongside, and a renewed certificate picked up without a restart.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;

struct Cert {
    pem: String,
    key: String,
}

fn make_cert() -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    Cert {
        pem: c.cert.pem(),
        key: c.signing_key.serialize_pem(),
    }
}

fn install(dir: &Path, c: &Cert) {
    // Key first, then certificate, each replaced atomically (as cert-manager's symlink swap).
    for (name, text) in [("tls.key", &c.key), ("tls.crt", &c.pem)] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, dir.join(name)).expect("rename");
    }
}

/// A client that trusts only `c`, speaking HTTP/1.1 or HTTP/2.
fn trusting(c: &Cert, h2: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = reqwest::Certificate::from_pem(c.pem.as_bytes()).expect("pem");
    let b = reqwest::Client::builder()
        .tls_certs_only([cert])
        .resolve("localhost", "127.0.0.1:0".parse().unwrap())
        .timeout(Duration::from_secs(5));
    let b = if h2 { b } else { b.http1_only() };
    b.build().expect("client")
}

async fn send(c: &reqwest::Client, url: &str, id: &str) -> Result<(u16, http::Version), String> {
    let r = signed(c, url, &event_body(id))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok((r.status().as_u16(), r.version()))
}

#[tokio::test]
async fn https_h1_and_h2_plain_http_alongside_and_certificate_reload() {
    let certs = tempfile::tempdir().unwrap();
    let (old, new) = (make_cert(), make_cert());
    install(certs.path(), &old);
    let tls_port = free_port();
    let up = Upstream::start();
    let server = format!(
        "tls = {{ listen = \"127.0.0.1:{tls_port}\", cert = \"{}\", key = \"{}\" }}",
        certs.path().join("tls.crt").display(),
        certs.path().join("tls.key").display()
    );
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/in"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start(&server, &body, &[("LIMAI_SECRET", SECRET)]);
    let https = format!("https://localhost:{tls_port}/hooks/limai");

    let (h1, h2) = (trusting(&old, false), trusting(&old, true));
    assert_eq!(
        send(&h1, &https, "t1").await,
        Ok((200, http::Version::HTTP_11))
    );
    assert_eq!(
        send(&h2, &https, "t2").await,
        Ok((200, http::Version::HTTP_2))
    );
    // Plain HTTP stays (a sidecar behind an ingress that terminates TLS).
    assert_eq!(
        send(&client(), &gw.url("/hooks/limai"), "t3")
            .await
            .map(|r| r.0),
        Ok(200)
    );
    // A client that does not trust the certificate is refused by its own TLS check.
    assert!(send(&trusting(&new, false), &https, "t4").await.is_err());

    // Renewed on disk: served without a restart; the old one no longer is.
    install(certs.path(), &new);
    let renewed = eventually(Duration::from_secs(15), async || {
        send(&trusting(&new, false), &https, "t5").await.ok()
    })
    .await;
    assert_eq!(
        renewed,
        Some((200, http::Version::HTTP_11)),
        "{}",
        gw.logs()
    );
    assert!(send(&trusting(&old, false), &https, "t6").await.is_err());

    // A broken pair is refused and the current certificate kept.
    std::fs::write(certs.path().join("tls.crt"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        send(&trusting(&new, true), &https, "t7").await.map(|r| r.0),
        Ok(200)
    );
    assert!(
        gw.logs().contains("TLS certificate not reloaded"),
        "{}",
        gw.logs()
    );
    eventually(Duration::from_secs(15), async || {
        (up.count() == 5).then_some(())
    })
    .await
    .expect("every accepted event delivered");
}
