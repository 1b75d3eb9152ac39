//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, plus the headers
//! `@shopify/shopify-api` requires.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "shopify",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Shopify-Webhook-Id",
    methods: POST,
    about: About {
        headers: &["X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-API-Version", "X-Shopify-Webhook-Id"],
        scheme: "HMAC-SHA256 of the body, base64",
        handshake: "",
    },
    sample: SAMPLE,
    samples: super::samples::shopify::ALL,
    verify,
    sign,
};

const SIG: MacHeader =
    MacHeader::body("X-Shopify-Hmac-Sha256", "", Algorithm::Sha256, Encoding::Base64).no_empty_body();

fn verify(s: &Settings) -> Built {
    let check = Check::All(vec![
        SIG.check(s)?,
        // @shopify/shopify-api refuses a delivery missing any of these.
        present("x-shopify-topic"),
        present("x-shopify-shop-domain"),
        present("x-shopify-api-version"),
        present("x-shopify-webhook-id"),
    ]);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)?;
    d.header("X-Shopify-Topic", d.event.unwrap_or("orders/create"));
    d.header("X-Shopify-Shop-Domain", "example.myshopify.com");
    d.header("X-Shopify-API-Version", "2025-01");
    d.header("X-Shopify-Webhook-Id", uuid());
    Ok(())
}
