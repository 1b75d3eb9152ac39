//! WorkOS: `WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256 of "{t}.{body}">`; 3-minute window
//! (the SDK's default), both ways.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "workos",
    keys: &["secrets", "tolerance"],
    window: Some(180),
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["WorkOS-Signature"],
        scheme: "HMAC-SHA256 of `{t}.{body}` (t in ms), hex in `v1=`",
        handshake: "",
    },
    sample: r#"{"id":"event_{id}","event":"user.created","data":{"object":"user","id":"user_01E4ZCR3C56J083X43JQXF3JK5","email":"todd@example.com","first_name":"Todd","last_name":"Rundgren","email_verified":true,"created_at":"2025-11-01T12:26:39.000Z","updated_at":"2025-11-01T12:26:39.000Z"},"created_at":"2025-11-01T12:26:40.000Z"}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: StampedList = StampedList {
    header: "WorkOS-Signature",
    encoding: Encoding::HexLower,
    millis: true,
    empty_body: true,
};
