//! Key fetching under junk and rotation: junk naming key URLs cannot spend a route's fetches,
//! and Plaid's key endpoint is asked with an active API secret.

use super::*;

/// Junk naming key URLs that fail cannot spend the route's fetches: a URL that failed is not
/// fetched again within a minute, and junk failing the cheap unsigned checks (SNS without
/// this route's TopicArn) is refused before any fetch. The genuine key is fetched afterwards.
#[tokio::test]
async fn failing_junk_key_urls_do_not_starve_the_genuine_key() {
    let up = Upstream::start();
    let plaid = vector("plaid", "valid");
    let sns = vector("aws-sns", "valid");
    let plaid_keys = Upstream::start();
    plaid_keys.set_default(Reply::status(400));
    let sns_keys = Upstream::start();
    sns_keys.set_default(Reply::status(404));
    let body = format!(
        "{}\n{}{}",
        upstream_block("up", &up.url("/"), ""),
        {
            let (secrets, sender) = plaid_credentials(&plaid);
            plaid_route(&plaid_keys, &secrets, &sender)
        },
        sns_route(&sns, &sns_keys),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let nope = with_kid(&plaid, "plaid-verification", "ES256", "nope");
    for _ in 0..10 {
        let (status, text) = send(&c, gw.url("/hooks/plaid"), &nope, None).await;
        assert_eq!(status, 401, "{text}");
    }
    assert!(
        plaid_keys.count() <= 1,
        "{} fetches of a failing key id",
        plaid_keys.count()
    );
    let junk = br#"{"SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem"}"#;
    for _ in 0..10 {
        let resp = c
            .post(gw.url("/hooks/aws-sns"))
            .body(junk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    assert_eq!(sns_keys.count(), 0, "junk without the topic caused fetches");
    // The key servers now serve the genuine keys: the genuine deliveries verify.
    plaid_keys.set_default(Reply {
        body: Box::leak(plaid.key_document.clone().unwrap().into_boxed_str()),
        ..Reply::status(200)
    });
    sns_keys.set_default(Reply {
        body: Box::leak(sns.key_document.clone().unwrap().into_boxed_str()),
        ..Reply::status(200)
    });
    let (status, text) = send(&c, gw.url("/hooks/plaid"), &plaid, None).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = send(&c, gw.url("/hooks/aws-sns"), &sns, None).await;
    assert_eq!(status, 200, "{text}");
    up.wait_for(2).await;
}

/// Plaid's key endpoint is asked with an API secret active now: with the old secret retired
/// (`not_after` passed) and listed first, the new one is sent (Plaid refuses a rotated-out
/// secret, and no key would be fetched).
#[tokio::test]
async fn plaid_keys_are_asked_for_with_an_active_api_secret() {
    let up = Upstream::start();
    let valid = vector("plaid", "valid");
    let keys = key_server(valid.key_document.as_deref().unwrap());
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        plaid_route(
            &keys,
            &format!(
                "[{{ secret = \"old-api-secret\", not_after = \"2000-01-01T00:00:00Z\" }}, {:?}]",
                valid.secret.clone().unwrap()
            ),
            &format!("{:?}", valid.sender.clone().unwrap()),
        ),
    );
    let gw = Gateway::start("", &body, &[]);
    let (status, text) = send(&client(), gw.url("/hooks/plaid"), &valid, None).await;
    assert_eq!(status, 200, "{text}");
    let asked: Value = serde_json::from_slice(&keys.received()[0].body).unwrap();
    assert_eq!(asked["secret"], valid.secret.clone().unwrap());
}
