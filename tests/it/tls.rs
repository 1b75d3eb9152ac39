//! HTTPS on the public listener: HTTP/1.1 and HTTP/2 over TLS with a certificate the test
//! makes, plain HTTP alongside, a renewed certificate picked up without a restart, and the
//! bound on bodies in memory over HTTP/2's many streams per connection.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::conn::{Cert, limai_body, make_cert};
use common::kubelet::KubeletVolume;
use common::*;

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

/// A gateway with HTTPS (certificate `cert`, in `certs`) beside plain HTTP, `extra_server`
/// in its `[server]`; its upstream; the HTTPS URL of the route.
fn tls_gateway(certs: &Path, cert: &Cert, extra_server: &str) -> (Gateway, Upstream, String) {
    install(certs, cert);
    tls_gateway_at(certs, extra_server)
}

/// As `tls_gateway`, with `tls.crt` and `tls.key` already in `certs`.
fn tls_gateway_at(certs: &Path, extra_server: &str) -> (Gateway, Upstream, String) {
    let tls_port = free_port();
    let up = Upstream::start();
    let server = format!(
        "tls = {{ listen = \"127.0.0.1:{tls_port}\", cert = \"{}\", key = \"{}\" }}\n{extra_server}",
        certs.join("tls.crt").display(),
        certs.join("tls.key").display()
    );
    let gw = Gateway::start(&server, &limai_body(&up), &[("LIMAI_SECRET", SECRET)]);
    let https = format!("https://localhost:{tls_port}/hooks/limai");
    (gw, up, https)
}

#[tokio::test]
async fn https_h1_and_h2_plain_http_alongside_and_certificate_reload() {
    let certs = tempfile::tempdir().unwrap();
    let (old, new) = (make_cert(), make_cert());
    let (gw, up, https) = tls_gateway(certs.path(), &old, "");

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

/// A `kubernetes.io/tls` Secret volume (`common::kubelet`) reached through symlinks from another
/// directory: each renewal swaps `..data` only, and each is served without a restart.
#[tokio::test]
async fn a_certificate_linked_into_a_secret_volume_elsewhere_renews_at_each_swap() {
    use std::os::unix::fs::symlink;
    let mount = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    fn pair(c: &Cert) -> [(&'static str, &str); 2] {
        [("tls.crt", &c.pem), ("tls.key", &c.key)]
    }
    let first = make_cert();
    let mut volume = KubeletVolume::new(mount.path().join("tls"), &pair(&first));
    for name in ["tls.crt", "tls.key"] {
        symlink(volume.dir.join(name), certs.path().join(name)).unwrap();
    }
    let (gw, _up, https) = tls_gateway_at(certs.path(), "");
    assert_eq!(
        send(&trusting(&first, false), &https, "c1")
            .await
            .map(|r| r.0),
        Ok(200)
    );
    for (n, next) in [make_cert(), make_cert()].iter().enumerate() {
        volume.write(&pair(next));
        let renewed = eventually(Duration::from_secs(15), async || {
            send(&trusting(next, false), &https, &format!("c{}", n + 2))
                .await
                .ok()
        })
        .await;
        assert_eq!(
            renewed.map(|r| r.0),
            Some(200),
            "renewal {n}:\n{}",
            gw.logs()
        );
    }
}

/// Sixteen streams on one HTTP/2 connection, each sending 900 KB of a body and stalling, with
/// `max_body_memory = 4MiB`: the streams beyond the bound are answered 503 at once (one
/// connection could otherwise hold 100 streams × `max_body_bytes`), and once the client gives
/// up on the others, their memory is free for a signed event.
#[tokio::test]
async fn http2_streams_share_the_bound_on_bodies_in_memory() {
    use futures_util::StreamExt as _;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    let certs = tempfile::tempdir().unwrap();
    let cert = make_cert();
    let (gw, _up, https) = tls_gateway(certs.path(), &cert, "max_body_memory = \"4MiB\"");
    let h2 = trusting(&cert, true);
    let stalled = (0..16).map(|_| {
        let chunk: Result<Frame<bytes::Bytes>, std::io::Error> =
            Ok(Frame::data(bytes::Bytes::from(vec![b' '; 900_000])));
        let body = StreamBody::new(
            futures_util::stream::iter([chunk]).chain(futures_util::stream::pending()),
        );
        h2.post(&https)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(3))
            .body(reqwest::Body::wrap(body))
            .send()
    });
    let answers = futures_util::future::join_all(stalled).await;
    let refused: Vec<_> = answers
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .inspect(|r| assert_eq!(r.version(), http::Version::HTTP_2))
        .map(|r| r.status().as_u16())
        .collect();
    // Four hold the bound (each its 900 KB, rounded up by its buffer); the rest are refused.
    assert!(
        refused.len() >= 10 && refused.iter().all(|s| *s == 503),
        "{answers:?}"
    );
    let (status, v) = send_signed(&h2, &https, &event_body("h2_after")).await;
    assert_eq!(status, 200, "{v}");
    let m = metrics(&client(), &gw).await;
    assert!(
        m.contains("hookgate_body_memory_refused_total{reason=\"full\"}"),
        "{m}"
    );
}
