//! Dropbox: `X-Dropbox-Signature: <hex HMAC-SHA256 of the body>` with the app secret; answers
//! the GET `?challenge=` with the challenge as `text/plain` (`nosniff`).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "dropbox",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Dropbox-Signature"],
        scheme: "HMAC-SHA256 of the body (app secret), hex",
        handshake: "GET ?challenge= echoed as text/plain",
    },
    sample: r#"{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},"delta":{"users":[{id}]}}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Dropbox-Signature", "", Algorithm::Sha256, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, Some(Handshake::Challenge(Challenge::Dropbox))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
