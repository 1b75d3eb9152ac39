//! Request authentication over the raw bytes, before anything parses the body.
//!
//! Every verifier is built once at config load (keys decoded, HMAC states keyed) and then only
//! reads the request. All comparisons of secret-derived bytes are constant time. Providers'
//! schemes (`providers`, one file each) are data over the same few engines.

mod asym;
pub mod contentful;
mod coverage;
mod datetime;
pub mod fields;
pub mod handshake;
pub mod hmac;
pub mod keys;
pub mod mac;
mod mailgun;
pub mod providers;
pub mod sign;
mod template;
mod token;
mod twilio;
pub mod wix;

use std::time::SystemTime;

use http::{HeaderMap, HeaderName};

pub use self::asym::{AsymAlg, AsymVerifier};
pub use self::coverage::Nonce;
pub use self::handshake::Handshake;
pub use self::hmac::{
    Algorithm, Encoding, HmacSpec, HmacVerifier, SigSource, TimestampCheck, TsSource, sign,
};
pub use self::keys::KeyedSecret;
pub use self::mailgun::MailgunVerifier;
pub use self::template::{Template, TemplateError};
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

    /// Headers carrying a credential meant for hookgate alone; they are not forwarded.
    pub fn credential_headers(&self) -> Vec<&HeaderName> {
        match self {
            Check::Token(v) => vec![v.header()],
            Check::All(checks) => checks.iter().flat_map(Check::credential_headers).collect(),
            _ => Vec::new(),
        }
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
    /// The methods events may arrive with: the provider's (Twilio: GET too), else POST.
    pub methods: &'static [&'static str],
}

impl Verifier {
    pub fn none() -> Verifier {
        Verifier {
            check: Check::None,
            enforce: true,
            handshake: None,
            label: "none".into(),
            covers_query: true,
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
        match (&self.check, verified) {
            (Check::None, _) => "none: the route takes unauthenticated requests".into(),
            (_, Some(Verified { key: Some(i) })) => {
                format!("{}: verified (secret #{})", self.label, i + 1)
            }
            (_, Some(_)) => format!("{}: verified", self.label),
            (_, None) => format!(
                "{}: failed, let through (shadow mode: enforce = false)",
                self.label
            ),
        }
    }
}
