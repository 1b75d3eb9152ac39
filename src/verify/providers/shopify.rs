//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, plus the headers
//! `@shopify/shopify-api` requires.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "shopify",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Shopify-Webhook-Id",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::All(vec![
        hmac(HmacSpec {
            allow_empty_body: false,
            ..HmacSpec::simple(
                Algorithm::Sha256,
                s.secrets.clone(),
                header("x-shopify-hmac-sha256", None),
                Encoding::Base64,
            )
        })?,
        // @shopify/shopify-api refuses a delivery missing any of these.
        present("x-shopify-topic"),
        present("x-shopify-shop-domain"),
        present("x-shopify-api-version"),
        present("x-shopify-webhook-id"),
    ]);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = d.b64_body(Algorithm::Sha256)?;
    d.header("X-Shopify-Hmac-Sha256", sig);
    d.header("X-Shopify-Topic", "orders/create");
    d.header("X-Shopify-Shop-Domain", "example.myshopify.com");
    d.header("X-Shopify-API-Version", "2025-01");
    d.header("X-Shopify-Webhook-Id", uuid());
    Ok(())
}
