//! Contentful's request verification (webhooks and app requests), as
//! `@contentful/node-apps-toolkit` `verifyRequest` computes it: `x-contentful-signature` = hex
//! HMAC-SHA256 of the canonical request
//! `METHOD\nPATH\nname:value;name:value...\nBODY`, where the headers are those named in
//! `x-contentful-signed-headers` (always including itself and `x-contentful-timestamp`, in
//! milliseconds), lowercase, sorted by name, values trimmed; PATH is the called URL's path and
//! query, encoded as the toolkit does. Webhooks are POSTs: other methods never reach
//! verification.

use std::time::Duration;

use http::HeaderName;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::hmac::within;
use super::keys::{Keyed, KeyedSecret, first_match};
use super::mac::{Algorithm, Encoding, Key, KeyFormat, keyed, matches_any};
use super::{Request, Verified, VerifyError};

pub const SIGNATURE: &str = "x-contentful-signature";
pub const SIGNED_HEADERS: &str = "x-contentful-signed-headers";
pub const TIMESTAMP: &str = "x-contentful-timestamp";
/// The headers the check reads its proof from (`Check::proof_headers`); the headers it lists
/// are signed content, not proof.
pub(super) const PROOF: [HeaderName; 2] = [
    HeaderName::from_static(SIGNATURE),
    HeaderName::from_static(TIMESTAMP),
];

/// What Node's `querystring.escape` leaves alone.
const QS_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// What JavaScript's `encodeURI` leaves alone: those, and the URI's reserved characters.
const ENCODE_URI: &AsciiSet = &QS_ESCAPE
    .remove(b';')
    .remove(b',')
    .remove(b'/')
    .remove(b'?')
    .remove(b':')
    .remove(b'@')
    .remove(b'&')
    .remove(b'=')
    .remove(b'+')
    .remove(b'$')
    .remove(b'#');

/// The toolkit's `getNormalizedEncodedURI`: `encodeURI(path + "?" + querystring.escape(query))`
/// (so a query is encoded twice), splitting on `?` as `String.split` does.
pub fn normalized_path(uri: &str) -> String {
    let mut parts = uri.split('?');
    let path = parts.next().unwrap_or_default();
    let joined = match parts.next() {
        Some(q) if !q.is_empty() => format!("{path}?{}", utf8_percent_encode(q, QS_ESCAPE)),
        _ => path.to_string(),
    };
    utf8_percent_encode(&joined, ENCODE_URI).to_string()
}

/// The canonical request; `headers` are (lowercase name, trimmed value) pairs.
pub fn canonical(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut sorted = headers.to_vec();
    sorted.sort();
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    [
        method.as_bytes(),
        b"\n",
        path.as_bytes(),
        b"\n",
        joined.join(";").as_bytes(),
        b"\n",
        body,
    ]
    .concat()
}

pub struct ContentfulVerifier {
    keys: Vec<Keyed<Key>>,
    /// The path of the URL configured at Contentful (standing for the route's path).
    path: String,
    tolerance: Duration,
}

impl ContentfulVerifier {
    pub fn new(
        secrets: &[KeyedSecret],
        public_url: &str,
        tolerance: Duration,
    ) -> Result<ContentfulVerifier, String> {
        let after_scheme = public_url.split_once("://").map_or(public_url, |(_, r)| r);
        let path = after_scheme
            .find('/')
            .and_then(|i| after_scheme.get(i..))
            .unwrap_or("/")
            .to_string();
        Ok(ContentfulVerifier {
            keys: keyed(Algorithm::Sha256, KeyFormat::Raw, secrets)?,
            path,
            tolerance,
        })
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let get = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .ok_or_else(|| VerifyError::MissingHeader(name.to_string()))
        };
        let presented = Encoding::HexLower
            .decode(get(SIGNATURE)?.as_bytes())
            .filter(|s| s.len() == 32)
            .ok_or(VerifyError::Malformed {
                header: SIGNATURE.into(),
                reason: "not 64 lowercase hex digits",
            })?;
        let ms: u64 = get(TIMESTAMP)?
            .parse()
            .map_err(|_| VerifyError::Malformed {
                header: TIMESTAMP.into(),
                reason: "not a timestamp in milliseconds",
            })?;
        within(req.now, Duration::from_millis(ms), self.tolerance)?;
        let listed: Vec<&str> = get(SIGNED_HEADERS)?.split(',').collect();
        if listed.len() < 2 {
            return Err(VerifyError::Malformed {
                header: SIGNED_HEADERS.into(),
                reason: "must name the timestamp and itself",
            });
        }
        // The toolkit ignores listed headers that are absent; hookgate refuses them, so the
        // list means exactly what it names (Contentful sends every header it lists).
        let mut names: Vec<String> = Vec::with_capacity(listed.len() + 2);
        for n in &listed {
            let present = HeaderName::from_bytes(n.as_bytes())
                .is_ok_and(|h| h.as_str() == *n && req.headers.contains_key(&h));
            if !present {
                return Err(VerifyError::Malformed {
                    header: SIGNED_HEADERS.into(),
                    reason: "names a header the request does not carry",
                });
            }
            names.push(n.to_string());
        }
        for n in [SIGNED_HEADERS, TIMESTAMP] {
            if !names.iter().any(|x| x == n) {
                names.push(n.into());
            }
        }
        names.sort();
        names.dedup();
        let headers: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                let v = match n.as_str() {
                    SIGNED_HEADERS => names.join(","),
                    TIMESTAMP => ms.to_string(),
                    other => get(other).unwrap_or_default().to_string(),
                };
                (n.clone(), v)
            })
            .collect();
        let path = normalized_path(&format!("{}{}", self.path, req.rest));
        let msg = canonical("POST", &path, &headers, req.body);
        let candidates = [presented];
        first_match(&self.keys, req.now, |key| {
            bool::from(matches_any(&key.mac(&[&msg]), &candidates))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_as_the_toolkit_does() {
        assert_eq!(normalized_path("/hooks/c"), "/hooks/c");
        assert_eq!(normalized_path("/hooks/c?a=b c"), "/hooks/c?a%253Db%2520c");
        assert_eq!(normalized_path("/a b/é"), "/a%20b/%C3%A9");
        assert_eq!(normalized_path("/x?y?z"), "/x?y");
    }
}
