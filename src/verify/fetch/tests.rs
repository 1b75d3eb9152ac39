//! The fetcher's bounds, its known keys and its hosts.

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

#[test]
fn junk_that_fetches_cannot_push_a_known_key_out_of_the_cache() {
    let f = KeyFetcher::new(googleapis, None).unwrap();
    f.prime("https://h/genuine", b"key".to_vec());
    f.vouch("https://h/genuine");
    // Other real documents on the provider's host, named by junk and fetched.
    for i in 0..(MAX_ENTRIES + 5) {
        f.prime(&format!("https://h/{i}"), vec![1]);
    }
    assert_eq!(f.lock().cache.len(), MAX_ENTRIES);
    assert_eq!(
        f.cached("https://h/genuine").as_deref(),
        Some(&b"key".to_vec())
    );
}

/// What verified a genuine message is in the book: a new fetcher (a reload) or a new book read
/// from the file (a restart) has it cached; one with another salt (another Plaid client id)
/// does not. One known but past its usable age is refetched outside the budget junk spends.
#[tokio::test]
async fn known_keys_carry_over_to_new_fetchers_and_are_refreshed_outside_the_budget() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let genuine = format!("{DEAD}#genuine");
    let fetcher = |book: &Arc<KeyBook>, salt: &str| {
        let f = KeyFetcher::new(googleapis, Some(DEAD)).unwrap();
        f.attach(
            Arc::clone(book),
            "r/0".into(),
            salt.into(),
            book.saved("r/0"),
        );
        f
    };
    let book = Arc::new(KeyBook::open(dir.path()));
    let first = fetcher(&book, "client");
    first.prime(&genuine, b"key".to_vec());
    first.vouch(&genuine);
    let reloaded = fetcher(&book, "client");
    assert_eq!(reloaded.cached(&genuine).as_deref(), Some(&b"key".to_vec()));
    let restarted = Arc::new(KeyBook::open(dir.path()));
    assert_eq!(
        fetcher(&restarted, "client").cached(&genuine).as_deref(),
        Some(&b"key".to_vec())
    );
    assert!(fetcher(&restarted, "another").cached(&genuine).is_none());
    // Recorded two days ago: not usable, still known.
    let old = known::Saved::new(
        known::url_hash("client", &genuine),
        SystemTime::now() - Duration::from_secs(48 * 3600),
        b"key",
    );
    let f = KeyFetcher::new(googleapis, Some(DEAD)).unwrap();
    f.attach(
        Arc::new(KeyBook::memory()),
        "r/0".into(),
        "client".into(),
        vec![old],
    );
    assert!(f.cached(&genuine).is_none());
    let any = |_: &[u8]| true;
    for i in 0..FETCHES_PER_MINUTE {
        let _ = f.ensure(&format!("{DEAD}#junk{i}"), &any, None).await;
    }
    let junk = f.ensure(&format!("{DEAD}#junk-new"), &any, None).await;
    assert_eq!(junk, Err(FetchError::RateLimited));
    let got = f.ensure(&genuine, &any, None).await;
    assert!(matches!(got, Err(FetchError::Failed(_))), "{got:?}");
}
