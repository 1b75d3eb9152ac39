//! Contentful: `x-contentful-signature` = hex HMAC-SHA256 of the canonical request (method, the
//! path of `public_url`, the headers named in `x-contentful-signed-headers`, the body), with
//! `x-contentful-timestamp` in milliseconds; 30-second window (the toolkit's default TTL).

use crate::verify::contentful::{
    ContentfulVerifier, SIGNATURE, SIGNED_HEADERS, TIMESTAMP, canonical, normalized_path,
};

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "contentful",
    keys: &["secrets", "public_url", "tolerance"],
    window: Some(30),
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["x-contentful-signature", "x-contentful-timestamp", "x-contentful-signed-headers"],
        scheme: "HMAC-SHA256 of the canonical request (method, path, listed headers, body), hex",
        handshake: "",
    },
    sample: r#"{"sys":{"type":"Entry","id":"{id}","space":{"sys":{"type":"Link","linkType":"Space","id":"yadj1kx9rmg0"}},"environment":{"sys":{"id":"master","type":"Link","linkType":"Environment"}},"revision":3,"updatedAt":"2025-11-01T12:26:40.000Z"},"fields":{"title":{"en-US":"Hello"}}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let url = s.need_url("contentful")?;
    let check = Check::Contentful(ContentfulVerifier::new(&s.secrets, &url, s.window())?);
    Ok((check, None))
}

const TOPIC: &str = "x-contentful-topic";

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let u = d.url.ok_or("contentful signs the URL's path: give --url")?;
    let after_scheme = u.split_once("://").map_or(u, |(_, r)| r);
    let path = after_scheme
        .find('/')
        .and_then(|i| after_scheme.get(i..))
        .unwrap_or("/");
    let ms = (d.now * 1000).to_string();
    let topic = "ContentManagement.Entry.publish";
    let listed = [SIGNED_HEADERS, TIMESTAMP, TOPIC];
    let mut names = listed.to_vec();
    names.sort_unstable();
    let headers = vec![
        (SIGNED_HEADERS.to_string(), names.join(",")),
        (TIMESTAMP.to_string(), ms.clone()),
        (TOPIC.to_string(), topic.to_string()),
    ];
    let msg = canonical("POST", &normalized_path(path), &headers, &d.body);
    let sig = hex::encode(d.hmac(Algorithm::Sha256, &[&msg])?);
    d.header(TOPIC, topic);
    d.header(TIMESTAMP, ms);
    d.header(SIGNED_HEADERS, names.join(","));
    d.header(SIGNATURE, sig);
    d.header("Content-Type", "application/vnd.contentful.management.v1+json");
    Ok(())
}
