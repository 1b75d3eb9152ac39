//! HTTP/2 requests a client stalls — no room granted for the answer, or a body that never
//! comes — are ended like HTTP/1.1 ones: an answer write is bounded by `header_timeout`, and a
//! stream waiting on its client gives way to a new connection at the cap.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::conn::*;
use common::*;

struct TlsGateway {
    gw: Gateway,
    up: Upstream,
    port: u16,
    cert: Cert,
    _certs: tempfile::TempDir,
}

fn tls_gateway(server: &str) -> TlsGateway {
    let certs = tempfile::tempdir().unwrap();
    let cert = make_cert();
    std::fs::write(certs.path().join("tls.key"), &cert.key).unwrap();
    std::fs::write(certs.path().join("tls.crt"), &cert.pem).unwrap();
    let port = free_port();
    let up = Upstream::start();
    let server = format!(
        "{server}\ntls = {{ listen = \"127.0.0.1:{port}\", cert = \"{}\", key = \"{}\" }}",
        certs.path().join("tls.crt").display(),
        certs.path().join("tls.key").display()
    );
    let gw = Gateway::start(&server, &limai_body(&up), &[("LIMAI_SECRET", SECRET)]);
    TlsGateway {
        gw,
        up,
        port,
        cert,
        _certs: certs,
    }
}

impl TlsGateway {
    /// `n` stalled HTTP/2 requests, each on its own connection (see `h2_stalled`).
    fn stall(
        &self,
        n: usize,
        window0: bool,
        request: &[u8],
        limit: Duration,
    ) -> Vec<std::thread::JoinHandle<Option<Duration>>> {
        (0..n)
            .map(|_| {
                let (port, der, request) = (self.port, self.cert.der.clone(), request.to_vec());
                std::thread::spawn(move || h2_stalled(port, &der, window0, &request, limit))
            })
            .collect()
    }

    /// A signed event over HTTP/2: 200, and delivered.
    async fn send_h2(&self, id: &str) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let c = reqwest::Client::builder()
            .tls_certs_only(
                [reqwest::Certificate::from_pem(self.cert.pem.as_bytes()).expect("pem")],
            )
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let url = format!("https://localhost:{}/hooks/limai", self.port);
        let r = signed(&c, &url, &event_body(id)).send().await;
        let r = r.unwrap_or_else(|e| panic!("{id}: {e:?}"));
        assert_eq!(
            (r.status().as_u16(), r.version()),
            (200, http::Version::HTTP_2),
            "{id}"
        );
        assert!(delivered(&self.up, id).await, "{id} delivered");
    }
}

impl TlsGateway {
    /// A stalled stream ended (timed out or shed) is routine, not an error in pingora's log.
    fn assert_no_pingora_errors(&self) {
        let logs = self.gw.logs();
        assert!(
            !logs
                .lines()
                .any(|l| l.contains("ERROR") && l.contains("pingora")),
            "{logs}"
        );
    }
}

async fn join(handles: Vec<std::thread::JoinHandle<Option<Duration>>>) -> Vec<Option<Duration>> {
    tokio::task::spawn_blocking(move || {
        handles
            .into_iter()
            .map(|h| h.join().expect("h2 thread"))
            .collect()
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_answers_a_client_grants_no_room_for_are_cut_at_the_header_timeout() {
    let t = tls_gateway("max_connections = 5\nheader_timeout = \"2s\"");
    // The cap's worth of connections, each a GET whose answer can never be sent.
    let stalled = t.stall(5, true, H2_GET, Duration::from_secs(15));
    tokio::time::sleep(Duration::from_secs(3)).await;
    t.send_h2("h2-after-stalls").await;
    for (i, ended) in join(stalled).await.into_iter().enumerate() {
        assert!(
            ended.is_some_and(|d| d < Duration::from_secs(6)),
            "stalled answer {i} still open: {ended:?}"
        );
    }
    t.assert_no_pingora_errors();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_h2_streams_give_way_to_a_real_sender() {
    let post = h2_post_without_body();
    for (kind, window0, request) in [("answer", true, H2_GET), ("body", false, &post[..])] {
        // Long limits, so that only shedding can make room.
        let t =
            tls_gateway("max_connections = 5\nheader_timeout = \"30s\"\nbody_timeout = \"30s\"");
        let stalled = t.stall(5, window0, request, Duration::from_secs(6));
        // Past the grace a request has to receive its body (or room for its answer).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        t.send_h2(&format!("real-{kind}")).await;
        let m = metrics(&client(), &t.gw).await;
        assert!(
            sample(&m, "hookgate_connections_shed_total{listener=\"tls\"}") >= 1.0,
            "{kind}: {m}"
        );
        let ended = join(stalled).await;
        assert!(
            ended
                .iter()
                .any(|e| e.is_some_and(|d| d < Duration::from_secs(4))),
            "{kind}: one stalled stream gave way: {ended:?}"
        );
        t.assert_no_pingora_errors();
    }
}
