//! What a route's verification vouches for beyond the body: the query string, a header. Only
//! what the check covers may become part of the event (merged by `normalize`, or chosen as the
//! event ID or order key); anything else is the sender's unverified say.
//!
//! Three cases: a scheme that authenticates the whole request (a bearer or basic token: the
//! sender holds the credential, so query and headers come from it too) or signs the URL
//! (Twilio, Square, a `{url}` template); a scheme that signs some bytes only (the body, a
//! timestamp, named headers); and no authentication at all (`none`, a fixed header), where
//! nothing is verified and so nothing is less trusted than the body.

use std::time::Duration;

use http::HeaderName;

use super::{Check, Request};

/// A single-use value a passed check signed (Mailgun's `token`), with how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    /// What the value is single-use within: the signing key's identity (never the secret),
    /// shared by every route with that key.
    pub scope: String,
    pub value: String,
    pub ttl: Duration,
}

/// What a part of the request is to one check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cover {
    /// The check authenticates nothing.
    Nothing,
    /// The check authenticates the request but not this part of it.
    Not,
    /// The check vouches for this part.
    Yes,
}

impl Check {
    /// Whether the check authenticates anything at all. A preset that only compares headers
    /// to public values (Lindo's User-Agent) does not, without being `scheme = "none"`.
    pub fn authenticates(&self) -> bool {
        self.cover(&|_| Cover::Yes) != Cover::Nothing
    }

    /// Whether the query string is as trustworthy as the body.
    pub fn covers_query(&self) -> bool {
        self.cover(&|c| match c {
            Check::Token(_) | Check::Twilio(_) => Cover::Yes,
            Check::Carried(v) if v.in_request() => Cover::Yes,
            Check::Hmac(v) if v.signs_url() => Cover::Yes,
            _ => Cover::Not,
        }) != Cover::Not
    }

    /// Whether the value of header `h` is as trustworthy as the body.
    pub fn covers_header(&self, h: &HeaderName) -> bool {
        self.cover(&|c| match c {
            Check::Token(_) => Cover::Yes,
            Check::Carried(v) if v.in_request() => Cover::Yes,
            Check::Hmac(v) if v.signs_header(h) => Cover::Yes,
            Check::Asym(v) if v.signs_header(h) => Cover::Yes,
            _ => Cover::Not,
        }) != Cover::Not
    }

    /// `authenticating` judges the checks that authenticate something; any one that vouches for
    /// the part is enough (a bearer token alongside a body HMAC covers the query).
    fn cover(&self, authenticating: &dyn Fn(&Check) -> Cover) -> Cover {
        match self {
            Check::None | Check::HeaderIs { .. } | Check::ObjectBody => Cover::Nothing,
            Check::All(checks) => {
                let each: Vec<Cover> = checks.iter().map(|c| c.cover(authenticating)).collect();
                if each.contains(&Cover::Yes) {
                    Cover::Yes
                } else if each.contains(&Cover::Not) {
                    Cover::Not
                } else {
                    Cover::Nothing
                }
            }
            c => authenticating(c),
        }
    }

    /// The single-use value of a request that passed this check, to be claimed once in the
    /// store (Mailgun signs `timestamp + token` only, not the event: a captured signature must
    /// not carry another body).
    pub fn replay_nonce(&self, req: &Request<'_>) -> Option<Nonce> {
        match self {
            Check::Mailgun(v) => v.nonce(req),
            Check::All(checks) => checks.iter().find_map(|c| c.replay_nonce(req)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::verify::hmac::{Algorithm, Encoding, HmacSpec, HmacVerifier, SigSource};
    use crate::verify::providers::{self, Settings};
    use crate::verify::{KeyedSecret, TokenKind, TokenVerifier};

    fn preset(p: &str) -> Check {
        let mut s = Settings {
            secrets: vec![KeyedSecret::new(Secret::literal("whsec_c2VjcmV0"))],
            public_url: Some("https://h.example/hooks/x".into()),
            verify_token: Some(Secret::literal("t")),
            ..Settings::default()
        };
        if p == "discord" {
            s.public_key = vec![KeyedSecret::new(Secret::literal("a".repeat(64)))];
        }
        providers::build(p, s).map(|p| p.check).unwrap()
    }

    #[test]
    fn query_is_covered_only_by_tokens_and_signed_urls() {
        for p in ["twilio", "square", "locoia", "gitlab", "lido", "lindo"] {
            assert!(preset(p).covers_query(), "{p}");
        }
        for p in [
            "github", "stripe", "shopify", "twitter", "mailgun", "discord", "zoom",
        ] {
            assert!(!preset(p).covers_query(), "{p}");
        }
        assert!(Check::None.covers_query());
        let bearer = TokenVerifier::new(
            TokenKind::Bearer,
            None,
            None,
            &[KeyedSecret::new(Secret::literal("t"))],
        )
        .unwrap();
        assert!(Check::Token(bearer).covers_query());
    }

    #[test]
    fn headers_are_covered_when_signed() {
        let h = |n: &'static str| HeaderName::from_static(n);
        assert!(!preset("github").covers_header(&h("x-github-delivery")));
        assert!(!preset("shopify").covers_header(&h("x-shopify-webhook-id")));
        assert!(preset("standard-webhooks").covers_header(&h("webhook-id")));
        assert!(preset("slack").covers_header(&h("x-slack-request-timestamp")));
        assert!(preset("gitlab").covers_header(&h("idempotency-key")));
        assert!(preset("discord").covers_header(&h("x-signature-timestamp")));
        let plain = HmacVerifier::new(HmacSpec::simple(
            Algorithm::Sha256,
            vec![KeyedSecret::new(Secret::literal("s"))],
            SigSource::Header {
                name: h("x-sig"),
                prefix: None,
            },
            Encoding::Hex,
        ))
        .unwrap();
        assert!(!Check::Hmac(plain).covers_header(&h("x-event-id")));
    }
}
