//! Square: `x-square-hmacsha256-signature: <base64 HMAC-SHA256 of "{url}{body}">` over the
//! notification URL configured at Square.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "square",
    keys: &["secrets", "public_url"],
    window: None,
    event_id: "json:/event_id",
    methods: POST,
    about: About {
        headers: &["x-square-hmacsha256-signature"],
        scheme: "HMAC-SHA256 of notification URL + body, base64",
        handshake: "",
    },
    sample: r#"{"event_id":"{id}","type":"payment.created","data":{"id":"{id}"}}"#,
    samples: super::samples::square::ALL,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("{url}{body}"),
        public_url: Some(s.need_url("square")?),
        allow_empty_body: false,
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            header("x-square-hmacsha256-signature", None),
            Encoding::Base64,
        )
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let u = d.url.ok_or("square signs its notification URL: give --url")?;
    let sig = d.hmac(Algorithm::Sha256, &[u.as_bytes(), &d.body])?;
    d.header("x-square-hmacsha256-signature", Encoding::Base64.encode(&sig));
    Ok(())
}
