//! systemd readiness (`Type=notify`): hookgate speaks on `NOTIFY_SOCKET` as systemd's own
//! socket would hear it — a real Unix datagram socket the test binds.

use crate::common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Gateway, free_port, http_get_status};

/// The next datagram, as text, or None after `wait`.
fn next(sock: &UnixDatagram, wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn ready_when_it_can_serve_then_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let store = format!("[store]\npath = \"{}\"", dir.path().join("data").display());
    let body = format!(
        "{}\n{}",
        common::upstream_block("up", "http://127.0.0.1:9", ""),
        common::limai_route("r", "/hooks/r", "up", "")
    );
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        Gateway::config_text(port, admin_port, "", &store, &body),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("hookgate.log")).unwrap();
    // Spawned by hand: the test must not wait for readiness itself before listening.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("LIMAI_SECRET", "s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let logs = || std::fs::read_to_string(dir.path().join("hookgate.log")).unwrap_or_default();

    let ready =
        next(&sock, Duration::from_secs(20)).unwrap_or_else(|| panic!("no READY:\n{}", logs()));
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(
        ready.contains(&format!("STATUS=serving on 127.0.0.1:{port}")),
        "{ready:?}"
    );
    // READY means it: the moment it arrives, the listener accepts and the store takes writes.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(http_get_status(admin_port, "/readyz"), Some(200));
    assert_eq!(
        next(&sock, Duration::from_millis(300)),
        None,
        "READY sent once"
    );

    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    hup();
    let reloading = next(&sock, Duration::from_secs(10)).unwrap();
    assert!(
        reloading.lines().any(|l| l == "RELOADING=1"),
        "{reloading:?}"
    );
    // systemd ≥ 253 (Type=notify-reload) refuses RELOADING=1 without the monotonic clock.
    assert!(
        reloading.lines().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reloading:?}"
    );
    let done = next(&sock, Duration::from_secs(10)).unwrap();
    assert!(done.lines().any(|l| l == "READY=1"), "{done:?}");
    assert!(done.contains("STATUS=config unchanged"), "{done:?}");

    // A broken file: the old config keeps serving, and the status says so.
    std::fs::write(&config, "[server\n").unwrap();
    hup();
    assert!(
        next(&sock, Duration::from_secs(10))
            .unwrap()
            .contains("RELOADING=1")
    );
    let failed = next(&sock, Duration::from_secs(10)).unwrap();
    assert!(failed.contains("READY=1"), "{failed:?}");
    assert!(failed.contains("STATUS=config reload failed"), "{failed:?}");

    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let stopping = next(&sock, Duration::from_secs(10)).unwrap();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    assert!(child.wait().unwrap().success(), "{}", logs());
}

#[test]
fn without_a_notify_socket_nothing_is_sent_and_nothing_breaks() {
    // The common harness runs every other test without NOTIFY_SOCKET; this one only checks
    // that the readiness service exits quietly and shutdown still completes.
    let body = format!(
        "{}\n{}",
        common::upstream_block("up", "http://127.0.0.1:9", ""),
        common::limai_route("r", "/hooks/r", "up", "")
    );
    let mut gw = Gateway::start("", &body, &[("LIMAI_SECRET", "s")]);
    gw.terminate();
    assert!(!gw.logs().contains("cannot notify"), "{}", gw.logs());
}
