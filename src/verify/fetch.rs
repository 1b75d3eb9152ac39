//! Keys and certificates fetched from a provider's own hosts (Google's JWKS for Pub/Sub push,
//! AWS SNS signing certificates, PayPal's certificates, Plaid's keys).
//!
//! Only from the hosts the provider documents: https, the host matched exactly after URL
//! parsing, no credentials or port in the URL, redirects not followed. A route's `key_url` is
//! fetched instead of any URL the provider's rule accepts (a mirror, or a test fixture: plain
//! http is allowed only to a loopback address); a URL the rule refuses is still refused.
//!
//! Fetched bodies are cached (1 hour, at most 32 URLs, 256 KiB each), and a sender cannot turn
//! requests into outbound fetches, nor spend them so that the genuine key goes unfetched: one
//! fetch at a time per route; no URL fetched again within a minute of its last fetch or failed
//! attempt (failures remembered per URL, at most 256); at most ten fetches a minute of URLs
//! not cached. A cached URL is refreshed outside that budget (so junk naming other URLs cannot
//! starve it), each at most once a minute: at most 32 more a minute. While a refresh fails or
//! waits, the expired body is still used, up to 24 hours past its hour (a key server's outage
//! refuses nothing for a day; a refresh that succeeds replaces the body at once).
//! When nothing usable is cached the request is refused (fail closed).
//!
//! A URL whose body verified a genuine message is "known" (`known.rs`): kept in the cache
//! before any other, refreshed outside the budget even when not cached, and carried across
//! reloads and, in a file, restarts — so that right after a start junk cannot spend the
//! minute's fetches before the genuine key is back.

mod known;

pub use known::KeyBook;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;

/// How long a body is used before it is refetched; how long past that it is still used while
/// it cannot be (`stale`); the least time between two fetches of a URL.
#[derive(Debug, Clone, Copy)]
struct Ages {
    ttl: Duration,
    stale: Duration,
    min_refetch: Duration,
}

const AGES: Ages = Ages {
    ttl: Duration::from_secs(3600),
    stale: Duration::from_secs(24 * 3600),
    min_refetch: Duration::from_secs(60),
};
const MAX_ENTRIES: usize = 32;
const MAX_FAILED: usize = 256;
const MAX_BYTES: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const FETCHES_PER_MINUTE: u32 = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("key URL is not one of the provider's hosts")]
    NotAllowed,
    #[error("too many key fetches; try again later")]
    RateLimited,
    #[error("key fetch failed less than a minute ago")]
    RecentlyFailed,
    #[error("key fetch failed: {0}")]
    Failed(String),
}

/// Where keys may come from.
#[derive(Debug, Clone)]
pub enum Allow {
    /// `https://...` on the default port, without credentials, that the provider's rule
    /// accepts (its host, its path shape).
    Rule(fn(&Url) -> bool),
    /// The route's `key_url`: fetched instead of any URL the rule accepts.
    Exact(Url, fn(&Url) -> bool),
}

/// Google's rule: `https://www.googleapis.com/...`.
pub fn googleapis(u: &Url) -> bool {
    u.host_str() == Some("www.googleapis.com")
}

/// AWS SNS signing certificates: `https://sns.<region>.amazonaws.com[.cn]/....pem`.
pub fn sns_cert(u: &Url) -> bool {
    let Some(host) = u.host_str() else {
        return false;
    };
    let region = host
        .strip_prefix("sns.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
        })
        .unwrap_or_default();
    region.len() >= 3
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && u.path().ends_with(".pem")
}

struct Entry {
    body: Arc<Vec<u8>>,
    at: Instant,
}

/// A URL whose body verified a genuine message: the body recorded and when it was fetched.
struct Known {
    body: Arc<Vec<u8>>,
    fetched: SystemTime,
}

struct State {
    cache: HashMap<String, Entry>,
    /// Known URLs (at most `known::MAX_KNOWN`): only a verified message adds one.
    known: HashMap<String, Known>,
    /// From the book, not yet matched to a URL (the book has only their hashes).
    loaded: Vec<known::Saved>,
    /// When each URL's last fetch failed: not tried again within `min_refetch`.
    failed: HashMap<String, Instant>,
    /// The budget of fetches of URLs not cached.
    window: Instant,
    fetches: u32,
}

/// What `ensure` does about a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Nothing: what is cached will do, or was fetched less than a minute ago.
    Keep,
    /// Nothing: its last fetch failed less than a minute ago.
    Backoff,
    /// Fetch it; `known`: a body of it is cached or it is known (a refresh, outside the
    /// budget of new URLs).
    Fetch { known: bool },
}

pub struct KeyFetcher {
    allow: Allow,
    ages: Ages,
    client: OnceLock<reqwest::Client>,
    state: Mutex<State>,
    flight: tokio::sync::Mutex<()>,
    /// Where its known URLs are recorded (`KeyBook::attach`).
    book: OnceLock<Attached>,
}

struct Attached {
    book: Arc<KeyBook>,
    /// The fetcher's name in the book (`route/position`).
    name: String,
    /// What the same URL answers to differently (Plaid: the client id).
    salt: String,
}

/// https on the default port, no credentials, and the provider's own rule.
fn provider_url(u: &Url, rule: fn(&Url) -> bool) -> bool {
    u.scheme() == "https"
        && u.port().is_none()
        && u.username().is_empty()
        && u.password().is_none()
        && rule(u)
}

fn loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

impl KeyFetcher {
    /// `key_url`, when set, is fetched in place of the provider's URLs (https, or http to
    /// loopback only).
    pub fn new(rule: fn(&Url) -> bool, key_url: Option<&str>) -> Result<KeyFetcher, String> {
        let allow = match key_url {
            None => Allow::Rule(rule),
            Some(u) => {
                // Told without the credentials it may carry (refused, but still secret).
                let shown = crate::secret::redact_url(u);
                let url = Url::parse(u).map_err(|e| format!("key_url {shown:?}: {e}"))?;
                let ok = url.scheme() == "https" || (url.scheme() == "http" && loopback(&url));
                if !ok || url.username() != "" || url.password().is_some() {
                    return Err(format!(
                        "key_url {shown:?} must be https (plain http only to a loopback address), without credentials"
                    ));
                }
                Allow::Exact(url, rule)
            }
        };
        Ok(KeyFetcher {
            allow,
            ages: AGES,
            client: OnceLock::new(),
            state: Mutex::new(State {
                cache: HashMap::new(),
                known: HashMap::new(),
                loaded: Vec::new(),
                failed: HashMap::new(),
                window: Instant::now(),
                fetches: 0,
            }),
            flight: tokio::sync::Mutex::new(()),
            book: OnceLock::new(),
        })
    }

    /// Records its known URLs in `book` as `name`, starting from `saved` (what it knew before
    /// a reload or a restart).
    fn attach(&self, book: Arc<KeyBook>, name: String, salt: String, saved: Vec<known::Saved>) {
        if self.book.set(Attached { book, name, salt }).is_ok() {
            self.lock().loaded = saved;
        }
    }

    /// Moves `url`'s entry from the book, if it has one, into the known set and (when its body
    /// is still usable) the cache, aged as recorded.
    fn adopt(&self, st: &mut State, url: &str) {
        let Some(a) = self.book.get().filter(|_| !st.loaded.is_empty()) else {
            return;
        };
        let hash = known::url_hash(&a.salt, url);
        let Some(i) = st.loaded.iter().position(|s| s.url == hash) else {
            return;
        };
        let saved = st.loaded.swap_remove(i);
        let Some(body) = saved.body().map(Arc::new) else {
            return;
        };
        let fetched = saved.fetched_at();
        let age = SystemTime::now()
            .duration_since(fetched)
            .unwrap_or_default();
        let at = (age < self.ages.ttl + self.ages.stale)
            .then(|| Instant::now().checked_sub(age))
            .flatten();
        // Never over a body fetched since (`prime`); at most `MAX_KNOWN` past the cache's bound.
        if let Some(at) = at {
            let body = Arc::clone(&body);
            st.cache
                .entry(url.to_string())
                .or_insert(Entry { body, at });
        }
        st.known.insert(url.to_string(), Known { body, fetched });
    }

    /// `url`'s cached body verified a genuine message: it is known from now on, and recorded
    /// in the book when new, changed, or fetched again an hour after the recorded fetch (so
    /// that after a restart it is as fresh as it was).
    pub fn vouch(&self, url: &str) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(e) = st.cache.get(url) else { return };
        let fetched = SystemTime::now()
            .checked_sub(e.at.elapsed())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // Every verified message comes here: the same fetch (one `Arc`) is settled at once,
        // and a refetch of the same bytes is compared once, then takes the new `Arc`.
        if let Some(k) = st.known.get_mut(url) {
            if Arc::ptr_eq(&k.body, &e.body) {
                return;
            }
            let later = fetched
                .duration_since(k.fetched)
                .is_ok_and(|d| d >= self.ages.ttl);
            if *k.body == *e.body && !later {
                k.body = Arc::clone(&e.body);
                return;
            }
        }
        let body = Arc::clone(&e.body);
        if st.known.len() >= known::MAX_KNOWN && !st.known.contains_key(url) {
            let oldest = st
                .known
                .iter()
                .min_by_key(|(_, k)| k.fetched)
                .map(|(u, _)| u.clone());
            if let Some(u) = oldest {
                st.known.remove(&u);
            }
        }
        let saved = self.book.get().map(|a| {
            let hash = known::url_hash(&a.salt, url);
            (a, known::Saved::new(hash, fetched, &body))
        });
        st.known.insert(url.to_string(), Known { body, fetched });
        drop(guard);
        // A file write, but a rare one: a new key, or the same one an hour later.
        if let Some((a, saved)) = saved {
            a.book.record(&a.name, saved);
        }
    }

    /// The URL to fetch for the one the provider names (its default, or the request's
    /// `SigningCertURL`): `key_url` if set, else `claimed` if the provider's rule allows it.
    pub fn source(&self, claimed: &str) -> Result<String, FetchError> {
        let claimed = Url::parse(claimed).map_err(|_| FetchError::NotAllowed)?;
        match &self.allow {
            Allow::Exact(u, rule) if provider_url(&claimed, *rule) => Ok(u.to_string()),
            Allow::Rule(rule) if provider_url(&claimed, *rule) => Ok(claimed.to_string()),
            _ => Err(FetchError::NotAllowed),
        }
    }

    /// The parsed URL if it may be fetched.
    pub fn allowed(&self, url: &str) -> Result<Url, FetchError> {
        let mut u = Url::parse(url).map_err(|_| FetchError::NotAllowed)?;
        u.set_fragment(None);
        let ok = match &self.allow {
            Allow::Exact(e, _) => u == *e,
            Allow::Rule(rule) => provider_url(&u, *rule),
        };
        ok.then_some(u).ok_or(FetchError::NotAllowed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::lock::lock(&self.state)
    }

    /// The cached body of `url`: fresh, or expired less than `stale` ago (its refetch failed
    /// or was deferred; `ensure` tries again).
    pub fn cached(&self, url: &str) -> Option<Arc<Vec<u8>>> {
        let mut st = self.lock();
        self.adopt(&mut st, url);
        st.cache
            .get(url)
            .filter(|e| e.at.elapsed() < self.ages.ttl + self.ages.stale)
            .map(|e| Arc::clone(&e.body))
    }

    /// Puts a body in the cache as if fetched now (tests; a warm start).
    pub fn prime(&self, url: &str, body: Vec<u8>) {
        let mut guard = self.lock();
        let st = &mut *guard;
        st.failed.remove(url);
        if st.cache.len() >= MAX_ENTRIES && !st.cache.contains_key(url) {
            st.cache
                .retain(|_, e| e.at.elapsed() < self.ages.ttl + self.ages.stale);
        }
        if st.cache.len() >= MAX_ENTRIES && !st.cache.contains_key(url) {
            // A known URL's body goes last: junk that fetches (another real certificate on the
            // provider's host) cannot push the genuine one out.
            let oldest = st
                .cache
                .iter()
                .min_by_key(|(k, e)| (st.known.contains_key(*k), e.at))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                st.cache.remove(&k);
            }
        }
        st.cache.insert(
            url.to_string(),
            Entry {
                body: Arc::new(body),
                at: Instant::now(),
            },
        );
    }

    /// Whether `url` needs fetching: nothing fresh is cached, or what is cached is not
    /// `usable` and was fetched more than a minute ago; and it did not fail within a minute.
    fn plan(&self, url: &str, usable: &(dyn Fn(&[u8]) -> bool + Sync)) -> Plan {
        let mut st = self.lock();
        self.adopt(&mut st, url);
        let entry = st.cache.get(url);
        match entry {
            Some(e) if e.at.elapsed() < self.ages.ttl && usable(&e.body) => return Plan::Keep,
            Some(e) if e.at.elapsed() < self.ages.min_refetch => return Plan::Keep,
            _ => {}
        }
        if st
            .failed
            .get(url)
            .is_some_and(|t| t.elapsed() < self.ages.min_refetch)
        {
            return Plan::Backoff;
        }
        Plan::Fetch {
            known: entry.is_some() || st.known.contains_key(url),
        }
    }

    /// Remembers that `url` failed to fetch, within `MAX_FAILED` URLs.
    fn failed(&self, url: &str) {
        let mut st = self.lock();
        if st.failed.len() >= MAX_FAILED && !st.failed.contains_key(url) {
            st.failed.retain(|_, t| t.elapsed() < self.ages.min_refetch);
            if st.failed.len() >= MAX_FAILED {
                let oldest = st
                    .failed
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    st.failed.remove(&k);
                }
            }
        }
        st.failed.insert(url.to_string(), Instant::now());
    }

    /// Takes one of the minute's fetches of URLs not cached, if any is left.
    fn spend(&self) -> bool {
        let mut st = self.lock();
        if st.window.elapsed() >= Duration::from_secs(60) {
            st.window = Instant::now();
            st.fetches = 0;
        }
        if st.fetches >= FETCHES_PER_MINUTE {
            return false;
        }
        st.fetches += 1;
        true
    }

    /// Makes sure a usable body of `url` is cached, fetching it if allowed.
    /// `url` may carry a `#fragment` naming one key of the endpoint (Plaid's key id): it keys
    /// the cache and is not sent. `post`: a JSON body to POST instead of a GET (Plaid's key
    /// endpoint takes the API credentials).
    pub async fn ensure(
        &self,
        url: &str,
        usable: &(dyn Fn(&[u8]) -> bool + Sync),
        post: Option<&[u8]>,
    ) -> Result<(), FetchError> {
        let parsed = self.allowed(url)?;
        let ready = |plan| match plan {
            Plan::Keep => Some(Ok(())),
            Plan::Backoff => Some(Err(FetchError::RecentlyFailed)),
            Plan::Fetch { .. } => None,
        };
        if let Some(done) = ready(self.plan(url, usable)) {
            return done;
        }
        // One fetch at a time: requests waiting here find the cache filled when they get in.
        let _flight = tokio::time::timeout(TIMEOUT, self.flight.lock())
            .await
            .map_err(|_| FetchError::RateLimited)?;
        let plan = self.plan(url, usable);
        if let Some(done) = ready(plan) {
            return done;
        }
        // A cached URL's refresh is bounded by the cache's size and the minute between
        // attempts, not by the budget junk can spend.
        if plan == (Plan::Fetch { known: false }) && !self.spend() {
            return Err(FetchError::RateLimited);
        }
        match self.get(parsed, post).await {
            Ok(body) => {
                self.prime(url, body);
                Ok(())
            }
            Err(e) => {
                self.failed(url);
                // A key server may take a token in the query: the URL is logged without it.
                let url = crate::secret::redact_url(url);
                tracing::warn!(%url, error = %e, "fetching a provider key failed");
                Err(e)
            }
        }
    }

    async fn get(&self, mut url: Url, post: Option<&[u8]>) -> Result<Vec<u8>, FetchError> {
        url.set_fragment(None);
        // Without the URL (reqwest's message names it, query and all): logged apart, redacted.
        let failed = |e: reqwest::Error| FetchError::Failed(e.without_url().to_string());
        let client = match self.client.get() {
            Some(c) => c,
            None => {
                let c = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(TIMEOUT)
                    .build()
                    .map_err(failed)?;
                self.client.get_or_init(|| c)
            }
        };
        let req = match post {
            Some(body) => client
                .post(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec()),
            None => client.get(url),
        };
        let mut resp = req.send().await.map_err(failed)?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Failed(format!("status {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::Failed("key document too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests;
