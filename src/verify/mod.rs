//! Request authentication over the raw bytes, before anything parses the body.
//!
//! Every verifier is built once at config load (keys decoded, HMAC states keyed) and then only
//! reads the request. All comparisons of secret-derived bytes are constant time. Providers'
//! schemes (`providers`, one file each) are data over the same few engines.

mod asym;
mod carried;
pub mod challenge;
pub mod contentful;
mod coverage;
mod datetime;
pub mod fetch;
pub mod fields;
pub mod handshake;
pub mod hmac;
pub mod jwt;
pub mod keys;
pub mod mac;
mod mailgun;
mod oidc;
mod paypal;
mod plaid;
pub mod providers;
pub mod sign;
mod sns;
mod template;
mod token;
mod twilio;
pub mod wix;

use std::borrow::Cow;
use std::time::SystemTime;

use http::{HeaderMap, HeaderName};

pub use self::asym::{AsymAlg, AsymVerifier};
pub use self::carried::{CarriedSecret, Carrier};
pub use self::coverage::Nonce;
pub use self::handshake::Handshake;
pub use self::hmac::{
    Algorithm, Encoding, HmacSpec, HmacVerifier, SigSource, TimestampCheck, TsSource, sign,
};
pub use self::jwt::{JwtSpec, JwtVerifier};
pub use self::keys::KeyedSecret;
pub use self::mailgun::MailgunVerifier;
pub use self::oidc::OidcVerifier;
pub use self::paypal::{PaypalVerifier, paypal_cert};
pub use self::plaid::{PlaidVerifier, plaid_key};
pub use self::sns::SnsVerifier;
pub use self::template::{Part, Template, TemplateError};
pub use self::token::{TokenKind, TokenVerifier};
pub use self::twilio::TwilioVerifier;

/// What a verifier sees of a request.
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: SystemTime,
    /// What followed the route's path: sub-path and query (for schemes that sign the URL).
    pub rest: &'a str,
}

impl<'a> Request<'a> {
    /// A request at a fixed time (2023-11-14), for tests with signed timestamps.
    #[cfg(test)]
    pub(crate) fn at_test_time(headers: &'a HeaderMap, body: &'a [u8]) -> Request<'a> {
        Request {
            headers,
            body,
            now: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            rest: "",
        }
    }

    /// Header `name` as text: missing or not text is a refusal.
    pub(crate) fn header_str(&self, name: &str) -> Result<&'a str, VerifyError> {
        self.headers
            .get(name)
            .ok_or_else(|| VerifyError::MissingHeader(name.to_string()))?
            .to_str()
            .map_err(|_| VerifyError::Malformed {
                header: name.to_string(),
                reason: "not text",
            })
    }
}

/// Why a request was refused. The text is safe to return to the sender: it never contains a
/// secret or the expected signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("malformed {header}: {reason}")]
    Malformed {
        header: String,
        reason: &'static str,
    },
    #[error("timestamp is outside the allowed tolerance")]
    StaleTimestamp,
    #[error("signature does not match")]
    NoMatch,
    #[error("credentials do not match")]
    BadCredentials,
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error("this signature was already used for another request")]
    Replayed,
}

impl VerifyError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::Malformed { .. } => "malformed",
            VerifyError::StaleTimestamp => "stale_timestamp",
            VerifyError::NoMatch => "no_match",
            VerifyError::BadCredentials => "bad_credentials",
            VerifyError::Refused(_) => "refused",
            VerifyError::Replayed => "replayed",
        }
    }
}

/// A passed verification: which configured key matched (handshakes answer with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verified {
    pub key: Option<usize>,
}

/// One check on a request.
pub enum Check {
    /// Explicitly unauthenticated (`scheme = "none"`).
    None,
    Hmac(HmacVerifier),
    Token(TokenVerifier),
    Asym(AsymVerifier),
    Twilio(TwilioVerifier),
    Mailgun(MailgunVerifier),
    /// A JWT with a fixed algorithm (Netlify, monday.com).
    Jwt(JwtVerifier),
    /// A shared secret in the body's items or the query (Microsoft Graph, Azure Event Grid).
    Carried(CarriedSecret),
    /// An OpenID Connect ID token checked with the issuer's fetched keys (Google Pub/Sub).
    Oidc(OidcVerifier),
    /// An AWS SNS message, checked with its fetched signing certificate.
    Sns(SnsVerifier),
    /// A PayPal transmission signature, checked with its fetched certificate.
    Paypal(PaypalVerifier),
    /// Plaid's ES256 JWT, checked with a key fetched by its id.
    Plaid(PlaidVerifier),
    /// Signatures or secrets inside the body's fields (Adyen, Braintree, Figma, Mandrill).
    Fields(fields::FieldCheck),
    /// Contentful's signed canonical request.
    Contentful(contentful::ContentfulVerifier),
    /// Wix: the body is an RS256 JWT.
    Wix(wix::WixVerifier),
    /// A header that must be present (not secret: compared as is).
    HeaderIs {
        name: HeaderName,
        value: Option<String>,
    },
    /// The body is empty or a JSON object (its first non-blank byte is `{`). Required where a
    /// handshake MACs a sender-chosen token under the signing key (X's CRC): a token never
    /// contains `{` and is never empty, so no handshake answer is a valid signature.
    ObjectBody,
    /// Every one must pass; the first one's matched key is reported.
    All(Vec<Check>),
}

impl Check {
    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        match self {
            Check::None => Ok(Verified::default()),
            Check::Hmac(v) => v.verify(req),
            Check::Token(v) => v.verify(req).map(|()| Verified::default()),
            Check::Asym(v) => v.verify(req),
            Check::Twilio(v) => v.verify(req),
            Check::Mailgun(v) => v.verify(req),
            Check::Jwt(v) => v.verify(req),
            Check::Carried(v) => v.verify(req),
            Check::Oidc(v) => v.verify(req),
            Check::Sns(v) => v.verify(req),
            Check::Paypal(v) => v.verify(req),
            Check::Plaid(v) => v.verify(req),
            Check::Fields(v) => v.verify(req),
            Check::Contentful(v) => v.verify(req),
            Check::Wix(v) => v.verify(req),
            Check::HeaderIs { name, value } => match (req.headers.get(name), value) {
                (None, _) => Err(VerifyError::MissingHeader(name.to_string())),
                (Some(v), Some(expected)) if v.as_bytes() != expected.as_bytes() => {
                    Err(VerifyError::Refused("header has an unexpected value"))
                }
                _ => Ok(Verified::default()),
            },
            Check::ObjectBody => match req.body.trim_ascii_start().first() {
                None | Some(b'{') => Ok(Verified::default()),
                Some(_) => Err(VerifyError::Refused("body must be a JSON object")),
            },
            Check::All(checks) => {
                let mut first = None;
                for c in checks {
                    let v = c.verify(req)?;
                    first.get_or_insert(v);
                }
                Ok(first.unwrap_or_default())
            }
        }
    }

    /// The keys this request needs fetched before [`Check::verify`] (which reads only the
    /// cache, and refuses when they are not there).
    pub fn key_need(&self, req: &Request<'_>) -> Option<KeyNeed<'_>> {
        match self {
            Check::Oidc(v) => Some(KeyNeed {
                fetcher: &v.fetcher,
                url: v.jwks_url.clone(),
                kid: OidcVerifier::wanted_kid(req),
                post: None,
            }),
            Check::Sns(v) => Some(KeyNeed {
                fetcher: &v.fetcher,
                url: v.cert_source(req)?,
                kid: None,
                post: None,
            }),
            Check::Paypal(v) => Some(KeyNeed {
                fetcher: &v.fetcher,
                url: v.cert_source(req)?,
                kid: None,
                post: None,
            }),
            Check::Plaid(v) => {
                let (url, post) = v.fetch_request(req)?;
                Some(KeyNeed {
                    fetcher: &v.fetcher,
                    url,
                    kid: None,
                    post: Some(post),
                })
            }
            Check::All(checks) => checks.iter().find_map(|c| c.key_need(req)),
            _ => None,
        }
    }

    /// The key fetchers of the check, each with what tells apart the answers of its URLs
    /// to different credentials (Plaid: the client id), for the book of known keys.
    pub fn fetchers(&self) -> Vec<(&fetch::KeyFetcher, &str)> {
        match self {
            Check::Oidc(v) => vec![(&*v.fetcher, "")],
            Check::Sns(v) => vec![(&*v.fetcher, "")],
            Check::Paypal(v) => vec![(&*v.fetcher, "")],
            Check::Plaid(v) => vec![(&*v.fetcher, v.client_id.as_str())],
            Check::All(checks) => checks.iter().flat_map(Check::fetchers).collect(),
            _ => Vec::new(),
        }
    }

    /// Puts a key document in the fetcher's cache as if fetched from `url` (tests; a warm
    /// start); without `url`, at the check's own key URL (Google's JWKS).
    pub fn prime_keys(&self, url: Option<&str>, body: Vec<u8>) {
        match self {
            Check::Oidc(v) => v.fetcher.prime(url.unwrap_or(&v.jwks_url), body),
            Check::Sns(SnsVerifier { fetcher, .. })
            | Check::Paypal(PaypalVerifier { fetcher, .. }) => {
                if let Some(u) = url.and_then(|u| fetcher.source(u).ok()) {
                    fetcher.prime(&u, body);
                }
            }
            // `url` is `#` the key id: Plaid serves one key per request.
            Check::Plaid(v) => {
                if let Some(kid) = url.and_then(|u| u.rsplit_once('#')).map(|(_, k)| k)
                    && let Ok(u) = v.fetcher.source(plaid::KEY_URL)
                {
                    v.fetcher.prime(&format!("{u}#{kid}"), body);
                }
            }
            Check::All(checks) => checks.iter().for_each(|c| c.prime_keys(url, body.clone())),
            _ => {}
        }
    }

    /// Headers carrying a credential meant for hookgate alone; they are not forwarded. Bearer
    /// tokens that do not cover the body (monday's JWT, Pub/Sub's OIDC token) are among them:
    /// whoever saw one at the upstream could replay it with any body until it expires.
    pub fn credential_headers(&self) -> Vec<&HeaderName> {
        static AUTHORIZATION: HeaderName = HeaderName::from_static("authorization");
        match self {
            Check::Token(v) => vec![v.header()],
            Check::Carried(v) => v.header().into_iter().collect(),
            Check::Jwt(v) if !v.covers_body() => vec![v.header()],
            Check::Oidc(_) => vec![&AUTHORIZATION],
            Check::All(checks) => checks.iter().flat_map(Check::credential_headers).collect(),
            _ => Vec::new(),
        }
    }

    /// The query parameters holding a credential (Event Grid's `code`): neither stored with
    /// the event (the events API and the console show its target) nor forwarded.
    pub fn credential_query(&self) -> Vec<&'static str> {
        match self {
            Check::Carried(v) => v.query().into_iter().collect(),
            Check::All(checks) => checks.iter().flat_map(Check::credential_query).collect(),
            _ => Vec::new(),
        }
    }
}

/// A key document a check needs: fetched (if allowed and not cached) before verifying.
pub struct KeyNeed<'a> {
    pub fetcher: &'a fetch::KeyFetcher,
    pub url: String,
    /// The key id the document must hold (a JWKS).
    pub kid: Option<String>,
    /// A body to POST for it (Plaid's key endpoint takes credentials).
    pub post: Option<Vec<u8>>,
}

impl KeyNeed<'_> {
    /// Fetches what is missing; a failure is logged by the fetcher and leaves the check to
    /// refuse the request.
    pub async fn ensure(&self) {
        let kid = self.kid.as_deref();
        let plaid = self.post.is_some();
        let usable = |b: &[u8]| {
            if plaid {
                PlaidVerifier::usable(b)
            } else {
                kid.is_none_or(|k| OidcVerifier::has_kid(b, k))
            }
        };
        let _ = self
            .fetcher
            .ensure(&self.url, &usable, self.post.as_deref())
            .await;
    }
}

/// A route's verification: the check, whether a failure refuses the request (`enforce`) or is
/// only recorded (shadow mode), and the provider's handshake.
pub struct Verifier {
    pub check: Check,
    pub enforce: bool,
    pub handshake: Option<Handshake>,
    /// The scheme or provider, for logs.
    pub label: String,
    /// `check.covers_query()`, judged once at load rather than per request.
    pub covers_query: bool,
    /// `check.credential_headers()` and `check.credential_query()`, once at load.
    pub credential_headers: Vec<HeaderName>,
    pub credential_query: Vec<&'static str>,
    /// `check.proof_headers()`, once at load: what the events API redacts.
    pub proof_headers: Vec<HeaderName>,
    /// The methods events may arrive with: the provider's (Twilio: GET too), else POST.
    pub methods: &'static [&'static str],
    /// `describe`'s answers, written once at load rather than formatted per request.
    pub verdicts: Verdicts,
}

/// The verdicts an event may keep, for one verifier's label.
#[derive(Debug, Clone)]
pub struct Verdicts {
    verified: String,
    /// "verified (secret #N)" for the first few secrets (more are formatted when used).
    by_secret: Vec<String>,
    let_through: String,
}

impl Verdicts {
    const SECRETS: usize = 4;

    pub fn new(label: &str) -> Verdicts {
        Verdicts {
            verified: format!("{label}: verified"),
            by_secret: (0..Self::SECRETS).map(|i| Self::secret(label, i)).collect(),
            let_through: format!("{label}: failed, let through (shadow mode: enforce = false)"),
        }
    }

    fn secret(label: &str, i: usize) -> String {
        format!("{label}: verified (secret #{})", i + 1)
    }
}

impl Verifier {
    /// What the check covers of a raw body, which a body-hash ID hashes: all of it, but for
    /// Wix, whose JWT the check reads without its trailing whitespace, and the schemes that
    /// sign parsed fields (Adyen, Braintree, Mandrill), which hash what they sign — hashing
    /// the rest too would make one captured delivery a new event for every byte variant.
    pub fn signed_body<'b>(&self, raw: &'b [u8]) -> Cow<'b, [u8]> {
        match &self.check {
            Check::Wix(_) => Cow::Borrowed(raw.trim_ascii_end()),
            Check::Fields(f) => f.signed_content(raw).map_or(Cow::Borrowed(raw), Cow::Owned),
            _ => Cow::Borrowed(raw),
        }
    }

    pub fn none() -> Verifier {
        Verifier {
            check: Check::None,
            enforce: true,
            handshake: None,
            label: "none".into(),
            verdicts: Verdicts::new("none"),
            covers_query: true,
            credential_headers: Vec::new(),
            credential_query: Vec::new(),
            proof_headers: Vec::new(),
            methods: &["POST"],
        }
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        self.check.verify(req)
    }

    /// Whether events may arrive with `method`.
    pub fn takes(&self, method: &http::Method) -> bool {
        self.methods.contains(&method.as_str())
    }

    /// The verdict an accepted event keeps (shown by the events API): which check passed and
    /// with which of the route's secrets (by position, never the secret), or that it failed and
    /// was let through (shadow mode).
    pub fn describe(&self, verified: Option<&Verified>) -> String {
        let v = &self.verdicts;
        match (&self.check, verified) {
            (Check::None, _) => "none: the route takes unauthenticated requests".into(),
            (_, Some(Verified { key: Some(i) })) => v
                .by_secret
                .get(*i)
                .cloned()
                .unwrap_or_else(|| Verdicts::secret(&self.label, *i)),
            (_, Some(_)) => v.verified.clone(),
            (_, None) => v.let_through.clone(),
        }
    }
}

#[cfg(test)]
mod verdict_tests {
    use super::*;

    #[test]
    fn written_verdicts_read_as_formatted_ones() {
        let mut v = Verifier::none();
        v.check = Check::HeaderIs {
            name: HeaderName::from_static("x-a"),
            value: None,
        };
        v.label = "hmac".into();
        v.verdicts = Verdicts::new("hmac");
        for i in [0, 3, 4, 11] {
            assert_eq!(
                v.describe(Some(&Verified { key: Some(i) })),
                format!("hmac: verified (secret #{})", i + 1)
            );
        }
        assert_eq!(v.describe(Some(&Verified { key: None })), "hmac: verified");
        assert_eq!(
            v.describe(None),
            "hmac: failed, let through (shadow mode: enforce = false)"
        );
    }
}
