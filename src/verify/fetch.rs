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

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

struct State {
    cache: HashMap<String, Entry>,
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
    /// Fetch it; `known`: a body of it is cached (a refresh, outside the budget of new URLs).
    Fetch { known: bool },
}

pub struct KeyFetcher {
    allow: Allow,
    ages: Ages,
    client: OnceLock<reqwest::Client>,
    state: Mutex<State>,
    flight: tokio::sync::Mutex<()>,
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
                failed: HashMap::new(),
                window: Instant::now(),
                fetches: 0,
            }),
            flight: tokio::sync::Mutex::new(()),
        })
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
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached body of `url`: fresh, or expired less than `stale` ago (its refetch failed
    /// or was deferred; `ensure` tries again).
    pub fn cached(&self, url: &str) -> Option<Arc<Vec<u8>>> {
        let st = self.lock();
        st.cache
            .get(url)
            .filter(|e| e.at.elapsed() < self.ages.ttl + self.ages.stale)
            .map(|e| Arc::clone(&e.body))
    }

    /// Puts a body in the cache as if fetched now (tests; a warm start).
    pub fn prime(&self, url: &str, body: Vec<u8>) {
        let mut st = self.lock();
        st.failed.remove(url);
        if st.cache.len() >= MAX_ENTRIES && !st.cache.contains_key(url) {
            st.cache
                .retain(|_, e| e.at.elapsed() < self.ages.ttl + self.ages.stale);
        }
        if st.cache.len() >= MAX_ENTRIES && !st.cache.contains_key(url) {
            let oldest = st
                .cache
                .iter()
                .min_by_key(|(_, e)| e.at)
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
        let st = self.lock();
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
            known: entry.is_some(),
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
mod tests {
    use super::*;

    #[test]
    fn only_the_providers_hosts() {
        let f = KeyFetcher::new(googleapis, None).unwrap();
        assert!(
            f.allowed("https://www.googleapis.com/oauth2/v3/certs")
                .is_ok()
        );
        for bad in [
            "http://www.googleapis.com/oauth2/v3/certs",
            "https://www.googleapis.com.evil.example/x",
            "https://evil.example/www.googleapis.com",
            "https://www.googleapis.com:8443/x",
            "https://user@www.googleapis.com/x",
            "https://evilwww.googleapis.com/x",
            "not a url",
        ] {
            assert_eq!(f.allowed(bad).err(), Some(FetchError::NotAllowed), "{bad}");
        }
        assert!(KeyFetcher::new(googleapis, Some("http://example.com/jwks")).is_err());
        let local = KeyFetcher::new(googleapis, Some("http://127.0.0.1:9/jwks")).unwrap();
        assert_eq!(
            local
                .source("https://www.googleapis.com/oauth2/v3/certs")
                .as_deref(),
            Ok("http://127.0.0.1:9/jwks")
        );
        assert!(local.source("https://evil.example/certs").is_err());
        assert!(local.allowed("http://127.0.0.1:9/jwks").is_ok());
        assert!(local.allowed("http://127.0.0.1:9/other").is_err());
    }

    #[test]
    fn sns_certificates_only_from_sns_hosts() {
        let f = KeyFetcher::new(sns_cert, None).unwrap();
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
        ] {
            assert!(f.source(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem.txt",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:444/x.pem",
            "https://sns.a.amazonaws.com/x.pem",
            "https://s3.us-east-1.amazonaws.com/x.pem",
            "https://sns.us_east.amazonaws.com/x.pem",
        ] {
            assert_eq!(f.source(bad), Err(FetchError::NotAllowed), "{bad}");
        }
    }

    #[test]
    fn cache_is_bounded() {
        let f = KeyFetcher::new(googleapis, None).unwrap();
        for i in 0..(MAX_ENTRIES + 5) {
            f.prime(&format!("https://h/{i}"), vec![1]);
        }
        assert_eq!(f.lock().cache.len(), MAX_ENTRIES);
        assert!(
            f.cached(&format!("https://h/{}", MAX_ENTRIES + 4))
                .is_some()
        );
    }

    /// A key server that refuses connections (nothing listens on port 1).
    const DEAD: &str = "http://127.0.0.1:1/keys";

    fn backdate(f: &KeyFetcher, url: &str, by: Duration) {
        let at = Instant::now().checked_sub(by).expect("uptime");
        f.lock().cache.get_mut(url).expect("cached").at = at;
    }

    #[tokio::test]
    async fn junk_cannot_starve_a_known_key_and_an_expired_one_serves_while_refetch_fails() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut f = KeyFetcher::new(googleapis, Some(DEAD)).unwrap();
        let any = |_: &[u8]| true;
        let genuine = format!("{DEAD}#genuine");
        f.prime(&genuine, b"key".to_vec());
        // Junk key ids: each fails once and is not tried again within the minute; they spend
        // the budget of new URLs.
        for i in 0..FETCHES_PER_MINUTE {
            let got = f.ensure(&format!("{DEAD}#junk{i}"), &any, None).await;
            assert!(matches!(got, Err(FetchError::Failed(_))), "{got:?}");
        }
        let again = f.ensure(&format!("{DEAD}#junk0"), &any, None).await;
        assert_eq!(again, Err(FetchError::RecentlyFailed));
        let fresh = f.ensure(&format!("{DEAD}#junk-new"), &any, None).await;
        assert_eq!(fresh, Err(FetchError::RateLimited));
        // The genuine key expires: its refresh is still attempted (outside that budget), fails,
        // and the expired body is used meanwhile.
        f.ages.ttl = Duration::from_secs(90);
        backdate(&f, &genuine, Duration::from_secs(100));
        let got = f.ensure(&genuine, &any, None).await;
        assert!(matches!(got, Err(FetchError::Failed(_))), "{got:?}");
        assert_eq!(f.cached(&genuine).as_deref(), Some(&b"key".to_vec()));
        let again = f.ensure(&genuine, &any, None).await;
        assert_eq!(again, Err(FetchError::RecentlyFailed));
        // Not for ever: `stale` past its expiry it is gone.
        f.ages.stale = Duration::from_secs(5);
        assert!(f.cached(&genuine).is_none());
    }

    #[test]
    fn remembered_failures_are_bounded() {
        let f = KeyFetcher::new(googleapis, None).unwrap();
        for i in 0..(MAX_FAILED + 5) {
            f.failed(&format!("https://h/{i}"));
        }
        assert_eq!(f.lock().failed.len(), MAX_FAILED);
        assert!(
            f.lock()
                .failed
                .contains_key(&format!("https://h/{}", MAX_FAILED + 4))
        );
    }
}
