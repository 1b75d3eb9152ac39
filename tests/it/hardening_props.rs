//! What the property tests (tests/it/properties/) found, end to end against a real hookgate.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::upstream::Upstream;
use common::{Gateway, client, eventually, upstream_block};
use ring::signature::KeyPair as _;

/// Discord (and SendGrid) sign `timestamp + body` with nothing between the two, and check no
/// timestamp unless `tolerance` is set. Moving the timestamp's last digit to the front of the
/// body kept the signed bytes, so the signature still verified, the body was new (no
/// duplicate) and the replay was delivered a second time.
#[tokio::test]
async fn discord_signed_bytes_cannot_move_from_timestamp_to_body() {
    let seed = [7u8; 32];
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let public = hex::encode(pair.public_key().as_ref());
    let up = Upstream::start();
    let gw = Gateway::start(
        "",
        &format!(
            "{}\n[routes.discord]\npath = \"/hooks/discord\"\nupstream = \"up\"\nverify = {{ provider = \"discord\", public_key = \"{public}\" }}\n",
            upstream_block("up", &up.url("/in"), "")
        ),
        &[],
    );
    let c = client();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let body = r#"{"type":2,"id":"1234567890","data":{"name":"pay"}}"#;
    let sig = hex::encode(pair.sign(format!("{ts}{body}").as_bytes()).as_ref());
    let send = |ts: String, body: String| {
        c.post(gw.url("/hooks/discord"))
            .header("content-type", "application/json")
            .header("x-signature-ed25519", sig.clone())
            .header("x-signature-timestamp", ts)
            .body(body)
            .send()
    };
    let first = send(ts.clone(), body.to_string()).await.unwrap();
    assert_eq!(first.status(), 200, "{:?}", first.text().await);

    // The same signed bytes, split one digit earlier.
    let (head, last) = ts.split_at(ts.len() - 1);
    let shifted = send(head.to_string(), format!("{last}{body}"))
        .await
        .unwrap();
    let status = shifted.status().as_u16();
    let text = shifted.text().await.unwrap_or_default();
    assert!((400..500).contains(&status), "{status}: {text}");

    // And the other way: the body's first byte into the timestamp.
    let (b0, rest) = body.split_at(1);
    let shifted = send(format!("{ts}{b0}"), rest.to_string()).await.unwrap();
    assert!(shifted.status().is_client_error(), "{}", shifted.status());

    // Exactly one delivery: the original.
    eventually(Duration::from_secs(5), async || {
        (!up.received().is_empty()).then_some(())
    })
    .await
    .expect("the signed event is delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = up.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body.as_ref(), body.as_bytes());
}
