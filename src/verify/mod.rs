//! Request authentication over the raw bytes, before anything parses the body.
//!
//! Every verifier is built once at config load (keys decoded, HMAC states keyed) and then only
//! reads the request. All comparisons of secret-derived bytes are constant time.

mod hmac;
mod template;
mod token;

use std::time::SystemTime;

use http::HeaderMap;

pub use self::hmac::{Algorithm, Encoding, HmacSpec, HmacVerifier, TimestampCheck, sign};
pub use self::template::{Template, TemplateError};
pub use self::token::{TokenKind, TokenVerifier};

/// What a verifier sees of a request.
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: SystemTime,
}

/// Why a request was refused. The text is safe to return to the sender: it never contains a
/// secret or the expected signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("malformed header {header}: {reason}")]
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
}

/// The verifier of one route.
pub enum Verifier {
    /// Explicitly unauthenticated (`scheme = "none"`).
    None,
    Hmac(HmacVerifier),
    Token(TokenVerifier),
}

impl Verifier {
    pub fn verify(&self, req: &Request<'_>) -> Result<(), VerifyError> {
        match self {
            Verifier::None => Ok(()),
            Verifier::Hmac(v) => v.verify(req),
            Verifier::Token(v) => v.verify(req),
        }
    }

    /// The header that carries a credential meant for hookgate alone; it is not forwarded.
    pub fn credential_header(&self) -> Option<&http::HeaderName> {
        match self {
            Verifier::Token(v) => Some(v.header()),
            _ => None,
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Verifier::None => "none",
            Verifier::Hmac(_) => "hmac",
            Verifier::Token(v) => v.kind().name(),
        }
    }
}
