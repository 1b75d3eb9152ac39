//! `[store]`: the embedded store or Redis.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::Checker;
use crate::config::file::{StoreFile, Text, Urls};
use crate::config::units::fmt_duration;
use crate::config::units::{SizeText, parse_size};
use crate::config::{EmbeddedMemory, RedisConfig, SpillConfig, StoreConfig, StoreKind};
use crate::secret::Secret;

/// The most any one part of the embedded store's memory budget may be.
const MEMORY_CEILING: u64 = 4 << 30;
/// The spill's bounds when on: below 1MiB it would fill in a moment; the ceiling catches a
/// missing unit (a number of GiB written as bytes is fine, a TiB is a typo).
const SPILL_MIN: u64 = 1 << 20;
const SPILL_MAX: u64 = 1 << 40;

/// A Redis command slower than this is an outage, not a slow answer: every request waits it out.
const COMMAND_TIMEOUT_MAX: Duration = Duration::from_secs(60);

/// A shared rate limit's check waits this long for Redis by default.
const RATE_LIMIT_TIMEOUT: Duration = Duration::from_millis(100);

impl Checker<'_> {
    pub(super) fn store(&mut self, s: Option<&Spanned<StoreFile>>) -> StoreConfig {
        let default_path = PathBuf::from(crate::config::DEFAULT_STORE_PATH);
        let Some(sp) = s else {
            return StoreConfig {
                kind: StoreKind::Embedded {
                    path: default_path,
                    memory: EmbeddedMemory::default(),
                },
                max_pending: 1_000_000,
                rate_limit_timeout: RATE_LIMIT_TIMEOUT,
                spill: SpillConfig::off(),
            };
        };
        let (span, s) = (sp.span(), sp.get_ref());
        let max_pending = self.int(
            s.max_pending.as_ref(),
            "store.max_pending",
            1..i64::MAX,
            1_000_000,
        ) as u64;
        let embedded_only: [(&str, Option<Range<usize>>); 5] = [
            ("path", s.path.as_ref().map(Spanned::span)),
            ("cache_size", s.cache_size.as_ref().map(Spanned::span)),
            ("memtable_size", s.memtable_size.as_ref().map(Spanned::span)),
            ("hot_size", s.hot_size.as_ref().map(Spanned::span)),
            ("log_size", s.log_size.as_ref().map(Spanned::span)),
        ];
        let redis_only: [(&str, Option<Range<usize>>); 13] = [
            (
                "spill_max_bytes",
                s.spill_max_bytes.as_ref().map(Spanned::span),
            ),
            ("spill_path", s.spill_path.as_ref().map(Spanned::span)),
            ("url", s.url.as_ref().map(Spanned::span)),
            ("cluster", s.cluster.as_ref().map(Spanned::span)),
            ("password", s.password.as_ref().map(Spanned::span)),
            ("consumer", s.consumer.as_ref().map(Spanned::span)),
            ("shards", s.shards.as_ref().map(Spanned::span)),
            ("claim_after", s.claim_after.as_ref().map(Spanned::span)),
            ("timeout", s.timeout.as_ref().map(Spanned::span)),
            ("prefix", s.prefix.as_ref().map(Spanned::span)),
            ("record_ttl", s.record_ttl.as_ref().map(Spanned::span)),
            ("replica_acks", s.replica_acks.as_ref().map(Spanned::span)),
            (
                "rate_limit_timeout",
                s.rate_limit_timeout.as_ref().map(Spanned::span),
            ),
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
                let memory = self.embedded_memory(s);
                StoreKind::Embedded { path, memory }
            }
            Some(("redis", _)) => {
                for (key, at) in embedded_only {
                    if let Some(at) = at {
                        self.error(at, format!("store.{key} applies to kind = \"embedded\""));
                    }
                }
                match self.redis(span, s) {
                    Some(r) => StoreKind::Redis(r),
                    None => StoreKind::Embedded {
                        path: default_path,
                        memory: EmbeddedMemory::default(),
                    },
                }
            }
            Some((other, span)) => {
                self.error(
                    span,
                    format!(
                        "store.kind {other:?} is not supported (expected \"embedded\" or \"redis\")"
                    ),
                );
                StoreKind::Embedded {
                    path: default_path,
                    memory: EmbeddedMemory::default(),
                }
            }
        };
        let rate_limit_timeout = self.duration_at_most(
            s.rate_limit_timeout.as_ref(),
            "store.rate_limit_timeout",
            RATE_LIMIT_TIMEOUT,
            Duration::from_secs(10),
        );
        let spill = match &kind {
            StoreKind::Redis(_) => self.spill(s),
            StoreKind::Embedded { .. } => SpillConfig::off(),
        };
        StoreConfig {
            kind,
            max_pending,
            rate_limit_timeout,
            spill,
        }
    }

    /// `spill_max_bytes` (0: off, else 1MiB–1TiB) and `spill_path` (default `./spill`, next to
    /// the embedded store's default `./data`).
    fn spill(&mut self, s: &StoreFile) -> SpillConfig {
        let mut spill = SpillConfig::off();
        spill.max_bytes = SpillConfig::DEFAULT_MAX_BYTES;
        if let Some(v) = &s.spill_max_bytes {
            match parse_size(&v.get_ref().0) {
                Ok(n) if n == 0 || (SPILL_MIN..=SPILL_MAX).contains(&n) => spill.max_bytes = n,
                Ok(_) => self.error(
                    v.span(),
                    "store.spill_max_bytes must be 0 (no spill) or between 1MiB and 1TiB",
                ),
                Err(e) => self.error(v.span(), format!("store.spill_max_bytes: {e}")),
            }
        }
        if let Some(p) = &s.spill_path {
            if p.get_ref().trim().is_empty() {
                self.error(p.span(), "store.spill_path must not be empty");
            }
            spill.path = PathBuf::from(p.get_ref());
            spill.path_set = true;
        }
        spill
    }

    /// The embedded store's memory budget; each part bounded so that a typo (a missing unit)
    /// is caught rather than starving or bloating the process.
    fn embedded_memory(&mut self, s: &StoreFile) -> EmbeddedMemory {
        let d = EmbeddedMemory::default();
        let mut part = |v: Option<&Spanned<SizeText>>, key: &str, min: u64, default: u64| {
            let Some(v) = v else { return default };
            match parse_size(&v.get_ref().0) {
                Ok(n) if (min..=MEMORY_CEILING).contains(&n) => return n,
                Ok(_) => self.error(
                    v.span(),
                    format!("{key} must be between {}MiB and 4GiB", min >> 20),
                ),
                Err(e) => self.error(v.span(), format!("{key}: {e}")),
            }
            default
        };
        EmbeddedMemory {
            // fjall needs room for a few blocks; a memtable under 1MiB flushes tiny tables.
            cache: part(s.cache_size.as_ref(), "store.cache_size", 1 << 20, d.cache),
            memtable: part(
                s.memtable_size.as_ref(),
                "store.memtable_size",
                1 << 20,
                d.memtable,
            ),
            hot: part(s.hot_size.as_ref(), "store.hot_size", 0, d.hot),
            // A few segments of at least 64KiB each.
            log: part(s.log_size.as_ref(), "store.log_size", 1 << 20, d.log),
        }
    }

    fn redis(&mut self, span: Range<usize>, s: &StoreFile) -> Option<RedisConfig> {
        let Some(url_field) = &s.url else {
            self.error(
                span,
                "store.url is required for kind = \"redis\" (e.g. \"redis://127.0.0.1:6379/0\")",
            );
            return None;
        };
        let texts = match url_field.get_ref() {
            Urls::One(u) => vec![Spanned::new(url_field.span(), u.clone())],
            Urls::Many(list) => list.clone(),
        };
        // A list means a Redis Cluster (its nodes to start from); `cluster = true` says so for
        // one URL.
        let cluster = match &s.cluster {
            Some(c) if !*c.get_ref() && texts.len() > 1 => {
                self.error(
                    c.span(),
                    "store.cluster = false takes one store.url (a list is a Redis Cluster's nodes)",
                );
                false
            }
            Some(c) => *c.get_ref(),
            None => texts.len() > 1,
        };
        if texts.is_empty() {
            self.error(url_field.span(), "store.url: the list is empty");
        }
        let urls: Vec<Option<Secret>> = texts.iter().map(|t| self.redis_url(t, cluster)).collect();
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
                // `$HOSTNAME`, `ENV:POD_NAME`: one name for every replica, and the second stops.
                None if crate::secret::mistyped_reference(c.get_ref()) => {
                    self.error(
                        c.span(),
                        "store.consumer: looks like an environment reference but is not one: write \"env:NAME\" (lowercase, no spaces, no `$` or braces)",
                    );
                    None
                }
                None => Some(c.get_ref().clone()),
            },
            None => Some(default_consumer()),
        };
        let timeout = self.duration_at_most(
            s.timeout.as_ref(),
            "store.timeout",
            Duration::from_secs(2),
            COMMAND_TIMEOUT_MAX,
        );
        // A holder heartbeats every claim_after / 4 and a beat may take up to `timeout`: this
        // leaves it at least two beats before its entries look abandoned. Upstream timeouts
        // do not matter any more: a slow delivery is heartbeated.
        let claim_after = self.duration(
            s.claim_after.as_ref(),
            "store.claim_after",
            Duration::from_secs(8),
        );
        if claim_after < timeout.saturating_mul(4) {
            self.error(
                s.claim_after.as_ref().map_or(span.clone(), Spanned::span),
                format!(
                    "store.claim_after ({}) must be at least 4 × store.timeout ({}): holders heartbeat every claim_after / 4, and a heartbeat may take up to store.timeout",
                    fmt_duration(claim_after),
                    fmt_duration(timeout)
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
        let shards = self.int(s.shards.as_ref(), "store.shards", 1..1025, 1) as u16;
        if cluster && shards < 3 {
            // A route's keys share one hash tag per shard: with fewer shards than masters a
            // busy route loads one node.
            self.warn(
                &s.shards.as_ref().map_or(span.clone(), Spanned::span),
                format_args!("store.shards = {shards} on a Redis Cluster puts each route on {shards} node(s); set it to at least the number of masters"),
            );
        }
        Some(RedisConfig {
            urls: urls.into_iter().collect::<Option<Vec<_>>>()?,
            cluster,
            password,
            consumer: consumer?,
            shards,
            claim_after,
            timeout,
            prefix,
            record_ttl: self.duration(
                s.record_ttl.as_ref(),
                "store.record_ttl",
                Duration::from_secs(3600),
            ),
            replica_acks: self.int(s.replica_acks.as_ref(), "store.replica_acks", 0..17, 0) as u16,
        })
    }
}
impl Checker<'_> {
    /// One node's URL, resolved (`env:`/`file:`) and parsed; a cluster has no databases.
    fn redis_url(&mut self, url_text: &Text, cluster: bool) -> Option<Secret> {
        let url = if url_text.get_ref().starts_with("env:")
            || url_text.get_ref().starts_with("file:")
            || crate::secret::mistyped_reference(url_text.get_ref())
        {
            self.secret(url_text, "store.url")
        } else {
            // A URL written in the file is fine unless it carries a password.
            if url_text.get_ref().contains('@') {
                self.warn(
                    &url_text.span(),
                    "store.url carries credentials written literally in the file; prefer \"env:NAME\" or store.password",
                );
            }
            Some(Secret::literal(url_text.get_ref().clone()))
        };
        let u = url.as_ref()?;
        match crate::config::sentinel_url::parse(u.expose_str().as_ref()) {
            Some(Err(e)) => self.error(url_text.span(), format!("store.url: {e}")),
            Some(Ok(_)) if cluster => self.error(
                url_text.span(),
                "store.url: a sentinel URL names one master; a Redis Cluster is a list of redis:// nodes",
            ),
            Some(Ok(_)) => {}
            None => self.redis_node_url(url_text, u, cluster),
        }
        url
    }

    fn redis_node_url(&mut self, url_text: &Text, u: &Secret, cluster: bool) {
        match redis::IntoConnectionInfo::into_connection_info(u.expose_str().as_ref()) {
            // The parser's message never repeats the URL (and so no password).
            Err(e) => self.error(
                url_text.span(),
                format!(
                    "store.url: not a Redis URL: {}",
                    e.detail().unwrap_or("expected redis:// or rediss://")
                ),
            ),
            Ok(info) if cluster && info.redis_settings().db() != 0 => self.error(
                url_text.span(),
                "store.url: a Redis Cluster has only database 0",
            ),
            Ok(_) => {}
        }
    }
}

/// This replica's default consumer name: host name and process ID.
fn default_consumer() -> String {
    format!("{}-{}", crate::config::host_name(), std::process::id())
}

#[cfg(test)]
mod spill_tests {
    use std::path::{Path, PathBuf};

    use super::super::tests::BASE;
    use crate::config::{LoadError, SpillConfig, parse};

    /// The loader's test config with a `[store]` block after it.
    fn load(store: &str) -> Result<SpillConfig, Vec<String>> {
        let text = format!("{BASE}[store]\n{store}\n");
        match parse(Path::new("t.toml"), &text) {
            Ok(c) => Ok(c.store.spill),
            Err(LoadError::Invalid(e)) => Err(e.iter().map(ToString::to_string).collect()),
            Err(e) => Err(vec![e.to_string()]),
        }
    }

    const REDIS: &str = "kind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\n";

    #[test]
    fn the_spill_is_on_by_default_with_redis_and_off_with_the_embedded_store() {
        let s = load(REDIS).unwrap();
        assert_eq!(s.max_bytes, 256 << 20);
        assert_eq!(s.path, PathBuf::from("./spill"));
        assert!(!s.path_set);
        assert_eq!(load("").unwrap().max_bytes, 0);
        let s = load(&format!(
            "{REDIS}spill_max_bytes = \"1GiB\"\nspill_path = \"/var/lib/hookgate/spill\""
        ))
        .unwrap();
        assert_eq!(
            (s.max_bytes, s.path, s.path_set),
            (1 << 30, PathBuf::from("/var/lib/hookgate/spill"), true)
        );
        assert_eq!(
            load(&format!("{REDIS}spill_max_bytes = 0"))
                .unwrap()
                .max_bytes,
            0
        );
    }

    #[test]
    fn spill_mistakes_are_reported_at_their_line_and_column() {
        let cases = [
            (
                format!("{REDIS}spill_max_bytes = \"1KiB\""),
                "t.toml:4:19: store.spill_max_bytes must be 0 (no spill) or between 1MiB and 1TiB",
            ),
            (
                format!("{REDIS}spill_max_bytes = \"2TiB\""),
                "t.toml:4:19: store.spill_max_bytes must be 0",
            ),
            (
                format!("{REDIS}spill_max_bytes = \"lots\""),
                "t.toml:4:19: store.spill_max_bytes: ",
            ),
            (
                format!("{REDIS}spill_path = \"\""),
                "t.toml:4:14: store.spill_path must not be empty",
            ),
            (
                "spill_max_bytes = \"1GiB\"".to_string(),
                "t.toml:2:19: store.spill_max_bytes applies to kind = \"redis\"",
            ),
            (
                "spill_path = \"/x\"".to_string(),
                "t.toml:2:14: store.spill_path applies to kind = \"redis\"",
            ),
            (
                format!("{REDIS}spill_bytes = 1"),
                "t.toml:4:1: unknown field `spill_bytes`",
            ),
        ];
        // The cases' lines count from `[store]` (line 1), which follows BASE's.
        let before = BASE.lines().count();
        for (store, want) in cases {
            let e = load(&store).unwrap_err();
            let (line, rest) = want.trim_start_matches("t.toml:").split_once(':').unwrap();
            let want = format!("t.toml:{}:{rest}", line.parse::<usize>().unwrap() + before);
            assert!(e.iter().any(|m| m.starts_with(&want)), "{store}: {e:?}");
        }
    }
}
