//! Reading and validating a config file. Every mistake is reported with the file, line and
//! column where it is written; all of them at once, not just the first.
//!
//! The file format is `config::file`; the typed model it becomes is `config`. `Checker` walks
//! one section per module (`server` with `conn`, `store`, `upstream`, `route`, `verify`); the
//! value checks they share and the span-to-position mapping live here.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::Config;
use super::effective::Material;
use super::file::{FileConfig, Text};
use super::header_limit;
use super::units::{MAX_DURATION, SizeText, fmt_duration, parse_duration, parse_size};
use crate::routing::Router;
use crate::secret::Secret;
use crate::secret::{self, Resolved};

mod conn;
mod nets;
mod redact;
mod route;
mod server;
mod store;
mod telemetry;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_mistakes;
#[cfg(test)]
mod tests_store;
mod upstream;
mod verify;

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

/// As `load`, with the `file:` secrets the file names, read or not (none when it cannot be
/// read or parsed): what a reload that failed waits for.
pub fn load_naming_files(path: &Path) -> (Result<Config, LoadError>, Vec<PathBuf>) {
    match std::fs::read_to_string(path) {
        Ok(text) => checked(path, &text),
        Err(source) => (
            Err(LoadError::Read {
                path: path.to_path_buf(),
                source,
            }),
            Vec::new(),
        ),
    }
}

/// Parses and validates `text` as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, LoadError> {
    checked(path, text).0
}

fn checked(path: &Path, text: &str) -> (Result<Config, LoadError>, Vec<PathBuf>) {
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
            c.error(e.span().unwrap_or(0..0), redact::without_value(e.message()));
            return (Err(LoadError::Invalid(c.errors)), Vec::new());
        }
    };
    let server = c.server(&file.server);
    let upstreams = c.upstreams(&file.upstreams);
    let store = c.store(file.store.as_ref());
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
    let longest_sync_timeout = telemetry::longest_sync_timeout(&file.routes);
    crate::metrics::size_request_buckets(longest_sync_timeout);
    let routes = c.routes(&file.routes, (&defined, &upstreams), limits);
    c.shared_rates(
        &file.routes,
        matches!(store.kind, super::StoreKind::Redis(_)),
    );
    let telemetry = file.telemetry.as_ref().and_then(|t| c.telemetry(t));
    let largest_body = routes
        .iter()
        .map(|r| r.max_body_bytes)
        .max()
        .unwrap_or(limits.0);
    let body_memory = c.body_memory(file.server.get_ref().max_body_memory.as_ref(), largest_body);
    // Report in the order the file reads.
    c.errors.sort_by_key(|e| (e.line, e.column));
    let named = c.material.files();
    let config = match server {
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
                server.max_body_memory = body_memory;
                server
            },
            secret_files: named.clone(),
            store,
            upstreams,
            routes: Router::new(routes),
            warnings: c.warnings,
            telemetry,
            longest_sync_timeout,
            loaded_at: std::time::SystemTime::now(),
        }),
        _ => Err(LoadError::Invalid(c.errors)),
    };
    (config, named)
}

/// The bound of the durations a request, a delivery attempt or a stop waits out
/// (`body_timeout`, `sync_timeout`, an upstream's `timeout`, `shutdown_timeout`, `retry_after`):
/// longer, a slow peer holds a connection or a slot for good, and a stop outlasts any
/// orchestrator's patience.
const WAIT_MAX: Duration = Duration::from_secs(3600);

struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    /// Every secret resolved, for the effective hash and the secret files to watch.
    material: Material,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Checker<'_> {
    /// The 1-based line and column (in characters) where `span` starts: the one place a
    /// position is computed, for errors and warnings alike.
    fn position(&self, span: &Range<usize>) -> (usize, usize) {
        let before = self.text.get(..span.start).unwrap_or(self.text);
        (
            before.matches('\n').count() + 1,
            before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
        )
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.position(&span);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// A warning is reported with its file and line only.
    fn warn(&mut self, span: &Range<usize>, message: impl fmt::Display) {
        let (line, _) = self.position(span);
        self.warnings
            .push(format!("{}:{line}: {message}", self.file.display()));
    }

    /// Records the error of `r` at `span` and returns its value, if any.
    fn check<T>(&mut self, span: Range<usize>, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.error(span, e)).ok()
    }

    /// A duration greater than zero and at most `MAX_DURATION`.
    fn duration(&mut self, v: Option<&Text>, key: &str, default: Duration) -> Duration {
        self.duration_at_most(v, key, default, MAX_DURATION)
    }

    /// A duration greater than zero and at most `max`.
    fn duration_at_most(
        &mut self,
        v: Option<&Text>,
        key: &str,
        default: Duration,
        max: Duration,
    ) -> Duration {
        let Some(v) = v else { return default };
        let message = match parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() => format!("{key} must be greater than zero"),
            Ok(d) if d > max => format!("{key} must be at most {}", fmt_duration(max)),
            Ok(d) => return d,
            Err(e) => format!("{key}: {e}"),
        };
        self.error(v.span(), message);
        default
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

    fn header_name(&mut self, t: &Text, key: &str) -> Option<HeaderName> {
        let r = HeaderName::from_bytes(t.get_ref().trim().as_bytes())
            .map_err(|_| format!("{key}: {:?} is not a valid header name", t.get_ref()));
        self.check(t.span(), r)
    }

    /// A value that is plain text or a reference (a sender's ID: `"env:PLAID_CLIENT_ID"`): a
    /// reference is resolved as a secret is, one mistyped refused; text is taken as written
    /// without a warning (it is no secret).
    fn text_or_reference(&mut self, t: &Text, what: &str) -> Option<String> {
        let v = t.get_ref();
        if v.starts_with("env:") || v.starts_with("file:") || secret::mistyped_reference(v) {
            return self.secret(t, what).map(|s| s.expose_str().into_owned());
        }
        Some(v.clone())
    }

    fn secret(&mut self, t: &Text, what: &str) -> Option<Secret> {
        self.material.name(t.get_ref());
        let resolved = secret::resolve(t.get_ref());
        if let Ok(Resolved::Secret(s) | Resolved::Literal(s)) = &resolved {
            self.material.add(t.get_ref(), s);
        }
        match resolved {
            Ok(Resolved::Secret(s)) => Some(s),
            Ok(Resolved::Literal(s)) => {
                self.warn(
                    &t.span(),
                    format_args!("{what} is written literally in the file; prefer \"env:NAME\" or \"file:PATH\""),
                );
                Some(s)
            }
            // Only the reference is echoed back, never a value.
            Err(e) => {
                self.error(t.span(), format!("{what}: {e}"));
                None
            }
        }
    }
}
