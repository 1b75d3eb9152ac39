//! Reading and validating a config file. Every mistake is reported with the file, line and
//! column where it is written; all of them at once, not just the first.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::effective::Material;
use super::file::{
    FileConfig, RouteFile, SecretEntry, ServerFile, SignFile, StoreFile, Text, TlsFile,
    UpstreamFile, VerifyFile,
};
use super::header_limit;
use super::secret::{self, Resolved};
use super::units::{SizeText, fmt_duration, parse_duration, parse_size};
use super::{
    Backoff, Config, HeaderRule, Mode, Rate, RateSpec, RedisConfig, Resign, ResponseSpec, Route,
    RouteState, Secret, ServerConfig, StoreConfig, StoreKind, TlsConfig, Upstream,
};
use crate::event::id::IdSource;
use crate::metrics::METRICS;
use crate::routing::{Router, path};
use crate::verify::hmac::{Key, KeyFormat};
use crate::verify::{
    Algorithm, Check, Encoding, HmacSpec, HmacVerifier, KeyedSecret, SigSource, Template,
    TimestampCheck, TokenKind, TokenVerifier, TsSource, Verifier, presets,
};

mod conn;

/// One mistake in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

pub fn load(path: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates `text` as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, LoadError> {
    let mut c = Checker {
        file: path,
        text,
        errors: Vec::new(),
        warnings: Vec::new(),
        material: Material::default(),
    };
    let file: FileConfig = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            c.error(e.span().unwrap_or(0..0), e.message().to_string());
            return Err(LoadError::Invalid(c.errors));
        }
    };
    let server = c.server(&file.server);
    let upstreams = c.upstreams(&file.upstreams);
    let slowest = upstreams
        .values()
        .map(|u| u.timeout)
        .max()
        .unwrap_or_default();
    let store = c.store(file.store.as_ref(), slowest);
    let defined: Vec<&str> = file
        .upstreams
        .keys()
        .map(|k| k.get_ref().as_str())
        .collect();
    let limits = server
        .as_ref()
        .map_or((1 << 20, header_limit::DEFAULT), |s| {
            (s.max_body_bytes, s.max_header_bytes)
        });
    let routes = c.routes(&file.routes, &defined, limits);
    // Report in the order the file reads.
    c.errors.sort_by_key(|e| (e.line, e.column));
    match server {
        Some(mut server) if c.errors.is_empty() => Ok(Config {
            source: path.to_path_buf(),
            hash: hex::encode(Sha256::digest(text.as_bytes())),
            effective_hash: c.material.hash(text),
            server: {
                // The connection gate holds a header up to the largest bound a route takes
                // (the exact 431 is the route's, at intake).
                let largest = routes.iter().map(|r| r.max_header_bytes).max();
                server.connections.max_head_bytes =
                    header_limit::gate_bound(largest.unwrap_or(0).max(server.max_header_bytes));
                server
            },
            secret_files: c.material.files(),
            store,
            upstreams,
            routes: Router::new(routes),
            warnings: c.warnings,
        }),
        _ => Err(LoadError::Invalid(c.errors)),
    }
}

struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    /// Every secret resolved, for the effective hash and the secret files to watch.
    material: Material,
}

/// This replica's default consumer name: host name and process ID.
fn default_consumer() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "hookgate".to_string()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// Records the error of `r` at `span` and returns its value, if any.
    fn check<T>(&mut self, span: Range<usize>, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.error(span, e)).ok()
    }

    fn duration(&mut self, v: Option<&Text>, key: &str, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        match parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.error(v.span(), format!("{key} must be greater than zero"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.error(v.span(), format!("{key}: {e}"));
                default
            }
        }
    }

    fn size(&mut self, v: Option<&Spanned<SizeText>>, key: &str, default: usize) -> usize {
        const CEILING: u64 = 256 << 20;
        let Some(v) = v else { return default };
        match parse_size(&v.get_ref().0) {
            Ok(0) => self.error(v.span(), format!("{key} must be greater than zero")),
            Ok(n) if n > CEILING => self.error(
                v.span(),
                format!("{key} must be at most 256MiB (a body is held in memory)"),
            ),
            Ok(n) => return n as usize,
            Err(e) => self.error(v.span(), format!("{key}: {e}")),
        }
        default
    }

    fn header_bytes(&mut self, v: Option<&Spanned<SizeText>>, key: &str, default: usize) -> usize {
        v.and_then(|v| self.check(v.span(), header_limit::parse(key, &v.get_ref().0)))
            .unwrap_or(default)
    }

    fn int(&mut self, v: Option<&Spanned<i64>>, key: &str, range: Range<i64>, default: i64) -> i64 {
        let Some(v) = v else { return default };
        if !range.contains(v.get_ref()) {
            self.error(
                v.span(),
                format!(
                    "{key} must be between {} and {}, got {}",
                    range.start,
                    range.end - 1,
                    v.get_ref()
                ),
            );
            return default;
        }
        *v.get_ref()
    }

    fn nets(&mut self, list: &[Text], key: &str) -> Vec<IpNet> {
        list.iter()
            .filter_map(|t| {
                let s = t.get_ref().trim();
                let parsed = s.parse::<IpNet>().or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from));
                self.check(t.span(), parsed.map_err(|_| format!("{key}: {s:?} is not an IP network (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")")))
            })
            .collect()
    }

    fn header_name(&mut self, t: &Text, key: &str) -> Option<HeaderName> {
        let r = HeaderName::from_bytes(t.get_ref().trim().as_bytes())
            .map_err(|_| format!("{key}: {:?} is not a valid header name", t.get_ref()));
        self.check(t.span(), r)
    }

    fn secret(&mut self, t: &Text, what: &str) -> Option<Secret> {
        let resolved = secret::resolve(t.get_ref());
        if let Ok(Resolved::Secret(s) | Resolved::Literal(s)) = &resolved {
            self.material.add(t.get_ref(), s);
        }
        match resolved {
            Ok(Resolved::Secret(s)) => Some(s),
            Ok(Resolved::Literal(s)) => {
                let (line, _) = self.position(t.span());
                self.warnings.push(format!(
                    "{}:{line}: {what} is written literally in the file; prefer \"env:NAME\" or \"file:PATH\"",
                    self.file.display()
                ));
                Some(s)
            }
            // Only the reference is echoed back, never a value.
            Err(e) => {
                self.error(t.span(), format!("{what}: {e}"));
                None
            }
        }
    }

    fn position(&self, span: Range<usize>) -> (usize, usize) {
        let before = &self.text[..span.start.min(self.text.len())];
        (
            before.matches('\n').count() + 1,
            before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
        )
    }

    fn server(&mut self, s: &Spanned<ServerFile>) -> Option<ServerConfig> {
        let span = s.span();
        let s = s.get_ref();
        let addr = |c: &mut Self, t: &Text, key: &str| {
            c.check(
                t.span(),
                t.get_ref().trim().parse::<SocketAddr>().map_err(|_| {
                    format!(
                        "{key}: {:?} is not an address like \"0.0.0.0:8080\" or \"[::]:8080\"",
                        t.get_ref()
                    )
                }),
            )
        };
        let listen = addr(self, &s.listen, "server.listen");
        let admin_listen = match &s.admin_listen {
            Some(t) => addr(self, t, "server.admin_listen"),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9180))),
        };
        if let (Some(l), Some(a)) = (listen, admin_listen)
            && l == a
        {
            self.error(
                s.admin_listen.as_ref().map_or(span.clone(), |t| t.span()),
                "server.admin_listen must differ from server.listen",
            );
        }
        if let Some(a) = admin_listen
            && let Some(e) = super::exposure::admin_without_token(a, s.admin_token.is_some())
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
            body_timeout: self.duration(
                s.body_timeout.as_ref(),
                "server.body_timeout",
                Duration::from_secs(30),
            ),
            trusted_proxies: self.nets(&s.trusted_proxies, "server.trusted_proxies"),
            threads: self.int(s.threads.as_ref(), "server.threads", 1..257, cpus) as usize,
            delivery_threads: self.int(
                s.delivery_threads.as_ref(),
                "server.delivery_threads",
                1..65,
                (cpus / 2).max(1),
            ) as usize,
            shutdown_timeout: self.duration(
                s.shutdown_timeout.as_ref(),
                "server.shutdown_timeout",
                Duration::from_secs(10),
            ),
            retry_after: self.duration(
                s.retry_after.as_ref(),
                "server.retry_after",
                Duration::from_secs(5),
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

    fn tls(
        &mut self,
        t: &TlsFile,
        listen: Option<SocketAddr>,
        admin: Option<SocketAddr>,
    ) -> Option<TlsConfig> {
        let addr = self.check(
            t.listen.span(),
            t.listen
                .get_ref()
                .trim()
                .parse::<SocketAddr>()
                .map_err(|_| {
                    format!(
                        "server.tls.listen: {:?} is not an address like \"0.0.0.0:8443\"",
                        t.listen.get_ref()
                    )
                }),
        )?;
        if Some(addr) == listen || Some(addr) == admin {
            self.error(
                t.listen.span(),
                "server.tls.listen must differ from server.listen and server.admin_listen",
            );
        }
        let mut file = |text: &Text, what: &str| -> Option<PathBuf> {
            let p = PathBuf::from(text.get_ref());
            let r = crate::proxy::tls::load_pem(&p, what == "key")
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

    fn store(&mut self, s: Option<&Spanned<StoreFile>>, slowest_upstream: Duration) -> StoreConfig {
        let default_path = PathBuf::from("./data");
        let Some(sp) = s else {
            return StoreConfig {
                kind: StoreKind::Embedded { path: default_path },
                max_pending: 1_000_000,
            };
        };
        let (span, s) = (sp.span(), sp.get_ref());
        let max_pending = self.int(
            s.max_pending.as_ref(),
            "store.max_pending",
            1..i64::MAX,
            1_000_000,
        ) as u64;
        let redis_only: [(&str, Option<Range<usize>>); 7] = [
            ("url", s.url.as_ref().map(Spanned::span)),
            ("password", s.password.as_ref().map(Spanned::span)),
            ("consumer", s.consumer.as_ref().map(Spanned::span)),
            ("shards", s.shards.as_ref().map(Spanned::span)),
            ("claim_after", s.claim_after.as_ref().map(Spanned::span)),
            ("timeout", s.timeout.as_ref().map(Spanned::span)),
            ("prefix", s.prefix.as_ref().map(Spanned::span)),
        ];
        let kind = match s.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
            None | Some(("embedded", _)) => {
                for (key, at) in redis_only {
                    if let Some(at) = at {
                        self.error(at, format!("store.{key} applies to kind = \"redis\""));
                    }
                }
                let path = s
                    .path
                    .as_ref()
                    .map_or(default_path, |p| PathBuf::from(p.get_ref()));
                StoreKind::Embedded { path }
            }
            Some(("redis", _)) => {
                if let Some(p) = &s.path {
                    self.error(p.span(), "store.path applies to kind = \"embedded\"");
                }
                match self.redis(span, s, slowest_upstream) {
                    Some(r) => StoreKind::Redis(r),
                    None => StoreKind::Embedded { path: default_path },
                }
            }
            Some((other, span)) => {
                self.error(
                    span,
                    format!(
                        "store.kind {other:?} is not supported (expected \"embedded\" or \"redis\")"
                    ),
                );
                StoreKind::Embedded { path: default_path }
            }
        };
        StoreConfig { kind, max_pending }
    }

    fn redis(
        &mut self,
        span: Range<usize>,
        s: &StoreFile,
        slowest_upstream: Duration,
    ) -> Option<RedisConfig> {
        let Some(url_text) = &s.url else {
            self.error(
                span,
                "store.url is required for kind = \"redis\" (e.g. \"redis://127.0.0.1:6379/0\")",
            );
            return None;
        };
        let url = if url_text.get_ref().starts_with("env:")
            || url_text.get_ref().starts_with("file:")
        {
            self.secret(url_text, "store.url")
        } else {
            // A URL written in the file is fine unless it carries a password.
            let literal = Secret::literal(url_text.get_ref().clone());
            if url_text.get_ref().contains('@') {
                let (line, _) = self.position(url_text.span());
                self.warnings.push(format!(
                    "{}:{line}: store.url carries credentials written literally in the file; prefer \"env:NAME\" or store.password",
                    self.file.display()
                ));
            }
            Some(literal)
        };
        if let Some(u) = &url
            && let Err(e) = redis::IntoConnectionInfo::into_connection_info(u.expose_str().as_ref())
        {
            // The parser's message never repeats the URL (and so no password).
            self.error(
                url_text.span(),
                format!(
                    "store.url: not a Redis URL: {}",
                    e.detail().unwrap_or("expected redis:// or rediss://")
                ),
            );
        }
        let password = s
            .password
            .as_ref()
            .and_then(|p| self.secret(p, "store.password"));
        let consumer = match &s.consumer {
            Some(c) => match c.get_ref().strip_prefix("env:") {
                Some(name) => {
                    let r = std::env::var(name).map_err(|_| {
                        format!("store.consumer: environment variable {name} is not set")
                    });
                    self.check(c.span(), r)
                }
                None => Some(c.get_ref().clone()),
            },
            None => Some(default_consumer()),
        };
        let claim_after = self.duration(
            s.claim_after.as_ref(),
            "store.claim_after",
            Duration::from_secs(60),
        );
        if claim_after <= slowest_upstream {
            self.error(
                s.claim_after.as_ref().map_or(span.clone(), Spanned::span),
                format!(
                    "store.claim_after ({}) must exceed the longest upstream timeout ({}): a delivery still in flight would be taken over",
                    fmt_duration(claim_after),
                    fmt_duration(slowest_upstream)
                ),
            );
        }
        let prefix = s
            .prefix
            .as_ref()
            .map_or_else(|| "hookgate".to_string(), |p| p.get_ref().clone());
        if prefix.is_empty() || prefix.contains(['{', '}', ' ']) {
            self.error(
                s.prefix.as_ref().map_or(span.clone(), Spanned::span),
                "store.prefix must be non-empty, without '{', '}' or spaces",
            );
        }
        Some(RedisConfig {
            url: url?,
            password,
            consumer: consumer?,
            shards: self.int(s.shards.as_ref(), "store.shards", 1..1025, 1) as u16,
            claim_after,
            timeout: self.duration(s.timeout.as_ref(), "store.timeout", Duration::from_secs(2)),
            prefix,
        })
    }

    fn upstreams(
        &mut self,
        map: &BTreeMap<Spanned<String>, Spanned<UpstreamFile>>,
    ) -> BTreeMap<String, Arc<Upstream>> {
        let mut out = BTreeMap::new();
        for (name, u) in map {
            if !valid_name(name.get_ref()) {
                self.error(
                    name.span(),
                    format!(
                        "upstream name {:?} must be 1-64 characters of letters, digits, '_' or '-'",
                        name.get_ref()
                    ),
                );
            }
            if let Some(up) = self.upstream(name.get_ref(), u.get_ref()) {
                out.insert(name.get_ref().clone(), Arc::new(up));
            }
        }
        out
    }

    fn upstream(&mut self, name: &str, u: &UpstreamFile) -> Option<Upstream> {
        let key = |k: &str| format!("upstreams.{name}.{k}");
        let url = match reqwest::Url::parse(u.url.get_ref().trim()) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                self.error(
                    u.url.span(),
                    format!("{}: scheme must be http or https", key("url")),
                );
                None
            }
            Ok(url) if url.host().is_none() => {
                self.error(u.url.span(), format!("{}: URL has no host", key("url")));
                None
            }
            Ok(url) if url.fragment().is_some() || url.query().is_some() => {
                self.error(u.url.span(), format!("{}: URL must not have a query or fragment (the request's own query is appended)", key("url")));
                None
            }
            Ok(url) => Some(url),
            Err(e) => {
                self.error(u.url.span(), format!("{}: {e}", key("url")));
                None
            }
        };
        let (initial, max) = match &u.backoff {
            Some(b) => {
                let bspan = b.span();
                let b = b.get_ref();
                let initial = self.duration(
                    b.initial.as_ref(),
                    &key("backoff.initial"),
                    Duration::from_secs(1),
                );
                let max = self.duration(
                    b.max.as_ref(),
                    &key("backoff.max"),
                    Duration::from_secs(600),
                );
                if initial > max {
                    self.error(
                        bspan,
                        format!("{}: initial must not exceed max", key("backoff")),
                    );
                }
                (initial, max)
            }
            None => (Duration::from_secs(1), Duration::from_secs(600)),
        };
        let timeout = self.duration(u.timeout.as_ref(), &key("timeout"), Duration::from_secs(10));
        let max_attempts =
            self.int(u.max_attempts.as_ref(), &key("max_attempts"), 1..1001, 8) as u32;
        let max_age = u
            .max_age
            .as_ref()
            .map(|t| self.duration(Some(t), &key("max_age"), Duration::from_secs(72 * 3600)));
        let concurrency =
            self.int(u.concurrency.as_ref(), &key("concurrency"), 1..10_001, 32) as usize;
        let headers = self.upstream_headers(name, u.headers.as_ref());
        let resign = u.sign.as_ref().and_then(|s| self.resign(name, s));
        Some(Upstream {
            name: name.to_string(),
            url: url?,
            timeout,
            max_attempts,
            max_age,
            backoff: Backoff { initial, max },
            concurrency,
            headers,
            resign,
        })
    }

    /// Header values may embed secrets: `"Bearer {env:LIDO_TOKEN}"`.
    fn upstream_headers(
        &mut self,
        name: &str,
        map: Option<&BTreeMap<Spanned<String>, Text>>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        for (k, v) in map.into_iter().flatten() {
            let what = format!("upstreams.{name}.headers.{}", k.get_ref());
            let Some(hn) = self.header_name(
                &Spanned::new(k.span(), k.get_ref().clone()),
                &format!("upstreams.{name}.headers"),
            ) else {
                continue;
            };
            let Some(value) = self.expand_secrets(v, &what) else {
                continue;
            };
            match HeaderValue::from_str(&value) {
                Ok(mut hv) => {
                    // Marked so no debug output of a request shows it.
                    hv.set_sensitive(true);
                    out.push((hn, hv));
                }
                Err(_) => self.error(v.span(), format!("{what}: not a valid header value")),
            }
        }
        out
    }

    /// Replaces `{env:NAME}` and `{file:PATH}` in `text` with the secrets they name.
    fn expand_secrets(&mut self, text: &Text, what: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = text.get_ref().as_str();
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let reference = &rest[start + 1..start + len];
            if !(reference.starts_with("env:") || reference.starts_with("file:")) {
                out.push_str(&rest[..start + len + 1]);
                rest = &rest[start + len + 1..];
                continue;
            }
            out.push_str(&rest[..start]);
            let secret = self.secret(&Spanned::new(text.span(), reference.to_string()), what)?;
            out.push_str(&secret.expose_str());
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    fn resign(&mut self, name: &str, s: &Spanned<SignFile>) -> Option<Resign> {
        let f = s.get_ref();
        if f.scheme.get_ref() != "standard-webhooks" {
            self.error(f.scheme.span(), format!("upstreams.{name}.sign.scheme: {:?} is not supported (expected \"standard-webhooks\")", f.scheme.get_ref()));
            return None;
        }
        let secret = self.secret(&f.secret, &format!("upstreams.{name}.sign.secret"))?;
        let key = KeyFormat::WhsecBase64
            .key(secret.expose())
            .and_then(|k| Key::new(Algorithm::Sha256, &k).ok_or("unusable key"))
            .map_err(|e| format!("upstreams.{name}.sign.secret: {e}"));
        self.check(f.secret.span(), key)
            .map(|key| Resign::StandardWebhooks { key })
    }

    fn routes(
        &mut self,
        map: &BTreeMap<Spanned<String>, Spanned<RouteFile>>,
        upstreams: &[&str],
        limits: (usize, usize),
    ) -> Vec<Arc<Route>> {
        let mut out: Vec<Arc<Route>> = Vec::new();
        let mut paths: BTreeMap<String, String> = BTreeMap::new();
        // In file order, so a clash is reported at the route written second.
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_by_key(|(_, r)| r.span().start);
        for (name, r) in entries {
            let name_s = name.get_ref().as_str();
            if !valid_name(name_s) {
                self.error(name.span(), format!("route name {name_s:?} must be 1-64 characters of letters, digits, '_' or '-'"));
            }
            let rf = r.get_ref();
            if let Some(path) = self.route_path(name_s, &rf.path)
                && let Some(other) = paths.insert(path.clone(), name_s.to_string())
            {
                self.error(
                    rf.path.span(),
                    format!("routes.{name_s}.path: {path:?} is already used by route {other:?}"),
                );
            }
            if !upstreams.contains(&rf.upstream.get_ref().as_str()) {
                self.error(
                    rf.upstream.span(),
                    format!(
                        "routes.{name_s}.upstream: no upstream named {:?} (define [upstreams.{}])",
                        rf.upstream.get_ref(),
                        rf.upstream.get_ref()
                    ),
                );
            }
            if let Some(route) = self.route(name_s, r.span(), rf, limits) {
                out.push(Arc::new(route));
            }
        }
        out
    }

    fn route_path(&mut self, name: &str, t: &Text) -> Option<String> {
        let p = t.get_ref();
        let problem = if !p.starts_with('/') {
            Some("must start with '/'")
        } else if p.contains(['?', '#']) {
            Some("must not contain '?' or '#'")
        } else if p.contains("//") {
            Some("must not contain '//'")
        } else if p.len() > 1 && p.ends_with('/') {
            Some("must not end with '/' (a route also matches everything below its path)")
        } else {
            None
        };
        // The rule for request paths holds for route paths too (they are request paths).
        let problem = match (problem, path::check(p)) {
            (Some(why), _) => Some(why.to_string()),
            (None, Err(e)) => Some(format!("is refused: {e}")),
            (None, Ok(())) => None,
        };
        match problem {
            Some(why) => {
                self.error(t.span(), format!("routes.{name}.path {p:?} {why}"));
                None
            }
            None => Some(p.clone()),
        }
    }

    fn route(
        &mut self,
        name: &str,
        span: Range<usize>,
        r: &RouteFile,
        (body_limit, header_limit): (usize, usize),
    ) -> Option<Route> {
        let key = |k: &str| format!("routes.{name}.{k}");
        let sync_timeout = self.duration(
            r.sync_timeout.as_ref(),
            &key("sync_timeout"),
            Duration::from_secs(30),
        );
        let timeout_status = self.int(
            r.sync_timeout_status.as_ref(),
            &key("sync_timeout_status"),
            408..505,
            408,
        ) as u16;
        if !matches!(timeout_status, 408 | 504) {
            self.error(
                r.sync_timeout_status
                    .as_ref()
                    .map_or(span.clone(), Spanned::span),
                format!("{} must be 408 or 504", key("sync_timeout_status")),
            );
        }
        let mode = match r.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("async", _)) => {
                for (k, at) in [
                    ("sync_timeout", r.sync_timeout.as_ref().map(Spanned::span)),
                    (
                        "sync_timeout_status",
                        r.sync_timeout_status.as_ref().map(Spanned::span),
                    ),
                ] {
                    if let Some(at) = at {
                        self.error(at, format!("{} applies to mode = \"sync\"", key(k)));
                    }
                }
                Mode::Async
            }
            Some(("sync", _)) => Mode::Sync {
                timeout: sync_timeout,
                timeout_status,
            },
            Some((other, span)) => {
                self.error(
                    span,
                    format!(
                        "{}: {other:?} is not one of \"async\", \"sync\"",
                        key("mode")
                    ),
                );
                Mode::Async
            }
        };
        let configured_id = match &r.event_id {
            Some(t) => self.check(
                t.span(),
                IdSource::parse_all(&t.get_ref().0)
                    .map_err(|e| format!("{}: {e}", key("event_id"))),
            ),
            None => None,
        };
        let order_key = match &r.order_key {
            Some(t) => self.check(
                t.span(),
                IdSource::parse(t.get_ref())
                    .and_then(|k| {
                        if k == IdSource::BodyHash {
                            Err("order_key must be \"json:/pointer\" or \"header:Name\"".into())
                        } else {
                            Ok(k)
                        }
                    })
                    .map_err(|e| format!("{}: {e}", key("order_key"))),
            ),
            None => None,
        };
        let rate_limit = r
            .rate_limit
            .as_ref()
            .map_or(RateSpec::default(), |rl| RateSpec {
                per_ip: rl
                    .get_ref()
                    .per_ip
                    .as_ref()
                    .and_then(|t| self.rate(t, &key("rate_limit.per_ip"))),
                per_route: rl
                    .get_ref()
                    .per_route
                    .as_ref()
                    .and_then(|t| self.rate(t, &key("rate_limit.per_route"))),
            });
        let normalize = match &r.normalize {
            None => false,
            Some(n) if n.get_ref() == "json" => true,
            Some(n) => {
                self.error(
                    n.span(),
                    format!(
                        "{}: {:?} is not supported (expected \"json\")",
                        key("normalize"),
                        n.get_ref()
                    ),
                );
                false
            }
        };
        let state = match &r.state {
            None => RouteState::Active,
            Some(t) => self
                .check(
                    t.span(),
                    RouteState::parse(t.get_ref()).ok_or_else(|| {
                        format!(
                            "{}: {:?} is not one of \"active\", \"paused\", \"disabled\"",
                            key("state"),
                            t.get_ref()
                        )
                    }),
                )
                .unwrap_or(RouteState::Active),
        };
        let require_headers = self.header_rules(name, r.require_headers.as_ref());
        let content_types = self.content_types(name, r.content_types.as_deref());
        if let Mode::Sync { .. } = mode {
            // A sync route answers with the upstream's answer, right away: nothing to order or
            // to answer in its place.
            for (k, at) in [
                ("order_key", r.order_key.as_ref().map(Spanned::span)),
                ("response", r.response.as_ref().map(Spanned::span)),
            ] {
                if let Some(at) = at {
                    self.error(at, format!("{} applies to mode = \"async\" only", key(k)));
                }
            }
        }
        let verified = match &r.verify {
            Some(v) => self.verifier(name, v, configured_id.as_ref()),
            None => {
                self.error(span, format!("routes.{name} has no verify table: add verify = {{ scheme = \"none\" }} to accept unauthenticated requests explicitly"));
                None
            }
        };
        // The route's own event_id wins over the provider's default.
        let (verifier, preset_id) = match verified {
            Some((v, id)) => (Some(v), id),
            None => (None, None),
        };
        if let Some(v) = &verifier {
            let (line, _) = self.position(r.path.span());
            for w in super::trust::warnings(
                name,
                &v.check,
                normalize,
                configured_id.as_ref(),
                order_key.as_ref(),
            ) {
                self.warnings
                    .push(format!("{}:{line}: {w}", self.file.display()));
            }
        }
        let event_id = configured_id.or(preset_id).unwrap_or(IdSource::BodyHash);
        let allow_ips = r
            .allow_ips
            .as_ref()
            .map(|l| self.nets(l, &key("allow_ips")));
        let response = self.response(name, r);
        Some(Route {
            name: name.to_string(),
            path: r.path.get_ref().clone(),
            upstream: r.upstream.get_ref().clone(),
            mode,
            event_id,
            dedup_ttl: self.duration(
                r.dedup_ttl.as_ref(),
                &key("dedup_ttl"),
                Duration::from_secs(72 * 3600),
            ),
            allow_ips,
            max_body_bytes: self.size(
                r.max_body_bytes.as_ref(),
                &key("max_body_bytes"),
                body_limit,
            ),
            max_header_bytes: self.header_bytes(
                r.max_header_bytes.as_ref(),
                &key("max_header_bytes"),
                header_limit,
            ),
            response: response?,
            rate_limit,
            normalize,
            state,
            require_headers,
            content_types,
            order_key,
            metrics: METRICS.route(name),
            verifier: verifier?,
        })
    }

    /// `"300/5m"`: 300 requests per 5 minutes.
    fn rate(&mut self, t: &Text, what: &str) -> Option<Rate> {
        let parsed = t.get_ref().split_once('/').and_then(|(n, per)| {
            let count: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
            let per = per.trim();
            // "300/s" reads as one second.
            let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
                parse_duration(per).ok()?
            } else {
                parse_duration(&format!("1{per}")).ok()?
            };
            (!per.is_zero()).then_some(Rate { count, per })
        });
        self.check(
            t.span(),
            parsed.ok_or_else(|| {
                format!(
                    "{what}: {:?} is not a rate like \"300/5m\" or \"5000/1s\"",
                    t.get_ref()
                )
            }),
        )
    }

    /// `"application/json"`, `"text/*"`: media types without parameters, lowercase.
    fn content_types(&mut self, name: &str, list: Option<&[Text]>) -> Vec<String> {
        let mut out = Vec::new();
        for t in list.into_iter().flatten() {
            let v = t.get_ref().trim().to_ascii_lowercase();
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            match v.split_once('/') {
                Some((ty, sub)) if token(ty) && (token(sub) || sub == "*") => out.push(v),
                _ => self.error(t.span(), format!("routes.{name}.content_types: {:?} is not a media type like \"application/json\" or \"text/*\"", t.get_ref())),
            }
        }
        out
    }

    fn header_rules(
        &mut self,
        name: &str,
        map: Option<&BTreeMap<Spanned<String>, Text>>,
    ) -> Vec<(HeaderName, HeaderRule)> {
        let mut out = Vec::new();
        for (k, v) in map.into_iter().flatten() {
            let what = format!("routes.{name}.require_headers");
            let Some(hn) = self.header_name(&Spanned::new(k.span(), k.get_ref().clone()), &what)
            else {
                continue;
            };
            let rule = match v.get_ref().strip_prefix('~') {
                Some(pattern) => match regex::Regex::new(pattern) {
                    Ok(re) => HeaderRule::Pattern(re),
                    Err(e) => {
                        self.error(
                            v.span(),
                            format!("{what}.{}: not a valid regex: {e}", k.get_ref()),
                        );
                        continue;
                    }
                },
                None => HeaderRule::Exact(v.get_ref().clone()),
            };
            out.push((hn, rule));
        }
        out
    }

    fn response(&mut self, name: &str, r: &RouteFile) -> Option<ResponseSpec> {
        let Some(resp) = &r.response else {
            return Some(ResponseSpec {
                status: 200,
                body: None,
                headers: Vec::new(),
            });
        };
        let resp = resp.get_ref();
        let status = self.int(
            resp.status.as_ref(),
            &format!("routes.{name}.response.status"),
            200..300,
            200,
        ) as u16;
        let mut headers = Vec::new();
        for (h, v) in &resp.headers {
            let hn = self.header_name(
                &Spanned::new(h.span(), h.get_ref().clone()),
                &format!("routes.{name}.response.headers"),
            );
            if let Some(hn) = hn {
                headers.push((hn, v.get_ref().clone()));
            }
        }
        Some(ResponseSpec {
            status,
            body: resp.body.as_ref().map(|b| b.get_ref().clone()),
            headers,
        })
    }

    fn verifier(
        &mut self,
        route: &str,
        v: &Spanned<VerifyFile>,
        event_id: Option<&IdSource>,
    ) -> Option<(Verifier, Option<IdSource>)> {
        let span = v.span();
        let v = v.get_ref();
        let key = |k: &str| format!("routes.{route}.verify.{k}");
        let enforce = v.enforce.as_ref().is_none_or(|e| *e.get_ref());
        let given: [(&str, Option<Range<usize>>); 15] = [
            ("header", v.header.as_ref().map(Spanned::span)),
            ("prefix", v.prefix.as_ref().map(Spanned::span)),
            ("encoding", v.encoding.as_ref().map(Spanned::span)),
            ("algorithm", v.algorithm.as_ref().map(Spanned::span)),
            ("payload", v.payload.as_ref().map(Spanned::span)),
            (
                "timestamp_header",
                v.timestamp_header.as_ref().map(Spanned::span),
            ),
            ("tolerance", v.tolerance.as_ref().map(Spanned::span)),
            ("id_header", v.id_header.as_ref().map(Spanned::span)),
            ("secrets", v.secrets.as_ref().map(Spanned::span)),
            (
                "signing_secrets",
                v.signing_secrets.as_ref().map(Spanned::span),
            ),
            ("public_url", v.public_url.as_ref().map(Spanned::span)),
            ("verify_token", v.verify_token.as_ref().map(Spanned::span)),
            ("public_key", v.public_key.as_ref().map(Spanned::span)),
            ("scheme", v.scheme.as_ref().map(Spanned::span)),
            ("provider", None),
        ];
        // Which optional keys apply; anything else set is a mistake worth reporting.
        let (label, allowed): (String, Vec<&str>) = match (&v.provider, &v.scheme) {
            (Some(p), None) => {
                let id = p.get_ref().as_str();
                if !presets::PROVIDERS.contains(&id) {
                    self.error(
                        p.span(),
                        format!(
                            "{}: unknown provider {id:?} (known: {})",
                            key("provider"),
                            presets::PROVIDERS.join(", ")
                        ),
                    );
                    return None;
                }
                let mut keys = presets::settings_of(id).to_vec();
                if presets::uses_secrets(id) {
                    keys.push("secrets");
                }
                (id.to_string(), keys)
            }
            (Some(p), Some(_)) => {
                self.error(
                    p.span(),
                    format!(
                        "{} and {} exclude each other",
                        key("provider"),
                        key("scheme")
                    ),
                );
                return None;
            }
            (None, Some(scheme)) => {
                let keys: &[&str] = match scheme.get_ref().as_str() {
                    "hmac" => &[
                        "header",
                        "prefix",
                        "encoding",
                        "algorithm",
                        "payload",
                        "timestamp_header",
                        "tolerance",
                        "id_header",
                        "secrets",
                        "public_url",
                    ],
                    "bearer" => &["header", "prefix", "secrets"],
                    "basic" => &["secrets"],
                    "none" => &[],
                    other => {
                        self.error(scheme.span(), format!("{}: unknown scheme {other:?} (expected \"hmac\", \"bearer\", \"basic\" or \"none\")", key("scheme")));
                        return None;
                    }
                };
                (scheme.get_ref().clone(), keys.to_vec())
            }
            (None, None) => {
                self.error(span, format!("routes.{route}.verify needs scheme (\"hmac\", \"bearer\", \"basic\", \"none\") or provider (e.g. \"stripe\")"));
                return None;
            }
        };
        for (k, at) in given {
            if let Some(at) = at
                && k != "scheme"
                && !allowed.contains(&k)
            {
                self.error(
                    at,
                    format!(
                        "{} does not apply to {}",
                        key(k),
                        if v.provider.is_some() {
                            format!("provider {label:?}")
                        } else {
                            format!("scheme {label:?}")
                        }
                    ),
                );
            }
        }
        let tolerance = v
            .tolerance
            .as_ref()
            .map(|t| self.duration(Some(t), &key("tolerance"), Duration::from_secs(300)));
        let public_url = v
            .public_url
            .as_ref()
            .and_then(|u| self.public_url(u, &key("public_url")));
        let built = if v.provider.is_some() {
            let settings = presets::Settings {
                secrets: if presets::uses_secrets(&label) {
                    self.keyed_secrets(&v.secrets, &key("secrets"), span.clone(), true)?
                } else {
                    Vec::new()
                },
                signing_secrets: self.keyed_secrets(
                    &v.signing_secrets,
                    &key("signing_secrets"),
                    span.clone(),
                    false,
                )?,
                public_url,
                verify_token: v
                    .verify_token
                    .as_ref()
                    .and_then(|t| self.secret(t, &key("verify_token"))),
                public_key: {
                    let one = v
                        .public_key
                        .as_ref()
                        .map(|p| Spanned::new(p.span(), vec![p.clone()]));
                    self.keyed_secrets(&one, &key("public_key"), span.clone(), false)?
                },
                tolerance,
            };
            presets::build(&label, settings).map(|p| (p.check, p.handshake, Some(p.event_id)))
        } else {
            self.scheme_check(
                route,
                &label,
                v,
                span.clone(),
                event_id,
                tolerance,
                public_url,
            )?
            .map(|c| (c, None, None))
        };
        let (check, handshake, preset_id) = self.check(
            span,
            built.map_err(|e| format!("routes.{route}.verify: {e}")),
        )?;
        Some((
            Verifier {
                check,
                enforce,
                handshake,
                label,
            },
            preset_id,
        ))
    }

    /// The generic schemes: `hmac`, `bearer`, `basic`, `none`.
    #[allow(clippy::too_many_arguments)]
    fn scheme_check(
        &mut self,
        route: &str,
        scheme: &str,
        v: &VerifyFile,
        span: Range<usize>,
        event_id: Option<&IdSource>,
        tolerance: Option<Duration>,
        public_url: Option<String>,
    ) -> Option<Result<Check, String>> {
        let key = |k: &str| format!("routes.{route}.verify.{k}");
        if scheme == "none" {
            return Some(Ok(Check::None));
        }
        let secrets = self.keyed_secrets(&v.secrets, &key("secrets"), span.clone(), true)?;
        let header = v
            .header
            .as_ref()
            .and_then(|h| self.header_name(h, &key("header")));
        if scheme != "hmac" {
            let kind = if scheme == "basic" {
                TokenKind::Basic
            } else {
                TokenKind::Bearer
            };
            return Some(
                TokenVerifier::new(
                    kind,
                    header,
                    v.prefix.as_ref().map(|p| p.get_ref().clone()),
                    &secrets,
                )
                .map(Check::Token),
            );
        }
        let Some(header) = header else {
            if v.header.is_none() {
                self.error(
                    span,
                    format!("{} is required for scheme \"hmac\"", key("header")),
                );
            }
            return None;
        };
        let algorithm = match &v.algorithm {
            Some(a) => self.check(
                a.span(),
                Algorithm::parse(a.get_ref()).ok_or_else(|| {
                    format!(
                        "{}: {:?} is not one of sha1, sha256, sha512",
                        key("algorithm"),
                        a.get_ref()
                    )
                }),
            )?,
            None => Algorithm::Sha256,
        };
        let encoding = match &v.encoding {
            Some(e) => self.check(
                e.span(),
                Encoding::parse(e.get_ref()).ok_or_else(|| {
                    format!(
                        "{}: {:?} is not one of hex, base64",
                        key("encoding"),
                        e.get_ref()
                    )
                }),
            )?,
            None => Encoding::Hex,
        };
        let payload = match &v.payload {
            Some(p) => self.check(
                p.span(),
                Template::parse(p.get_ref()).map_err(|e| format!("{}: {e}", key("payload"))),
            )?,
            None => Template::body_only(),
        };
        if v.tolerance.is_some() && v.timestamp_header.is_none() {
            self.error(
                v.tolerance.as_ref().map_or(span.clone(), Spanned::span),
                format!("{} needs timestamp_header", key("tolerance")),
            );
        }
        let timestamp = match &v.timestamp_header {
            Some(t) => Some(TimestampCheck {
                source: TsSource::Header(vec![self.header_name(t, &key("timestamp_header"))?]),
                tolerance: tolerance.unwrap_or(Duration::from_secs(300)),
            }),
            None => None,
        };
        let id_headers = match &v.id_header {
            Some(h) => vec![self.header_name(h, &key("id_header"))?],
            None => event_id
                .and_then(IdSource::header)
                .cloned()
                .into_iter()
                .collect(),
        };
        Some(
            HmacVerifier::new(HmacSpec {
                payload,
                timestamp,
                id_headers,
                public_url,
                ..HmacSpec::simple(
                    algorithm,
                    secrets,
                    SigSource::Header {
                        name: header,
                        prefix: v.prefix.as_ref().map(|p| p.get_ref().clone()),
                    },
                    encoding,
                )
            })
            .map(Check::Hmac),
        )
    }

    fn public_url(&mut self, t: &Text, what: &str) -> Option<String> {
        let u = t.get_ref().trim();
        let ok = reqwest::Url::parse(u).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.query().is_none()
                && url.fragment().is_none()
        });
        if !ok {
            self.error(t.span(), format!("{what}: {u:?} must be an http(s) URL without query or fragment (the request's sub-path and query are appended)"));
            return None;
        }
        Some(u.trim_end_matches('/').to_string())
    }

    /// Resolves a list of secret references, each with its optional retirement date.
    fn keyed_secrets(
        &mut self,
        list: &Option<Spanned<Vec<Spanned<SecretEntry>>>>,
        what: &str,
        span: Range<usize>,
        required: bool,
    ) -> Option<Vec<KeyedSecret>> {
        match list {
            Some(l) if !l.get_ref().is_empty() => {
                let resolved: Vec<Option<KeyedSecret>> = l
                    .get_ref()
                    .iter()
                    .enumerate()
                    .map(|(i, entry)| {
                        let e = entry.get_ref();
                        let secret = self.secret(&Spanned::new(entry.span(), e.secret.clone()), &format!("{what}[{i}]"))?;
                        let not_after = match &e.not_after {
                            Some(t) => Some(self.check(
                                entry.span(),
                                humantime::parse_rfc3339_weak(t).map_err(|_| format!("{what}[{i}].not_after: {t:?} is not a date like \"2026-12-31T00:00:00Z\"")),
                            )?),
                            None => None,
                        };
                        Some(KeyedSecret { secret, not_after })
                    })
                    .collect();
                resolved.into_iter().collect()
            }
            Some(l) if required => {
                self.error(l.span(), format!("{what} must list at least one secret"));
                None
            }
            None if required => {
                self.error(
                    span,
                    format!("{what} is required (e.g. [\"env:MY_SECRET\"])"),
                );
                None
            }
            _ => Some(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[server]
listen = "127.0.0.1:8080"

[upstreams.orders]
url = "http://127.0.0.1:3000/webhooks"

[routes.limai]
path = "/hooks/limai"
upstream = "orders"
verify = { scheme = "hmac", header = "X-Webhook-Signature", prefix = "sha256=", secrets = ["lit"] }
event_id = "json:/eventId"
"#;

    fn errors(text: &str) -> Vec<String> {
        match parse(Path::new("t.toml"), text) {
            Ok(_) => vec![],
            Err(LoadError::Invalid(e)) => e.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn base_is_valid_and_warns_about_literal() {
        let c = parse(Path::new("t.toml"), BASE).unwrap();
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.server.max_body_bytes, 1 << 20);
        assert!(
            c.warnings.iter().any(|w| w.contains("written literally")),
            "{:?}",
            c.warnings
        );
        assert_eq!(c.hash.len(), 64);
    }

    #[test]
    fn unknown_key_has_position() {
        let e = errors(&BASE.replace("listen = ", "listne = \"x\"\nlisten = "));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:3:1: "), "{e:?}");
        assert!(e[0].contains("listne"), "{e:?}");
    }

    #[test]
    fn every_semantic_error_is_reported_with_its_line() {
        let text = BASE
            .replace(
                "\"http://127.0.0.1:3000/webhooks\"",
                "\"ftp://x/\"\ntimeout = \"ten seconds\"",
            )
            .replace(
                "upstream = \"orders\"",
                "upstream = \"nope\"\nallow_ips = [\"10.0.0.0/33\"]\ndedup_ttl = \"0s\"",
            )
            + "\n[routes.dup]\npath = \"/hooks/limai\"\nupstream = \"orders\"\nverify = { scheme = \"none\" }\n";
        let e = errors(&text);
        let has = |needle: &str, line: usize| {
            e.iter()
                .any(|m| m.contains(needle) && m.starts_with(&format!("t.toml:{line}:")))
        };
        assert!(has("scheme must be http or https", 6), "{e:#?}");
        assert!(has("ten seconds", 7), "{e:#?}");
        assert!(has("no upstream named \"nope\"", 11), "{e:#?}");
        assert!(has("not an IP network", 12), "{e:#?}");
        assert!(has("dedup_ttl must be greater than zero", 13), "{e:#?}");
        assert!(
            has("\"/hooks/limai\" is already used by route \"limai\"", 18),
            "{e:#?}"
        );
        assert!(
            !e.iter().any(|m| m.contains("no upstream named \"orders\"")),
            "a broken upstream is still defined: {e:#?}"
        );
        let lines: Vec<&str> = e.iter().map(|m| m.split(':').nth(1).unwrap()).collect();
        assert!(
            lines
                .windows(2)
                .all(|w| w[0].parse::<u32>().unwrap() <= w[1].parse::<u32>().unwrap()),
            "{e:#?}"
        );
    }

    #[test]
    fn verify_is_mandatory_and_fail_closed() {
        let no_verify = BASE.replace("verify = { scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"lit\"] }\n", "");
        assert!(
            errors(&no_verify)
                .iter()
                .any(|m| m.contains("has no verify table"))
        );
        let unknown = BASE.replace("scheme = \"hmac\"", "scheme = \"magic\"");
        assert!(
            errors(&unknown)
                .iter()
                .any(|m| m.contains("unknown scheme \"magic\""))
        );
        let missing_env = BASE.replace("[\"lit\"]", "[\"env:HOOKGATE_SURELY_UNSET_VAR\"]");
        assert!(
            errors(&missing_env)
                .iter()
                .any(|m| m.contains("HOOKGATE_SURELY_UNSET_VAR is not set"))
        );
        let bad_key = BASE.replace(
            "prefix = \"sha256=\"",
            "prefix = \"sha256=\", tolerance = \"5m\"",
        );
        assert!(
            errors(&bad_key)
                .iter()
                .any(|m| m.contains("tolerance needs timestamp_header"))
        );
        let wrong_scheme_key = BASE.replace(
            "scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\"",
            "scheme = \"basic\", prefix = \"x\"",
        );
        assert!(
            errors(&wrong_scheme_key)
                .iter()
                .any(|m| m.contains("verify.prefix does not apply to scheme \"basic\""))
        );
        let bad_template = BASE.replace("prefix = \"sha256=\"", "payload = \"{timestamp}\"");
        assert!(
            errors(&bad_template)
                .iter()
                .any(|m| m.contains("must contain {body}"))
        );
    }

    #[test]
    fn route_paths_are_checked() {
        for (p, why) in [
            ("hooks", "start with '/'"),
            ("/a/", "end with '/'"),
            ("/a/../b", "'..'"),
            ("/a?b", "'?'"),
        ] {
            let e = errors(&BASE.replace("\"/hooks/limai\"", &format!("{p:?}")));
            assert!(e.iter().any(|m| m.contains(why)), "{p}: {e:?}");
        }
    }

    #[test]
    fn sizes_durations_and_defaults() {
        let text = BASE.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:8080\"\nmax_body_bytes = \"64KiB\"\nbody_timeout = \"5s\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]");
        let c = parse(Path::new("t.toml"), &text).unwrap();
        assert_eq!(c.server.max_body_bytes, 64 << 10);
        assert_eq!(c.server.body_timeout, Duration::from_secs(5));
        assert_eq!(c.server.trusted_proxies.len(), 2);
        let u = &c.upstreams["orders"];
        assert_eq!((u.max_attempts, u.concurrency), (8, 32));
        let r = c.routes.get("limai").unwrap();
        assert_eq!(r.dedup_ttl, Duration::from_secs(72 * 3600));
        let e = errors(&BASE.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nmax_body_bytes = \"huge\"",
        ));
        assert!(
            e.iter()
                .any(|m| m.starts_with("t.toml:4:") && m.contains("invalid size")),
            "{e:?}"
        );
    }

    #[test]
    fn redis_store_settings() {
        let with_store = |store: &str| {
            BASE.replace(
                "[upstreams.orders]",
                &format!("{store}\n\n[upstreams.orders]"),
            )
        };
        let c = parse(Path::new("t.toml"), &with_store("[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\nconsumer = \"pod-1\"\nshards = 4")).unwrap();
        match &c.store.kind {
            StoreKind::Redis(r) => {
                assert_eq!(
                    (r.consumer.as_str(), r.shards, r.claim_after, r.timeout),
                    ("pod-1", 4, Duration::from_secs(60), Duration::from_secs(2))
                );
                assert_eq!(r.prefix, "hookgate");
            }
            other => panic!("{other:?}"),
        }
        let e = errors(&with_store("[store]\nkind = \"redis\"\npath = \"./x\""));
        assert!(
            e.iter().any(|m| m.contains("store.url is required")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("store.path applies to kind = \"embedded\"")),
            "{e:?}"
        );
        let e = errors(&with_store("[store]\nurl = \"redis://x\""));
        assert!(
            e.iter()
                .any(|m| m.contains("store.url applies to kind = \"redis\"")),
            "{e:?}"
        );
        let e = errors(&with_store("[store]\nkind = \"redis\"\nurl = \"http://x\""));
        assert!(e.iter().any(|m| m.contains("not a Redis URL")), "{e:?}");
        let e = errors(
            &with_store("[store]\nkind = \"redis\"\nurl = \"redis://x\"\nclaim_after = \"5s\"")
                .replace(
                    "url = \"http://127.0.0.1:3000/webhooks\"",
                    "url = \"http://127.0.0.1:3000/webhooks\"\ntimeout = \"30s\"",
                ),
        );
        assert!(
            e.iter()
                .any(|m| m.contains("must exceed the longest upstream timeout")),
            "{e:?}"
        );
        let e = errors(&with_store(
            "[store]\nkind = \"redis\"\nurl = \"redis://x\"\nconsumer = \"env:HOOKGATE_SURELY_UNSET_POD\"",
        ));
        assert!(
            e.iter()
                .any(|m| m.contains("HOOKGATE_SURELY_UNSET_POD is not set")),
            "{e:?}"
        );
        let c = parse(
            Path::new("t.toml"),
            &with_store("[store]\nkind = \"redis\"\nurl = \"redis://:pw@127.0.0.1/0\""),
        )
        .unwrap();
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("store.url carries credentials")),
            "{:?}",
            c.warnings
        );
        assert!(
            !c.warnings.iter().any(|w| w.contains("pw@")),
            "the password is not repeated"
        );
    }

    const ROUTE: &str = "event_id = \"json:/eventId\"\n";

    fn with_route(extra: &str) -> String {
        BASE.replace(ROUTE, &format!("{ROUTE}{extra}\n"))
    }

    #[test]
    fn the_seed_senders_options_load() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "tkn\n").unwrap();
        let text = with_route(
            r#"rate_limit = { per_ip = "300/5m", per_route = "5000/s" }
mode = "sync"
sync_timeout = "10s"
sync_timeout_status = 504
normalize = "json"
state = "paused"
require_headers = { "User-Agent" = "LindoAI-Webhooks/1.0", "X-Env" = "~^prod$" }
content_types = ["Application/JSON", "text/*"]"#,
        )
        .replace(
            "url = \"http://127.0.0.1:3000/webhooks\"",
            "url = \"http://127.0.0.1:3000/webhooks\"\nheaders = { Authorization = \"Bearer {file:TOKEN_FILE}\", X-Plain = \"a {b} c\" }\nsign = { scheme = \"standard-webhooks\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }",
        )
        .replace("TOKEN_FILE", &token.display().to_string());
        let c = parse(Path::new("t.toml"), &text).unwrap();
        let r = c.routes.iter().next().unwrap();
        assert_eq!(
            r.rate_limit,
            RateSpec {
                per_ip: Some(Rate {
                    count: 300,
                    per: Duration::from_secs(300)
                }),
                per_route: Some(Rate {
                    count: 5000,
                    per: Duration::from_secs(1)
                }),
            }
        );
        assert_eq!(
            r.mode,
            Mode::Sync {
                timeout: Duration::from_secs(10),
                timeout_status: 504
            }
        );
        assert!(r.normalize);
        assert_eq!(r.state, RouteState::Paused);
        assert_eq!(r.require_headers.len(), 2);
        assert!(
            r.require_headers
                .iter()
                .all(|(_, rule)| rule.matches(b"prod") || rule.matches(b"LindoAI-Webhooks/1.0"))
        );
        assert_eq!(r.content_types, ["application/json", "text/*"]);
        let up = &c.upstreams["orders"];
        let h: Vec<(&str, &[u8])> = up
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(
            h,
            [
                ("authorization", &b"Bearer tkn"[..]),
                ("x-plain", b"a {b} c")
            ]
        );
        assert!(up.headers[0].1.is_sensitive());
        assert!(matches!(&up.resign, Some(Resign::StandardWebhooks { .. })));
        let composite = parse(Path::new("t.toml"), &BASE.replace(ROUTE, "event_id = [\"json:/event\", \"header:X-Ts\"]\norder_key = \"json:/data/website_id\"\n")).unwrap();
        let r = composite.routes.iter().next().unwrap();
        assert!(matches!(&r.event_id, IdSource::Composite(parts) if parts.len() == 2));
        assert_eq!(r.order_key, Some(IdSource::Json("/data/website_id".into())));
    }

    #[test]
    fn the_seed_senders_options_are_checked() {
        let cases = [
            (
                "rate_limit = { per_ip = \"300 per 5m\" }",
                "not a rate like",
            ),
            ("rate_limit = { per_ip = \"0/5m\" }", "not a rate like"),
            ("rate_limit = { per_minute = \"1/m\" }", "per_minute"),
            (
                "mode = \"sync\"\nsync_timeout_status = 500",
                "must be 408 or 504",
            ),
            ("sync_timeout = \"5s\"", "applies to mode = \"sync\""),
            (
                "mode = \"sync\"\norder_key = \"json:/a\"",
                "order_key applies to mode = \"async\" only",
            ),
            (
                "mode = \"sync\"\nresponse = { status = 202 }",
                "response applies to mode = \"async\" only",
            ),
            ("normalize = \"yaml\"", "expected \"json\""),
            (
                "state = \"sleeping\"",
                "is not one of \"active\", \"paused\", \"disabled\"",
            ),
            (
                "require_headers = { \"X-A\" = \"~(\" }",
                "not a valid regex",
            ),
            ("require_headers = { \"Bad Header\" = \"x\" }", "Bad Header"),
            ("content_types = [\"json\"]", "not a media type"),
            ("order_key = \"sha256\"", "order_key must be"),
        ];
        for (extra, needle) in cases {
            let e = errors(&with_route(extra));
            assert!(
                e.iter()
                    .any(|m| m.contains(needle) && m.starts_with("t.toml:")),
                "{extra}: {e:#?}"
            );
        }
        let composite = errors(&BASE.replace(ROUTE, "event_id = [\"json:/a\", \"sha256\"]\n"));
        assert!(
            composite.iter().any(|m| m.contains("composite event_id")),
            "{composite:#?}"
        );
        let up = |extra: &str| {
            errors(&BASE.replace(
                "url = \"http://127.0.0.1:3000/webhooks\"",
                &format!("url = \"http://127.0.0.1:3000/webhooks\"\n{extra}"),
            ))
        };
        assert!(
            up("sign = { scheme = \"hmac\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }")
                .iter()
                .any(|m| m.contains("not supported"))
        );
        assert!(
            up("sign = { scheme = \"standard-webhooks\", secret = \"whsec_!!\" }")
                .iter()
                .any(|m| m.contains("sign.secret"))
        );
        assert!(
            up("headers = { A = \"{env:HOOKGATE_SURELY_UNSET_VAR}\" }")
                .iter()
                .any(|m| m.contains("HOOKGATE_SURELY_UNSET_VAR is not set"))
        );
        let tls = |t: &str| {
            errors(&BASE.replace(
                "listen = \"127.0.0.1:8080\"",
                &format!("listen = \"127.0.0.1:8080\"\ntls = {t}"),
            ))
        };
        assert!(tls("{ listen = \"127.0.0.1:8443\", cert = \"/nonexistent.crt\", key = \"/nonexistent.key\" }").iter().any(|m| m.contains("server.tls.cert") && m.contains("/nonexistent.crt")));
        assert!(
            tls("{ listen = \"127.0.0.1:8080\", cert = \"a\", key = \"b\" }")
                .iter()
                .any(|m| m.contains("must differ"))
        );
        assert!(
            tls("{ listen = \"127.0.0.1:8443\" }")
                .iter()
                .any(|m| m.contains("cert"))
        );
    }
}
