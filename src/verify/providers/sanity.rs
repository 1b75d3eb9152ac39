//! Sanity: `sanity-webhook-signature: t=<ms>,v1=<base64url HMAC-SHA256 of "{t}.{body}">`; no
//! empty body. Sanity documents no window and @sanity/webhook checks none: 5 minutes both ways.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "sanity",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "header:idempotency-key",
    methods: POST,
    about: About {
        headers: &["sanity-webhook-signature"],
        scheme: "HMAC-SHA256 of `{t}.{body}` (t in ms), unpadded base64url in `v1=`",
        handshake: "",
    },
    sample: r#"{"_id":"movie_{id}","_type":"movie","_rev":"7oE3mWkRe2BH1nAJZ9v2aB","title":"Alien","releaseDate":"1979-05-25","slug":{"_type":"slug","current":"alien"}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: StampedList = StampedList {
    header: "sanity-webhook-signature",
    encoding: Encoding::Base64Url,
    millis: true,
    empty_body: false,
};
