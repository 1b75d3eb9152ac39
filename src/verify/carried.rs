//! Shared secrets the sender carries somewhere other than a header of its own: in each item of
//! the JSON body (Microsoft Graph's `clientState`) or in the URL's query (Azure Event Grid's
//! secret parameter, or the same secret as a delivery-property header).
//!
//! Like tokens, they are compared through their SHA-256 digests in constant time. Neither signs
//! the body: whoever has seen one delivery can send others, which is what the providers offer
//! (Graph's rich notifications' JWTs and Event Grid's Entra tokens are not covered here).

use http::HeaderName;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::keys::{Keyed, KeyedSecret};
use super::{Request, Verified, VerifyError};

#[derive(Debug, Clone)]
pub enum Carrier {
    /// Every element of the JSON array at pointer `array` has string `field` equal to a secret.
    EachItem {
        array: &'static str,
        field: &'static str,
    },
    /// The query parameter `query`, or else the header `header`.
    QueryOrHeader {
        query: &'static str,
        header: HeaderName,
    },
}

pub struct CarriedSecret {
    carrier: Carrier,
    digests: Vec<Keyed<[u8; 32]>>,
}

fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl CarriedSecret {
    pub fn new(carrier: Carrier, secrets: &[KeyedSecret]) -> Result<CarriedSecret, String> {
        if secrets.is_empty() {
            return Err("at least one secret is required".into());
        }
        let digests = secrets
            .iter()
            .map(|s| Keyed {
                key: digest(s.secret.expose()),
                not_after: s.not_after,
            })
            .collect();
        Ok(CarriedSecret { carrier, digests })
    }

    /// Whether the credential comes with the request as a whole (not from the body).
    pub fn in_request(&self) -> bool {
        matches!(self.carrier, Carrier::QueryOrHeader { .. })
    }

    /// The query parameter carrying the credential, which is not stored nor forwarded.
    pub fn query(&self) -> Option<&'static str> {
        match &self.carrier {
            Carrier::QueryOrHeader { query, .. } => Some(query),
            Carrier::EachItem { .. } => None,
        }
    }

    /// The header carrying the credential, which is not forwarded.
    pub fn header(&self) -> Option<&HeaderName> {
        match &self.carrier {
            Carrier::QueryOrHeader { header, .. } => Some(header),
            Carrier::EachItem { .. } => None,
        }
    }

    /// Which configured secret `presented` is, if any (every one compared).
    fn find(&self, presented: &[u8], req: &Request<'_>) -> Option<usize> {
        let d = digest(presented);
        let mut found = None;
        for (i, k) in Keyed::active(&self.digests, req.now) {
            if bool::from(k.ct_eq(&d)) && found.is_none() {
                found = Some(i);
            }
        }
        found
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        match &self.carrier {
            Carrier::QueryOrHeader { query, header } => {
                let q = req.rest.split_once('?').map_or("", |(_, q)| q);
                let from_query = form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == query)
                    .map(|(_, v)| v.into_owned().into_bytes());
                let presented = from_query
                    .or_else(|| req.headers.get(header).map(|v| v.as_bytes().to_vec()))
                    .ok_or_else(|| {
                        VerifyError::MissingHeader(format!("{header} (or ?{query}=)"))
                    })?;
                let key = self
                    .find(&presented, req)
                    .ok_or(VerifyError::BadCredentials)?;
                Ok(Verified { key: Some(key) })
            }
            Carrier::EachItem { array, field } => {
                let doc: Value = serde_json::from_slice(req.body)
                    .map_err(|_| VerifyError::Refused("body is not JSON"))?;
                let items = doc
                    .pointer(array)
                    .and_then(Value::as_array)
                    .filter(|a| !a.is_empty())
                    .ok_or(VerifyError::Refused("body has no notifications"))?;
                let mut first = None;
                for item in items {
                    let presented = item
                        .get(*field)
                        .and_then(Value::as_str)
                        .ok_or(VerifyError::Refused("a notification has no clientState"))?;
                    let key = self
                        .find(presented.as_bytes(), req)
                        .ok_or(VerifyError::BadCredentials)?;
                    first.get_or_insert(key);
                }
                Ok(Verified { key: first })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use http::HeaderMap;

    fn secrets() -> Vec<KeyedSecret> {
        vec![
            KeyedSecret::new(Secret::literal("old")),
            KeyedSecret::new(Secret::literal("new")),
        ]
    }

    #[test]
    fn each_item_must_carry_a_secret() {
        let c = CarriedSecret::new(
            Carrier::EachItem {
                array: "/value",
                field: "clientState",
            },
            &secrets(),
        )
        .unwrap();
        let h = HeaderMap::new();
        let run = |b: &[u8]| c.verify(&Request::at_test_time(&h, b));
        assert_eq!(
            run(br#"{"value":[{"clientState":"new"},{"clientState":"new"}]}"#).map(|v| v.key),
            Ok(Some(1))
        );
        assert!(run(br#"{"value":[{"clientState":"new"},{"clientState":"x"}]}"#).is_err());
        assert!(run(br#"{"value":[{"clientState":"new"},{}]}"#).is_err());
        assert!(run(br#"{"value":[]}"#).is_err());
        assert!(run(b"").is_err());
    }

    #[test]
    fn query_or_header() {
        let c = CarriedSecret::new(
            Carrier::QueryOrHeader {
                query: "code",
                header: HeaderName::from_static("aeg-sas-key"),
            },
            &secrets(),
        )
        .unwrap();
        let mut h = HeaderMap::new();
        let mut req = Request::at_test_time(&h, b"{}");
        req.rest = "?a=1&code=old";
        assert_eq!(c.verify(&req).map(|v| v.key), Ok(Some(0)));
        req.rest = "?code=nope";
        assert_eq!(c.verify(&req), Err(VerifyError::BadCredentials));
        req.rest = "";
        assert!(matches!(c.verify(&req), Err(VerifyError::MissingHeader(_))));
        h.insert("aeg-sas-key", "new".parse().unwrap());
        let req = Request::at_test_time(&h, b"{}");
        assert_eq!(c.verify(&req).map(|v| v.key), Ok(Some(1)));
    }
}
