//! `server.header_timeout`, `server.keepalive_timeout`, `server.max_connections`.

use std::time::Duration;

use super::super::ConnLimits;
use super::super::file::ServerFile;
use super::Checker;

/// Past this, a header deadline stops protecting anything (pingora's own per-read timeout
/// is 60 s).
const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3600);

impl Checker<'_> {
    pub(super) fn connections(&mut self, s: &ServerFile) -> ConnLimits {
        let header_timeout = self.duration_at_most(
            s.header_timeout.as_ref(),
            "server.header_timeout",
            Duration::from_secs(10),
            MAX_HEADER_TIMEOUT,
        );
        let keepalive_timeout = self.duration_at_most(
            s.keepalive_timeout.as_ref(),
            "server.keepalive_timeout",
            Duration::from_secs(60),
            MAX_KEEPALIVE_TIMEOUT,
        );
        let max_connections = self.int(
            s.max_connections.as_ref(),
            "server.max_connections",
            1..1_000_001,
            1024,
        ) as usize;
        ConnLimits {
            header_timeout,
            keepalive_timeout,
            max_connections,
            max_head_bytes: super::super::header_limit::gate_bound(
                super::super::header_limit::DEFAULT,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{LoadError, parse};

    const BASE: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n";

    fn errors(extra: &str) -> Vec<String> {
        match parse(Path::new("t.toml"), &format!("{BASE}{extra}\n")) {
            Err(LoadError::Invalid(e)) => e.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
            Ok(_) => vec![],
        }
    }

    #[test]
    fn defaults_and_values() {
        let c = parse(Path::new("t.toml"), BASE).unwrap();
        let l = c.server.connections;
        assert_eq!(l.header_timeout, Duration::from_secs(10));
        assert_eq!(l.keepalive_timeout, Duration::from_secs(60));
        assert_eq!(l.max_connections, 1024);
        let c = parse(
            Path::new("t.toml"),
            &format!(
                "{BASE}header_timeout = \"3s\"\nkeepalive_timeout = \"5s\"\nmax_connections = 50\n"
            ),
        )
        .unwrap();
        let l = c.server.connections;
        assert_eq!(
            (l.header_timeout, l.keepalive_timeout, l.max_connections),
            (Duration::from_secs(3), Duration::from_secs(5), 50)
        );
    }

    #[test]
    fn bad_values_point_at_the_line() {
        let e = errors("header_timeout = \"0s\"");
        assert!(
            e[0].starts_with("t.toml:3:") && e[0].contains("greater than zero"),
            "{e:?}"
        );
        let e = errors("header_timeout = \"10m\"");
        assert!(e[0].contains("at most 5m"), "{e:?}");
        let e = errors("keepalive_timeout = \"soon\"");
        assert!(e[0].contains("server.keepalive_timeout"), "{e:?}");
        let e = errors("max_connections = 0");
        assert!(e[0].contains("between 1 and 1000000"), "{e:?}");
        let e = errors("max_connection = 10");
        assert!(e[0].contains("unknown field"), "{e:?}");
    }
}
