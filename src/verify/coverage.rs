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

use super::fields::FieldCheck;
use super::{Check, Request};
use crate::event::id::IdSource;

/// A single-use value a passed check signed (Mailgun's `token`, PayPal's transmission id), with
/// how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    /// What the value is single-use within: the signing key's identity (never the secret), or
    /// PayPal's webhook id, shared by every route with that key or webhook.
    pub scope: String,
    pub value: String,
    pub ttl: Duration,
}

impl Nonce {
    /// `value`, held while a request with its signed time can still pass: the window extends
    /// `tolerance` both ways, so twice that from any accepted use.
    pub fn within(scope: String, value: String, tolerance: Duration) -> Nonce {
        Nonce {
            scope,
            value,
            ttl: tolerance
                .saturating_mul(2)
                .saturating_add(Duration::from_secs(1)),
        }
    }
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

    /// `source` reading the ID header the signature covered: a `header:` source naming one of
    /// several headers the check takes its signed ID from (Svix: `svix-id`, else `webhook-id`)
    /// reads whichever the check used — else a captured delivery re-sent under the other name
    /// verifies again with no ID, a new event.
    pub fn signed_id(&self, source: IdSource) -> IdSource {
        match source {
            IdSource::Header(h) => match self.id_headers_with(&h) {
                Some(hs) if hs.len() > 1 => IdSource::SignedHeader(hs.to_vec()),
                _ => IdSource::Header(h),
            },
            IdSource::Composite(parts) => {
                IdSource::Composite(parts.into_iter().map(|p| self.signed_id(p)).collect())
            }
            other => other,
        }
    }

    fn id_headers_with(&self, h: &HeaderName) -> Option<&[HeaderName]> {
        match self {
            Check::Hmac(v) => v.id_headers_with(h),
            Check::All(checks) => checks.iter().find_map(|c| c.id_headers_with(h)),
            _ => None,
        }
    }

    /// The headers the check reads its proof from, whatever their names: signatures,
    /// credentials, signed timestamps, where its key is. The events API shows them
    /// `[redacted]`. Not a header the signature merely covers (an event ID), nor one compared
    /// to a public value (`HeaderIs`). Exhaustive, so that a new engine has to say.
    pub fn proof_headers(&self) -> Vec<HeaderName> {
        let mut once = Vec::new();
        for h in self.proof() {
            if !once.contains(&h) {
                once.push(h);
            }
        }
        once
    }

    /// [`Check::proof_headers`], a header perhaps twice (Stripe's timestamp and signatures share
    /// one).
    fn proof(&self) -> Vec<HeaderName> {
        let owned = |names: Vec<&HeaderName>| names.into_iter().cloned().collect();
        match self {
            Check::Hmac(v) => owned(v.proof_headers()),
            Check::Asym(v) => owned(v.proof_headers()),
            Check::Token(v) => vec![v.header().clone()],
            Check::Jwt(v) => vec![v.header().clone()],
            Check::Carried(v) => v.header().into_iter().cloned().collect(),
            Check::Twilio(_) => super::twilio::PROOF.to_vec(),
            Check::Oidc(_) => super::oidc::PROOF.to_vec(),
            Check::Paypal(_) => super::paypal::PROOF.to_vec(),
            Check::Plaid(_) => super::plaid::PROOF.to_vec(),
            Check::Contentful(_) => super::contentful::PROOF.to_vec(),
            Check::Fields(FieldCheck::FormUrl(v)) => vec![v.header().clone()],
            Check::All(checks) => checks.iter().flat_map(Check::proof).collect(),
            // Proof carried in the body (or none at all).
            Check::None
            | Check::HeaderIs { .. }
            | Check::ObjectBody
            | Check::Mailgun(_)
            | Check::Sns(_)
            | Check::Wix(_)
            | Check::Fields(FieldCheck::Secret(_) | FieldCheck::Items(_) | FieldCheck::Form(_)) => {
                Vec::new()
            }
        }
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
    /// store (Mailgun signs `timestamp + token` only, not the event; PayPal signs the body only
    /// through its CRC32, which anyone can match: a captured signature must not carry another
    /// body).
    pub fn replay_nonce(&self, req: &Request<'_>) -> Option<Nonce> {
        match self {
            Check::Mailgun(v) => v.nonce(req),
            Check::Paypal(v) => v.nonce(req),
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
            sender: Some("sender".into()),
            ..Settings::default()
        };
        match p {
            "discord" => s.public_key = vec![KeyedSecret::new(Secret::literal("a".repeat(64)))],
            "airtable" => s.secrets = vec![KeyedSecret::new(Secret::literal("c2VjcmV0"))],
            "contentful" => s.secrets = vec![KeyedSecret::new(Secret::literal("s".repeat(64)))],
            "aws-sns" => s.sender = Some("arn:aws:sns:us-east-1:1:t".into()),
            _ => {}
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

    /// What the events API redacts: the headers each engine reads its proof from, by the
    /// preset's own names (none containing "signature" or "auth" for some), its signed
    /// timestamp included, and nothing a signature merely covers.
    #[test]
    fn proof_headers_name_each_engines_proof() {
        let names = |p: &str| -> Vec<String> {
            let mut v: Vec<String> = preset(p)
                .proof_headers()
                .iter()
                .map(|h| h.as_str().to_owned())
                .collect();
            v.sort();
            v
        };
        for (p, expected) in [
            ("trello", &["x-trello-webhook"][..]),
            ("airtable", &["x-airtable-content-mac"]),
            ("plaid", &["plaid-verification"]),
            (
                "paypal",
                &[
                    "paypal-cert-url",
                    "paypal-transmission-sig",
                    "paypal-transmission-time",
                ],
            ),
            ("stripe", &["stripe-signature"]),
            ("slack", &["x-slack-request-timestamp", "x-slack-signature"]),
            ("discord", &["x-signature-ed25519", "x-signature-timestamp"]),
            ("twilio", &["x-twilio-signature"]),
            ("mandrill", &["x-mandrill-signature"]),
            (
                "contentful",
                &["x-contentful-signature", "x-contentful-timestamp"],
            ),
            ("gitlab", &["x-gitlab-token"]),
            ("google-pubsub", &["authorization"]),
            ("lindo", &[]),
            ("aws-sns", &[]),
        ] {
            assert_eq!(names(p), expected, "{p}");
        }
        let webhooks = names("standard-webhooks");
        assert!(
            webhooks.contains(&"webhook-signature".to_owned()),
            "{webhooks:?}"
        );
        assert!(
            webhooks.contains(&"webhook-timestamp".to_owned()),
            "{webhooks:?}"
        );
        assert!(
            !webhooks.contains(&"webhook-id".to_owned()),
            "an ID is not proof"
        );
    }
}
