//! Keys and certificates fetched from a provider's own hosts (Google's JWKS for Pub/Sub push).
//!
//! Only from the hosts the provider documents: https, the host matched exactly after URL
//! parsing, no credentials or port in the URL, redirects not followed. A route's `key_url`
//! replaces the provider's URL (a mirror, or a test fixture: plain http is allowed only to a
//! loopback address). Fetched bodies are cached (1 hour, at most 32 URLs, 256 KiB each), and a
//! sender cannot turn requests into outbound fetches: one fetch at a time per route, no refetch
//! of a URL within a minute of the last (an unknown `kid` waits for that), and at most ten
//! fetches a minute in all. When nothing usable is cached the request is refused (fail closed).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::Url;

const TTL: Duration = Duration::from_secs(3600);
const MIN_REFETCH: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 32;
const MAX_BYTES: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const FETCHES_PER_MINUTE: u32 = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("key URL is not one of the provider's hosts")]
    NotAllowed,
    #[error("too many key fetches; try again later")]
    RateLimited,
    #[error("key fetch failed: {0}")]
    Failed(String),
}

/// Where keys may come from.
#[derive(Debug, Clone)]
pub enum Allow {
    /// `https://<one of these hosts>/...`, default port.
    Hosts(&'static [&'static str]),
    /// The route's `key_url`: exactly this URL.
    Exact(Url),
}

struct Entry {
    body: Arc<Vec<u8>>,
    at: Instant,
}

struct State {
    cache: HashMap<String, Entry>,
    window: Instant,
    fetches: u32,
}

pub struct KeyFetcher {
    allow: Allow,
    client: OnceLock<reqwest::Client>,
    state: Mutex<State>,
    flight: tokio::sync::Mutex<()>,
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
    /// `key_url`, when set, replaces the provider's hosts (https, or http to loopback only).
    pub fn new(
        hosts: &'static [&'static str],
        key_url: Option<&str>,
    ) -> Result<KeyFetcher, String> {
        let allow = match key_url {
            None => Allow::Hosts(hosts),
            Some(u) => {
                let url = Url::parse(u).map_err(|e| format!("key_url {u:?}: {e}"))?;
                let ok = url.scheme() == "https" || (url.scheme() == "http" && loopback(&url));
                if !ok || url.username() != "" || url.password().is_some() {
                    return Err(format!(
                        "key_url {u:?} must be https (plain http only to a loopback address), without credentials"
                    ));
                }
                Allow::Exact(url)
            }
        };
        Ok(KeyFetcher {
            allow,
            client: OnceLock::new(),
            state: Mutex::new(State {
                cache: HashMap::new(),
                window: Instant::now(),
                fetches: 0,
            }),
            flight: tokio::sync::Mutex::new(()),
        })
    }

    /// The URL to fetch when the provider names none per request: `key_url` or `default`.
    pub fn url_or(&self, default: &str) -> String {
        match &self.allow {
            Allow::Exact(u) => u.to_string(),
            Allow::Hosts(_) => default.to_string(),
        }
    }

    /// The parsed URL if it may be fetched.
    pub fn allowed(&self, url: &str) -> Result<Url, FetchError> {
        let u = Url::parse(url).map_err(|_| FetchError::NotAllowed)?;
        let ok = match &self.allow {
            Allow::Exact(e) => u == *e,
            Allow::Hosts(hosts) => {
                u.scheme() == "https"
                    && u.port().is_none()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.host_str().is_some_and(|h| hosts.contains(&h))
            }
        };
        ok.then_some(u).ok_or(FetchError::NotAllowed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached body of `url`, if fresh.
    pub fn cached(&self, url: &str) -> Option<Arc<Vec<u8>>> {
        let st = self.lock();
        st.cache
            .get(url)
            .filter(|e| e.at.elapsed() < TTL)
            .map(|e| Arc::clone(&e.body))
    }

    /// Puts a body in the cache as if fetched now (tests; a warm start).
    pub fn prime(&self, url: &str, body: Vec<u8>) {
        let mut st = self.lock();
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
    /// `usable` and was fetched more than a minute ago.
    fn wants(&self, url: &str, usable: &(dyn Fn(&[u8]) -> bool + Sync)) -> bool {
        let st = self.lock();
        match st.cache.get(url) {
            Some(e) if e.at.elapsed() < TTL && usable(&e.body) => false,
            Some(e) => e.at.elapsed() >= MIN_REFETCH,
            None => true,
        }
    }

    /// Makes sure a usable body of `url` is cached, fetching it if allowed.
    pub async fn ensure(
        &self,
        url: &str,
        usable: &(dyn Fn(&[u8]) -> bool + Sync),
    ) -> Result<(), FetchError> {
        let parsed = self.allowed(url)?;
        if !self.wants(url, usable) {
            return Ok(());
        }
        // One fetch at a time: requests waiting here find the cache filled when they get in.
        let _flight = tokio::time::timeout(TIMEOUT, self.flight.lock())
            .await
            .map_err(|_| FetchError::RateLimited)?;
        if !self.wants(url, usable) {
            return Ok(());
        }
        {
            let mut st = self.lock();
            if st.window.elapsed() >= Duration::from_secs(60) {
                st.window = Instant::now();
                st.fetches = 0;
            }
            if st.fetches >= FETCHES_PER_MINUTE {
                return Err(FetchError::RateLimited);
            }
            st.fetches += 1;
        }
        let body = self.get(parsed).await.inspect_err(|e| {
            tracing::warn!(url, error = %e, "fetching a provider key failed");
        })?;
        self.prime(url, body);
        Ok(())
    }

    async fn get(&self, url: Url) -> Result<Vec<u8>, FetchError> {
        let failed = |e: reqwest::Error| FetchError::Failed(e.to_string());
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
        let mut resp = client.get(url).send().await.map_err(failed)?;
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
        let f = KeyFetcher::new(&["www.googleapis.com"], None).unwrap();
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
        assert!(KeyFetcher::new(&[], Some("http://example.com/jwks")).is_err());
        let local = KeyFetcher::new(&[], Some("http://127.0.0.1:9/jwks")).unwrap();
        assert!(local.allowed("http://127.0.0.1:9/jwks").is_ok());
        assert!(local.allowed("http://127.0.0.1:9/other").is_err());
    }

    #[test]
    fn cache_is_bounded() {
        let f = KeyFetcher::new(&["h"], None).unwrap();
        for i in 0..(MAX_ENTRIES + 5) {
            f.prime(&format!("https://h/{i}"), vec![1]);
        }
        assert_eq!(f.lock().cache.len(), MAX_ENTRIES);
        assert!(
            f.cached(&format!("https://h/{}", MAX_ENTRIES + 4))
                .is_some()
        );
    }
}
