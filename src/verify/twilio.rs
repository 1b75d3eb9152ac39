//! Twilio: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + sorted form parameters)).
//! The URL is the one Twilio called (the route's `public_url` plus the request's sub-path and
//! query). JSON bodies are covered through a `bodySHA256` query parameter instead. As in
//! twilio-python's `RequestValidator`, the URL is tried with and without its port.
//!
//! What a signature covers: the URL always; a form body's parameters (as a sorted set: order,
//! encoding and repeated identical pairs are not covered); any other body only through
//! `bodySHA256`. A non-empty body that is neither form-encoded nor carries `bodySHA256` is not
//! signed at all, so it is refused (the library accepts it on the URL alone).

use http::HeaderName;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::keys::{Keyed, KeyedSecret};
use super::mac::{Algorithm, Encoding, Key, KeyFormat, keyed, matches_any};
use super::{Request, Verified, VerifyError};

const SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
const SETTINGS: HeaderName = HeaderName::from_static("x-twilio-webhooks-signature-settings");
/// The headers the check reads its proof from (`Check::proof_headers`).
pub(super) const PROOF: [HeaderName; 1] = [SIGNATURE];

pub struct TwilioVerifier {
    sha1: Vec<Keyed<Key>>,
    sha256: Vec<Keyed<Key>>,
    public_url: String,
}

impl TwilioVerifier {
    pub fn new(secrets: &[KeyedSecret], public_url: String) -> Result<TwilioVerifier, String> {
        Ok(TwilioVerifier {
            sha1: keyed(Algorithm::Sha1, KeyFormat::Raw, secrets)?,
            sha256: keyed(Algorithm::Sha256, KeyFormat::Raw, secrets)?,
            public_url,
        })
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let presented = req
            .headers
            .get(SIGNATURE)
            .ok_or_else(|| VerifyError::MissingHeader(SIGNATURE.to_string()))?;
        let presented = Encoding::Base64
            .decode(presented.as_bytes().trim_ascii())
            .ok_or(VerifyError::Malformed {
                header: SIGNATURE.to_string(),
                reason: "signature is not base64",
            })?;
        // The newer shared-key signatures name their algorithm.
        let sha256 = req.headers.get(SETTINGS).is_some_and(|v| {
            v.as_bytes()
                .windows(11)
                .any(|w| w.eq_ignore_ascii_case(b"HMAC_SHA256"))
        });
        let keys = if sha256 { &self.sha256 } else { &self.sha1 };
        let url = format!("{}{}", self.public_url, req.rest);
        let (_, query) = url.split_once('?').unwrap_or((&url, ""));
        let form = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| {
                v.as_bytes()
                    .starts_with(b"application/x-www-form-urlencoded")
            });
        let body_hash = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned());
        let params = match (&body_hash, form) {
            (Some(expected), _) => {
                let actual = hex::encode(Sha256::digest(req.body));
                if !bool::from(
                    actual
                        .as_bytes()
                        .ct_eq(expected.to_ascii_lowercase().as_bytes()),
                ) {
                    return Err(VerifyError::NoMatch);
                }
                String::new()
            }
            (None, true) => sorted_params(req.body),
            (None, false) if req.body.is_empty() => String::new(),
            (None, false) => {
                return Err(VerifyError::Refused(
                    "body is neither form-encoded nor covered by bodySHA256: Twilio's signature does not cover it",
                ));
            }
        };
        let mut matched = None;
        for candidate in url_variants(&url) {
            for (i, key) in Keyed::active(keys, req.now) {
                let mac = key.mac(&[candidate.as_bytes(), params.as_bytes()]);
                if bool::from(matches_any(&mac, std::slice::from_ref(&presented)))
                    && matched.is_none()
                {
                    matched = Some(i);
                }
            }
        }
        matched
            .map(|i| Verified { key: Some(i) })
            .ok_or(VerifyError::NoMatch)
    }
}

/// Every parameter name and value, names sorted, each name's distinct values sorted.
pub fn sorted_params(body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    pairs.dedup();
    pairs.into_iter().map(|(k, v)| k + &v).collect()
}

/// The URL without a port, and with one (the default for its scheme if it had none).
pub fn url_variants(url: &str) -> [String; 2] {
    let Some((scheme, rest)) = url.split_once("://") else {
        return [url.to_string(), url.to_string()];
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (authority, None),
    };
    let default = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    [
        format!("{scheme}://{host}{tail}"),
        format!("{scheme}://{host}:{}{tail}", port.unwrap_or(default)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example() {
        // twilio.com/docs/usage/security: auth token 12345, this URL and these parameters sign
        // to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let body = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
        let params = sorted_params(body);
        assert_eq!(
            params,
            "CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212"
        );
        let mac = Key::new(Algorithm::Sha1, b"12345")
            .unwrap()
            .mac(&[url.as_bytes(), params.as_bytes()]);
        assert_eq!(
            Encoding::Base64.encode(&mac),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn ports() {
        assert_eq!(
            url_variants("https://a.com/x?y=1"),
            [
                "https://a.com/x?y=1".to_string(),
                "https://a.com:443/x?y=1".to_string()
            ]
        );
        assert_eq!(
            url_variants("http://a.com:8080/x"),
            [
                "http://a.com/x".to_string(),
                "http://a.com:8080/x".to_string()
            ]
        );
    }
}
