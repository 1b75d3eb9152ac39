//! `[server]`: addresses, admin token, request limits, threads, TLS (the connection keys are
//! in `conn`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::{Checker, WAIT_MAX};
use crate::config::file::{ServerFile, Text, TlsFile};
use crate::config::units::{SizeText, parse_size};
use crate::config::{ServerConfig, TlsConfig, exposure, header_limit};
use crate::verify::{KeyedSecret, TokenKind, TokenVerifier};

impl Checker<'_> {
    pub(super) fn server(&mut self, s: &Spanned<ServerFile>) -> Option<ServerConfig> {
        let span = s.span();
        let s = s.get_ref();
        const LIKE: &str = "\"0.0.0.0:8080\" or \"[::]:8080\"";
        let listen = self.addr(&s.listen, "server.listen", LIKE);
        let admin_listen = match &s.admin_listen {
            Some(t) => self.addr(t, "server.admin_listen", LIKE),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9180))),
        };
        if let (Some(l), Some(a)) = (listen, admin_listen)
            && clash(l, a)
        {
            self.error(
                s.admin_listen.as_ref().map_or(span.clone(), |t| t.span()),
                "server.admin_listen must differ from server.listen (the same port on a wildcard address and another takes both)",
            );
        }
        if let Some(a) = admin_listen
            && let Some(e) = exposure::admin_without_token(a, s.admin_token.is_some())
        {
            self.error(
                s.admin_listen.as_ref().map_or(span.clone(), |t| t.span()),
                e,
            );
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get()) as i64;
        let server = ServerConfig {
            listen: listen?,
            admin_listen: admin_listen?,
            admin_token: s.admin_token.as_ref().and_then(|t| {
                let secret = self.secret(t, "server.admin_token")?;
                self.check(
                    t.span(),
                    TokenVerifier::new(TokenKind::Bearer, None, None, &[KeyedSecret::new(secret)])
                        .map_err(|e| format!("server.admin_token: {e}")),
                )
            }),
            max_body_bytes: self.size(s.max_body_bytes.as_ref(), "server.max_body_bytes", 1 << 20),
            // Set once the routes' limits are known (`body_memory`).
            max_body_memory: 0,
            max_header_bytes: self.header_bytes(
                s.max_header_bytes.as_ref(),
                "server.max_header_bytes",
                header_limit::DEFAULT,
            ),
            max_header_count: self.int(
                s.max_header_count.as_ref(),
                "server.max_header_count",
                header_limit::COUNT_RANGE,
                header_limit::DEFAULT_COUNT,
            ) as usize,
            body_timeout: self.duration_at_most(
                s.body_timeout.as_ref(),
                "server.body_timeout",
                Duration::from_secs(30),
                WAIT_MAX,
            ),
            trusted_proxies: self.proxies(&s.trusted_proxies),
            threads: self.int(s.threads.as_ref(), "server.threads", 1..257, cpus) as usize,
            delivery_threads: self.int(
                s.delivery_threads.as_ref(),
                "server.delivery_threads",
                1..65,
                (cpus / 2).max(1),
            ) as usize,
            shutdown_timeout: self.duration_at_most(
                s.shutdown_timeout.as_ref(),
                "server.shutdown_timeout",
                Duration::from_secs(10),
                WAIT_MAX,
            ),
            retry_after: self.duration_at_most(
                s.retry_after.as_ref(),
                "server.retry_after",
                Duration::from_secs(5),
                WAIT_MAX,
            ),
            stranded_dead_after: s
                .stranded_dead_after
                .as_ref()
                .map(|t| self.duration(Some(t), "server.stranded_dead_after", Duration::MAX)),
            tls: s
                .tls
                .as_ref()
                .and_then(|t| self.tls(t.get_ref(), listen, admin_listen)),
            connections: self.connections(s),
        };
        Some(server)
    }

    /// `server.max_body_memory`: set, at least `largest` (the largest route's `max_body_bytes`,
    /// else such a body could never be read) and at most 64GiB; by default 64MiB, or twice
    /// `largest` when that is more.
    pub(super) fn body_memory(&mut self, v: Option<&Spanned<SizeText>>, largest: usize) -> usize {
        const CEILING: u64 = 64 << 30;
        let default = (64 << 20).max(2 * largest);
        let Some(v) = v else { return default };
        match parse_size(&v.get_ref().0) {
            Ok(n) if n > CEILING => {
                self.error(v.span(), "server.max_body_memory must be at most 64GiB")
            }
            Ok(n) if n < largest as u64 => self.error(
                v.span(),
                format!(
                    "server.max_body_memory ({n} bytes) is less than the largest max_body_bytes \
                     ({largest} bytes): such a body could never be read"
                ),
            ),
            Ok(n) => return n as usize,
            Err(e) => self.error(v.span(), format!("server.max_body_memory: {e}")),
        }
        default
    }

    fn addr(&mut self, t: &Text, key: &str, like: &str) -> Option<SocketAddr> {
        let r = t
            .get_ref()
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| format!("{key}: {:?} is not an address like {like}", t.get_ref()));
        self.check(t.span(), r)
    }

    fn tls(
        &mut self,
        t: &TlsFile,
        listen: Option<SocketAddr>,
        admin: Option<SocketAddr>,
    ) -> Option<TlsConfig> {
        let addr = self.addr(&t.listen, "server.tls.listen", "\"0.0.0.0:8443\"")?;
        if [listen, admin]
            .into_iter()
            .flatten()
            .any(|o| clash(addr, o))
        {
            self.error(
                t.listen.span(),
                "server.tls.listen must differ from server.listen and server.admin_listen (the same port on a wildcard address and another takes both)",
            );
        }
        let mut file = |text: &Text, what: &str| -> Option<PathBuf> {
            let p = PathBuf::from(text.get_ref());
            let r = crate::tls::load_pem(&p, what == "key")
                .map(|_| p.clone())
                .map_err(|e| format!("server.tls.{what}: {e}"));
            self.check(text.span(), r)
        };
        let cert = file(&t.cert, "cert");
        let key = file(&t.key, "key");
        Some(TlsConfig {
            listen: addr,
            cert: cert?,
            key: key?,
        })
    }
}

/// Whether two listeners cannot both be bound: the same port on the same address, or on a
/// wildcard that takes the other's (`0.0.0.0` every IPv4 address; `[::]` every address, IPv4
/// too on a dual-stack host). Else each address binds alone at the start's check and the
/// second listener fails after pingora's retries.
fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    let takes =
        |w: SocketAddr, x: SocketAddr| w.ip().is_unspecified() && (w.is_ipv6() || x.is_ipv4());
    a.port() == b.port() && a.port() != 0 && (a.ip() == b.ip() || takes(a, b) || takes(b, a))
}

#[cfg(test)]
mod clash_tests {
    use super::clash;

    #[test]
    fn wildcards_take_their_family_and_ipv6_takes_both() {
        let c = |a: &str, b: &str| clash(a.parse().unwrap(), b.parse().unwrap());
        assert!(c("0.0.0.0:8080", "127.0.0.1:8080"));
        assert!(c("127.0.0.1:8080", "0.0.0.0:8080"));
        assert!(c("[::]:8080", "127.0.0.1:8080"));
        assert!(c("[::]:8080", "[::1]:8080"));
        assert!(c("0.0.0.0:8080", "[::]:8080"));
        assert!(c("10.0.0.1:8080", "10.0.0.1:8080"));
        assert!(!c("0.0.0.0:8080", "[::1]:8080"));
        assert!(!c("0.0.0.0:8080", "127.0.0.1:8081"));
        assert!(!c("10.0.0.1:8080", "127.0.0.1:8080"));
        assert!(!c("127.0.0.1:0", "0.0.0.0:0"));
    }
}
