//! PayPal signs the body only through its CRC32, which anyone can match: each transmission id is
//! taken for one body, on every replica, so a captured delivery's headers carry no other body.

use super::*;
use crate::common::redis_server::RedisServer;

/// The "valid" vector, a key server with its certificate, and the config of a PayPal route
/// taking it from there, delivering to `up`.
fn paypal_config(up: &Upstream) -> (Vector, Upstream, String) {
    let v = vector("paypal", "valid");
    let keys = key_server(v.key_document.as_deref().unwrap());
    let paypal = route(
        "paypal",
        &format!(
            "provider = \"paypal\", sender = {:?}, key_url = {:?}, tolerance = \"5000d\"",
            v.sender.clone().unwrap(),
            keys.url("/cert")
        ),
    );
    let body = format!("{}\n{paypal}", upstream_block("up", &up.url("/"), ""));
    (v, keys, body)
}

/// `body` and 64 blanks, each a space or a tab, chosen so that the CRC32 is `target`: CRC32 is
/// affine over GF(2), so turning one blank into a tab flips a fixed set of its bits, and 32
/// independent flips reach any value.
fn crc32_matched(body: &[u8], target: u32) -> Vec<u8> {
    const N: usize = 64;
    let mut out = [body, &[b' '; N]].concat();
    let base = crc32fast::hash(&out);
    // basis[bit]: a combination of flips (its CRC change, which blanks) whose top bit is `bit`.
    let mut basis: [Option<(u32, u64)>; 32] = [None; 32];
    for i in 0..N {
        let mut flipped = out.clone();
        flipped[body.len() + i] = b'\t';
        let (mut v, mut m) = (crc32fast::hash(&flipped) ^ base, 1u64 << i);
        while v != 0 {
            let top = 31 - v.leading_zeros() as usize;
            match basis[top] {
                Some((bv, bm)) => (v, m) = (v ^ bv, m ^ bm),
                None => {
                    basis[top] = Some((v, m));
                    break;
                }
            }
        }
    }
    let (mut want, mut flips) = (base ^ target, 0u64);
    while want != 0 {
        let (bv, bm) = basis[31 - want.leading_zeros() as usize].expect("flips of full rank");
        (want, flips) = (want ^ bv, flips ^ bm);
    }
    for i in (0..N).filter(|i| flips >> i & 1 == 1) {
        out[body.len() + i] = b'\t';
    }
    assert_eq!(crc32fast::hash(&out), target);
    out
}

/// The vector's genuine body and another event (another `id` and amount) with its CRC32.
fn genuine_and_forged(v: &Vector) -> (Vec<u8>, Vec<u8>) {
    let genuine = base64::engine::general_purpose::STANDARD
        .decode(&v.request.body_b64)
        .unwrap();
    let mut doc: Value = serde_json::from_slice(&genuine).unwrap();
    doc["id"] = "WH-FORGED".into();
    doc["resource"]["amount"]["value"] = "9999.00".into();
    let forged = crc32_matched(
        &serde_json::to_vec(&doc).unwrap(),
        crc32fast::hash(&genuine),
    );
    (genuine, forged)
}

/// A second body under a transmission id already taken is refused (401, as a Mailgun token used
/// for another body), even though its signature verifies; the same delivery again (PayPal's
/// retry) is the duplicate it is: 200, delivered once.
#[tokio::test]
async fn a_paypal_transmission_id_carries_one_body() {
    let up = Upstream::start();
    let (v, _keys, body) = paypal_config(&up);
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let (genuine, forged) = genuine_and_forged(&v);
    let url = || gw.url("/hooks/paypal");
    let (status, text) = send(&c, url(), &v, Some(genuine.clone())).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = send(&c, url(), &v, Some(genuine.clone())).await;
    assert_eq!(status, 200, "PayPal's retry: {text}");
    let (status, text) = send(&c, url(), &v, Some(forged)).await;
    assert_eq!(status, 401, "another body, same CRC32: {text}");
    assert!(text.contains("already used"), "{text}");
    let got = up.settled().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, genuine);
}

/// The claim is shared by Redis replicas: taken on one, another body is refused on the other,
/// where the genuine retry is still a duplicate.
#[tokio::test]
async fn a_paypal_transmission_id_taken_on_one_redis_replica_is_taken_on_another() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let (v, _keys, body) = paypal_config(&up);
    let store = |consumer: &str| {
        Some(
            redis
                .store_block()
                .replace("consumer = \"a\"", &format!("consumer = \"{consumer}\"")),
        )
    };
    let a = Gateway::start_full("", store("a"), "", &body, &[]);
    let b = Gateway::start_full("", store("b"), "", &body, &[]);
    let c = client();
    let (genuine, forged) = genuine_and_forged(&v);
    let (status, text) = send(&c, a.url("/hooks/paypal"), &v, Some(genuine.clone())).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = send(&c, b.url("/hooks/paypal"), &v, Some(forged)).await;
    assert_eq!(status, 401, "{text}");
    let (status, text) = send(&c, b.url("/hooks/paypal"), &v, Some(genuine.clone())).await;
    assert_eq!(status, 200, "a retry on the other replica: {text}");
    let got = up.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, genuine);
}
