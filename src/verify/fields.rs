//! Schemes whose signature or secret travels in the body, over some of its fields rather than
//! the raw bytes: a secret at a JSON pointer (Figma's `passcode`), a MAC over selected fields
//! of every item of a JSON array with the signature inside the item (Adyen), a MAC over one form
//! field with the signature in another (Braintree's `bt_payload` / `bt_signature`), and a MAC
//! over the URL and the sorted form parameters in a header (Mandrill).
//!
//! What each covers is only those fields: the rest of the body is the sender's unverified say,
//! which is why only providers whose documented scheme is exactly this use it. A form whose
//! signed field repeats is refused (the upstream's framework may read another copy than the one
//! checked), and Braintree's form may hold nothing but its two fields.
//!
//! None signs a time, so a body-hash ID hashes what the signature covers (`signed_content`):
//! a byte variant of a captured delivery is the same event.

use http::HeaderName;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::keys::{Keyed, KeyedSecret, first_match};
use super::mac::{Algorithm, Encoding, Key, KeyFormat, keyed, matches_any};
use super::{Request, Verified, VerifyError};

pub enum FieldCheck {
    Secret(JsonSecret),
    Items(JsonItemsMac),
    Form(FormFieldMac),
    FormUrl(FormUrlMac),
}

impl FieldCheck {
    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        match self {
            FieldCheck::Secret(c) => c.verify(req),
            FieldCheck::Items(c) => c.verify(req),
            FieldCheck::Form(c) => c.verify(req),
            FieldCheck::FormUrl(c) => c.verify(req),
        }
    }

    /// What the signature covers, for the body-hash ID, where it is not the raw body: bytes
    /// that parse to the same signed fields (whitespace, key order, escapes, unsigned fields)
    /// verify alike and, with no signed time, would each be a new event. `None` when the body
    /// does not parse (a request let through in shadow mode): the raw body is hashed then.
    pub fn signed_content(&self, body: &[u8]) -> Option<Vec<u8>> {
        match self {
            // The passcode is no signature: the body is all the sender's say, hashed as sent.
            FieldCheck::Secret(_) => None,
            FieldCheck::Items(c) => c.signed_content(body),
            FieldCheck::Form(c) => c.signed_content(body),
            // The URL is fixed by the signature and the route; the parameters, as signed.
            FieldCheck::FormUrl(_) => Some(super::twilio::sorted_params(body).into_bytes()),
        }
    }
}

fn json(body: &[u8]) -> Result<Value, VerifyError> {
    serde_json::from_slice(body).map_err(|_| VerifyError::Refused("body is not JSON"))
}

/// A shared secret at a JSON pointer of the body, compared in constant time (through SHA-256,
/// so lengths do not leak either).
pub struct JsonSecret {
    pointer: String,
    digests: Vec<Keyed<[u8; 32]>>,
}

impl JsonSecret {
    pub fn new(pointer: &str, secrets: &[KeyedSecret]) -> Result<JsonSecret, String> {
        if secrets.is_empty() {
            return Err("at least one secret is required".into());
        }
        let digests = secrets
            .iter()
            .map(|s| Keyed {
                key: Sha256::digest(s.secret.expose()).into(),
                not_after: s.not_after,
            })
            .collect();
        Ok(JsonSecret {
            pointer: pointer.into(),
            digests,
        })
    }

    fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let doc = json(req.body)?;
        let given = doc
            .pointer(&self.pointer)
            .and_then(Value::as_str)
            .ok_or(VerifyError::Refused("body carries no passcode"))?;
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        first_match(&self.digests, req.now, |d| bool::from(d.ct_eq(&given)))
    }
}

/// A MAC over `fields` (JSON pointers within each item, joined by `separator`; an absent field
/// is empty, a number is its text) of every item of the array at `items`, each item carrying its
/// own signature at `signature`. Every item must verify.
pub struct JsonItemsMac {
    pub items: &'static str,
    pub item: &'static str,
    pub fields: &'static [&'static str],
    pub separator: &'static str,
    pub signature: &'static str,
    pub encoding: Encoding,
    keys: Vec<Keyed<Key>>,
}

impl JsonItemsMac {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        items: &'static str,
        item: &'static str,
        fields: &'static [&'static str],
        separator: &'static str,
        signature: &'static str,
        alg: Algorithm,
        format: KeyFormat,
        encoding: Encoding,
        secrets: &[KeyedSecret],
    ) -> Result<JsonItemsMac, String> {
        Ok(JsonItemsMac {
            items,
            item,
            fields,
            separator,
            signature,
            encoding,
            keys: keyed(alg, format, secrets)?,
        })
    }

    /// The signed string of one item.
    pub fn signing_string(&self, item: &Value) -> String {
        let text = |p: &&str| match item.pointer(p) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        self.fields
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(self.separator)
    }

    /// Every item's signing string, in order, as a JSON array (so the strings cannot run into
    /// each other).
    fn signed_content(&self, body: &[u8]) -> Option<Vec<u8>> {
        let doc: Value = serde_json::from_slice(body).ok()?;
        let strings = doc
            .pointer(self.items)?
            .as_array()?
            .iter()
            .map(|entry| entry.pointer(self.item).map(|i| self.signing_string(i)))
            .collect::<Option<Vec<String>>>()?;
        serde_json::to_vec(&strings).ok()
    }

    fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let doc = json(req.body)?;
        let items = doc
            .pointer(self.items)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or(VerifyError::Refused("body has no notification items"))?;
        let mut verified = Verified::default();
        for entry in items {
            let item = entry
                .pointer(self.item)
                .ok_or(VerifyError::Refused("malformed notification item"))?;
            let sig = item
                .pointer(self.signature)
                .and_then(Value::as_str)
                .and_then(|s| self.encoding.decode(s.as_bytes()))
                .ok_or(VerifyError::Refused(
                    "notification item carries no signature",
                ))?;
            let msg = self.signing_string(item);
            let candidates = [sig];
            verified = first_match(&self.keys, req.now, |k| {
                bool::from(matches_any(&k.mac(&[msg.as_bytes()]), &candidates))
            })?;
        }
        Ok(verified)
    }
}

/// A MAC of the form field `payload` (as sent, and with a trailing newline), presented in the
/// form field `signature` as `public_key|mac` pairs separated by `&`: the pair of the
/// configured public key must match. The form holds these two fields once each and nothing
/// else, and the query names neither (Braintree sends exactly that).
pub struct FormFieldMac {
    pub payload: &'static str,
    pub signature: &'static str,
    public_key: Vec<u8>,
    keys: Vec<Keyed<Key>>,
}

impl FormFieldMac {
    pub fn new(
        payload: &'static str,
        signature: &'static str,
        public_key: &[u8],
        alg: Algorithm,
        format: KeyFormat,
        secrets: &[KeyedSecret],
    ) -> Result<FormFieldMac, String> {
        Ok(FormFieldMac {
            payload,
            signature,
            public_key: public_key.to_vec(),
            keys: keyed(alg, format, secrets)?,
        })
    }

    /// The decoded payload without trailing newlines: it verifies with or without one, and
    /// the signature field may carry any other pairs.
    fn signed_content(&self, body: &[u8]) -> Option<Vec<u8>> {
        let [payload, _] =
            form_fields(body, [self.payload, self.signature], Extra::Refused).ok()?;
        Some(payload?.trim_end_matches('\n').as_bytes().to_vec())
    }

    fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let names = [self.payload, self.signature];
        let [payload, signature] = form_fields(req.body, names, Extra::Refused)?;
        // Some frameworks read a query parameter before the body's (Flask's `values`, a
        // servlet's `getParameter`): the forwarded query must not name a signed field either.
        let query = req.rest.split_once('?').map_or("", |(_, q)| q);
        if form_urlencoded::parse(query.as_bytes()).any(|(k, _)| names.contains(&k.as_ref())) {
            return Err(VerifyError::Refused(
                "the query repeats a signed form field",
            ));
        }
        let payload = payload.ok_or(VerifyError::Refused("no payload field"))?;
        let signature = signature.ok_or(VerifyError::Refused("no signature field"))?;
        let presented = signature
            .split('&')
            .filter_map(|pair| pair.split_once('|'))
            .find(|(public, _)| public.as_bytes() == self.public_key.as_slice())
            .and_then(|(_, mac)| Encoding::HexLower.decode(mac.as_bytes()))
            .ok_or(VerifyError::NoMatch)?;
        let candidates = [presented];
        let with_newline = format!("{payload}\n");
        first_match(&self.keys, req.now, |k| {
            bool::from(
                matches_any(&k.mac(&[payload.as_bytes()]), &candidates)
                    | matches_any(&k.mac(&[with_newline.as_bytes()]), &candidates),
            )
        })
    }
}

/// Whether a form may carry fields besides the signed ones.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Extra {
    /// The sender signs everything it sends (Braintree): anything else was added on the way.
    Refused,
    /// The sender sends unsigned fields too (Mailgun's event data, by its design).
    Allowed,
}

/// The values of the form fields `names`, each at most once: a repeated signed field is
/// refused, because hookgate would check one copy and the upstream's framework may read
/// another (Rails, PHP and Django the last, Flask the first).
pub(super) fn form_fields<const N: usize>(
    body: &[u8],
    names: [&str; N],
    extra: Extra,
) -> Result<[Option<String>; N], VerifyError> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for (k, v) in form_urlencoded::parse(body) {
        match names.iter().position(|n| *n == k) {
            Some(i) if values[i].is_some() => {
                return Err(VerifyError::Refused("a signed form field repeats"));
            }
            Some(i) => values[i] = Some(v.into_owned()),
            None if extra == Extra::Refused => {
                return Err(VerifyError::Refused(
                    "the form carries a field the sender does not send",
                ));
            }
            None => {}
        }
    }
    Ok(values)
}

/// `header` = MAC of the URL followed by every form parameter's name and value, sorted by name
/// (Mandrill; Twilio's scheme without its JSON and port variants).
pub struct FormUrlMac {
    header: HeaderName,
    public_url: String,
    encoding: Encoding,
    keys: Vec<Keyed<Key>>,
}

impl FormUrlMac {
    pub fn new(
        header: HeaderName,
        public_url: String,
        alg: Algorithm,
        encoding: Encoding,
        secrets: &[KeyedSecret],
    ) -> Result<FormUrlMac, String> {
        Ok(FormUrlMac {
            header,
            public_url,
            encoding,
            keys: keyed(alg, KeyFormat::Raw, secrets)?,
        })
    }

    /// The header holding the MAC.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let presented = req
            .headers
            .get(&self.header)
            .ok_or_else(|| VerifyError::MissingHeader(self.header.to_string()))?;
        let presented = self
            .encoding
            .decode(presented.as_bytes().trim_ascii())
            .ok_or(VerifyError::Malformed {
                header: self.header.to_string(),
                reason: "signature is not in the expected format",
            })?;
        // The signing string drops a pair sent twice, and the upstream's framework reads one
        // copy of a repeated name or the other: Mandrill sends each parameter once.
        let mut names: Vec<_> = form_urlencoded::parse(req.body).map(|(k, _)| k).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(VerifyError::Refused("a signed form field repeats"));
        }
        let url = format!("{}{}", self.public_url, req.rest);
        let params = super::twilio::sorted_params(req.body);
        let candidates = [presented];
        first_match(&self.keys, req.now, |k| {
            bool::from(matches_any(
                &k.mac(&[url.as_bytes(), params.as_bytes()]),
                &candidates,
            ))
        })
    }
}
