//! Shared-token schemes: `Authorization: Bearer <token>`, `Authorization: Basic <user:pass>`, or
//! a token carried verbatim in a named header.
//!
//! Tokens are compared through their SHA-256 digests in constant time, so neither the content
//! nor the length of a configured secret leaks through timing.

use base64::Engine as _;
use http::HeaderName;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::keys::{Keyed, KeyedSecret};
use super::{Request, VerifyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `Authorization: Bearer <secret>` (or `<prefix><secret>` in another header).
    Bearer,
    /// `Authorization: Basic base64(<secret>)` where the secret is `user:password`.
    Basic,
}

impl TokenKind {
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Bearer => "bearer",
            TokenKind::Basic => "basic",
        }
    }
}

pub struct TokenVerifier {
    kind: TokenKind,
    header: HeaderName,
    /// Expected text before the token; the auth scheme word is matched case-insensitively.
    prefix: String,
    digests: Vec<Keyed<[u8; 32]>>,
}

impl TokenVerifier {
    /// `header` defaults to Authorization with the scheme word as prefix; with another header
    /// the whole value (after an optional `prefix`) is the token.
    pub fn new(
        kind: TokenKind,
        header: Option<HeaderName>,
        prefix: Option<String>,
        secrets: &[KeyedSecret],
    ) -> Result<TokenVerifier, String> {
        if secrets.is_empty() {
            return Err("at least one secret is required".into());
        }
        let (header, prefix) = match header {
            Some(h) if h != http::header::AUTHORIZATION => (h, prefix.unwrap_or_default()),
            _ => (
                http::header::AUTHORIZATION,
                prefix.unwrap_or_else(|| {
                    if kind == TokenKind::Basic {
                        "Basic ".into()
                    } else {
                        "Bearer ".into()
                    }
                }),
            ),
        };
        if kind == TokenKind::Basic && !secrets.iter().all(|s| has_password(s.secret.expose())) {
            return Err(
                "basic credentials must be written as \"user:password\", with a password".into(),
            );
        }
        // A presented token is read trimmed and can hold no control byte: such a secret could
        // never match, and every request would be refused with nothing said at load.
        if kind == TokenKind::Bearer
            && let Some(why) = secrets.iter().find_map(|s| unmatchable(s.secret.expose()))
        {
            return Err(format!(
                "a token {why}, so no request could present it (a second trailing newline in its file?)"
            ));
        }
        Ok(TokenVerifier {
            kind,
            header,
            prefix,
            digests: secrets
                .iter()
                .map(|s| Keyed {
                    key: digest(s.secret.expose()),
                    not_after: s.not_after,
                })
                .collect(),
        })
    }

    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<(), VerifyError> {
        let value = req
            .headers
            .get(&self.header)
            .ok_or_else(|| VerifyError::MissingHeader(self.header.to_string()))?
            .as_bytes()
            .trim_ascii();
        let malformed = |reason| VerifyError::Malformed {
            header: self.header.to_string(),
            reason,
        };
        let p = self.prefix.as_bytes();
        if value.len() < p.len() || !value[..p.len()].eq_ignore_ascii_case(p) {
            return Err(malformed("unexpected credential scheme"));
        }
        let token = value[p.len()..].trim_ascii();
        let presented = match self.kind {
            TokenKind::Bearer => digest(token),
            TokenKind::Basic => digest(
                &base64::engine::general_purpose::STANDARD
                    .decode(token)
                    .map_err(|_| malformed("basic credentials are not base64"))?,
            ),
        };
        let mut matched = subtle::Choice::from(0u8);
        for (_, d) in Keyed::active(&self.digests, req.now) {
            matched |= d.ct_eq(&presented);
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(VerifyError::BadCredentials)
        }
    }
}

/// Why a bearer token could never be presented, if it could not.
fn unmatchable(token: &[u8]) -> Option<&'static str> {
    if token.first().is_some_and(u8::is_ascii_whitespace)
        || token.last().is_some_and(u8::is_ascii_whitespace)
    {
        Some("begins or ends with whitespace")
    } else if token.iter().any(|b| b.is_ascii_control()) {
        Some("holds a control character")
    } else {
        None
    }
}

/// `user:password` with a password that is not blank (the user may be empty).
fn has_password(credentials: &[u8]) -> bool {
    credentials
        .splitn(2, |b| *b == b':')
        .nth(1)
        .is_some_and(|password| !password.trim_ascii().is_empty())
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use http::HeaderMap;
    use std::time::SystemTime;

    fn check(v: &TokenVerifier, header: &str, value: &str) -> Result<(), VerifyError> {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_bytes(header.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        v.verify(&Request {
            headers: &h,
            body: b"",
            now: SystemTime::now(),
            rest: "",
        })
    }

    #[test]
    fn a_token_no_header_could_present_is_refused() {
        for bad in ["t0k ", " t0k", "t0k\n", "t\u{7f}k", "t\tk"] {
            let e = TokenVerifier::new(
                TokenKind::Bearer,
                None,
                None,
                &[KeyedSecret::new(Secret::literal(bad))],
            )
            .err();
            assert!(e.is_some_and(|e| !e.contains("t0k")), "{bad:?}");
        }
    }

    #[test]
    fn bearer() {
        let v = TokenVerifier::new(
            TokenKind::Bearer,
            None,
            None,
            &[
                KeyedSecret::new(Secret::literal("t0k")),
                KeyedSecret::new(Secret::literal("n3w")),
            ],
        )
        .unwrap();
        assert_eq!(check(&v, "authorization", "Bearer t0k"), Ok(()));
        assert_eq!(check(&v, "authorization", "bearer n3w"), Ok(()));
        assert_eq!(
            check(&v, "authorization", "Bearer t0k2"),
            Err(VerifyError::BadCredentials)
        );
        assert!(matches!(
            check(&v, "authorization", "Basic t0k"),
            Err(VerifyError::Malformed { .. })
        ));
        assert!(matches!(
            check(&v, "x-other", "Bearer t0k"),
            Err(VerifyError::MissingHeader(_))
        ));
    }

    #[test]
    fn token_in_named_header() {
        let v = TokenVerifier::new(
            TokenKind::Bearer,
            Some(HeaderName::from_static("x-gitlab-token")),
            None,
            &[KeyedSecret::new(Secret::literal("s"))],
        )
        .unwrap();
        assert_eq!(check(&v, "x-gitlab-token", "s"), Ok(()));
        assert_eq!(
            check(&v, "x-gitlab-token", "S"),
            Err(VerifyError::BadCredentials)
        );
    }

    #[test]
    fn basic() {
        let v = TokenVerifier::new(
            TokenKind::Basic,
            None,
            None,
            &[KeyedSecret::new(Secret::literal("u:p"))],
        )
        .unwrap();
        assert_eq!(check(&v, "authorization", "Basic dTpw"), Ok(()));
        assert_eq!(
            check(&v, "authorization", "Basic dTpx"),
            Err(VerifyError::BadCredentials)
        );
        assert!(
            TokenVerifier::new(
                TokenKind::Basic,
                None,
                None,
                &[KeyedSecret::new(Secret::literal("nocolon"))]
            )
            .is_err()
        );
        for no_password in ["u:", ":", "u: "] {
            let secrets = [KeyedSecret::new(Secret::literal(no_password))];
            assert!(
                TokenVerifier::new(TokenKind::Basic, None, None, &secrets).is_err(),
                "{no_password:?}"
            );
        }
    }
}
