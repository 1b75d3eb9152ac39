//! Keys that verified a genuine delivery stay known across a restart and a reload: junk naming
//! new key URLs cannot spend the minute's fetches before the genuine key is back. And an SNS
//! certificate is taken only from the SNS host of the topic's own region.

use super::*;
use crate::common::redis_server::RedisServer;

/// Sends `n` Plaid tokens naming fresh key ids (`tag` keeps them apart): each passes the
/// unsigned checks and costs a fetch while the minute's budget lasts, and each is refused.
async fn spray_key_ids(c: &reqwest::Client, gw: &Gateway, v: &Vector, tag: &str, n: usize) {
    for i in 0..n {
        let junk = with_kid(v, "plaid-verification", "ES256", &format!("{tag}-{i}"));
        let (status, text) = send(c, gw.url("/hooks/plaid"), &junk, None).await;
        assert_eq!(status, 401, "{text}");
    }
}

/// A genuine Plaid delivery verifies (its key fetched); the process restarts; junk naming
/// twelve fresh key ids spends the minute's ten fetches of new URLs; the genuine delivery still
/// verifies. The same after a reload, which builds the routes' verifiers anew.
#[tokio::test]
async fn a_restart_or_a_reload_keeps_the_genuine_key_known_against_junk_key_ids() {
    restart_and_reload_keep_known_keys(None).await;
}

/// The same with the Redis store: the known keys are in the spill's directory.
#[tokio::test]
async fn with_the_redis_store_a_restart_keeps_the_genuine_key_known() {
    let redis = RedisServer::start();
    restart_and_reload_keep_known_keys(Some(redis.store_block())).await;
}

async fn restart_and_reload_keep_known_keys(store: Option<String>) {
    let up = Upstream::start();
    let valid = vector("plaid", "valid");
    let keys = key_server(valid.key_document.as_deref().unwrap());
    let (secrets, sender) = plaid_credentials(&valid);
    let routes = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        plaid_route(&keys, &secrets, &sender)
    );
    let mut gw = Gateway::start_full("", store, "", &routes, &[]);
    let c = client();
    let (status, text) = send(&c, gw.url("/hooks/plaid"), &valid, None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(keys.count(), 1);

    gw.terminate();
    gw.spawn();
    // A new client: the old one's pooled connection went with the old process.
    let c = client();
    spray_key_ids(&c, &gw, &valid, "after-restart", 12).await;
    assert_eq!(keys.count(), 11, "the junk spent the minute's fetches");
    let (status, text) = send(&c, gw.url("/hooks/plaid"), &valid, None).await;
    assert_eq!(status, 200, "after a restart: {text}");

    // A reload (another upstream added) builds the route's verifier anew.
    gw.rewrite_config(
        "",
        &format!("{routes}\n{}", upstream_block("up2", &up.url("/"), "")),
    );
    gw.signal("HUP");
    let reloaded = eventually(Duration::from_secs(10), async || {
        gw.logs().contains("config reloaded").then_some(())
    })
    .await;
    assert!(reloaded.is_some(), "{}", gw.logs());
    spray_key_ids(&c, &gw, &valid, "after-reload", 12).await;
    let (status, text) = send(&c, gw.url("/hooks/plaid"), &valid, None).await;
    assert_eq!(status, 200, "after a reload: {text}");
    // The same delivery each time: one event, kept across the restart.
    up.wait_for(1).await;
}

/// The vector's SNS message (topic in us-east-1) naming its certificate on another region's
/// SNS host (`SigningCertURL` is not among the signed fields, so the signature still holds).
fn sns_cert_on(v: &Vector, host: &str) -> Vector {
    let mut v = v.clone();
    let body = base64::engine::general_purpose::STANDARD
        .decode(&v.request.body_b64)
        .unwrap();
    let mut doc: Value = serde_json::from_slice(&body).unwrap();
    let url = doc["SigningCertURL"].as_str().unwrap().to_string();
    let path = url.split_once(".com").unwrap().1;
    doc["SigningCertURL"] = Value::String(format!("https://{host}{path}"));
    v.request.body_b64 =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&doc).unwrap());
    v
}

/// A topic in us-east-1 is signed with a certificate from `sns.us-east-1.amazonaws.com`: one
/// named on another region's host (or China's partition) is refused before any fetch, as the
/// AWS SDK for Java's `SnsMessageManager` refuses a certificate URL not on its region's
/// endpoint.
#[tokio::test]
async fn an_sns_certificate_from_another_regions_host_is_refused() {
    let valid = vector("aws-sns", "valid");
    let (_up, keys, gw) = sns_gateway(&valid);
    let c = client();
    for host in [
        "sns.us-west-2.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
    ] {
        let moved = sns_cert_on(&valid, host);
        let (status, text) = send(&c, gw.url("/hooks/aws-sns"), &moved, None).await;
        assert_eq!(status, 401, "{host}: {text}");
    }
    assert_eq!(
        keys.count(),
        0,
        "another region's certificate URL caused a fetch"
    );
    let same = sns_cert_on(&valid, "sns.us-east-1.amazonaws.com");
    let (status, text) = send(&c, gw.url("/hooks/aws-sns"), &same, None).await;
    assert_eq!(status, 200, "{text}");
}
