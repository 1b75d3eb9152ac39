//! Providers' URL-verification handshakes, answered by hookgate itself (never forwarded, never
//! deduplicated), and only after the request passed verification where the provider signs it.
//!
//! A handshake that answers with a MAC under the route's secret must never become a signing
//! oracle: its answer must not verify as the signature of any request the route accepts. X's
//! CRC (`HMAC(secret, crc_token)`, the same MAC as `x-twitter-webhooks-signature` over a body)
//! and Zoom's `encryptedToken` (`HMAC(secret, plainToken)`, while Zoom signs
//! `v0:{timestamp}:{body}`) are therefore answered only for short tokens of [`is_token`]'s
//! charset: it has no `{` (a body the X route accepts is blank or starts with one, see
//! `Check::ObjectBody`), no blank and no `:` (every message Zoom signs contains one), and a
//! token is never empty (the empty body's signature). Slack's and LimAI's challenges are echoed
//! from a signed body and Discord's PING answer is constant: no MAC, nothing to forge with.
//! Meta's echoed `hub.challenge` takes the same charset (a reflected text, never markup).
//! Never reuse X's consumer secret or Zoom's secret token on another route: the rule above
//! holds per route.

use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Verified;
use super::challenge::Challenge;
use super::keys::{Keyed, KeyedSecret};
use super::mac::{Algorithm, Encoding, Key};
use crate::secret::Secret;

pub enum Handshake {
    /// `{"eventType":"VERIFICATION","challenge":…}` → `{"challenge":…}`.
    LimAi,
    /// `{"type":"url_verification","challenge":…}` → `{"challenge":…}`.
    Slack,
    /// `{"event":"endpoint.url_validation","payload":{"plainToken":p}}` →
    /// `{"plainToken":p,"encryptedToken":hex(HMAC-SHA256(secret, p))}`, with the secret that
    /// verified the request.
    Zoom { secrets: Vec<Secret> },
    /// Interactions: PING `{"type":1}` (no `event`) → `{"type":1}`. Webhook Events (same key
    /// and signature): PING `{"type":0}` → 204, empty; `{"type":1,"event":…}` is an event.
    Discord,
    /// `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` → the challenge, or 403.
    Meta { verify_token: [u8; 32] },
    /// `GET ?crc_token=…` → `{"response_token":"sha256=" + base64(HMAC-SHA256(secret, token))}`,
    /// with the first secret active now (a retired one's answer would get the webhook disabled).
    Twitter { keys: Vec<Keyed<Key>> },
    /// The handshakes that read headers or come before the body (`challenge.rs`).
    Challenge(Challenge),
    /// `HEAD` → 200, no body: Trello and Mandrill check that the URL exists when a webhook is
    /// created. Nothing is echoed, so nothing needs verifying.
    Head,
}

const TOKEN_RULE: &str = "challenge token must be 1-256 characters of letters, digits and -_=+/.~";

/// A handshake's answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Headers the provider expects besides `Content-Type`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub(crate) fn json(v: &Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn refuse(status: u16, error: &str, detail: &str) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: json!({ "error": error, "detail": detail })
                .to_string()
                .into_bytes(),
            headers: Vec::new(),
        }
    }
}

/// The longest challenge token answered. X's CRC tokens and Zoom's plainTokens are a few dozen
/// characters; Meta's challenge is a number.
pub const MAX_TOKEN: usize = 256;

/// A challenge a handshake may answer: 1 to [`MAX_TOKEN`] characters of ASCII letters, digits
/// and `-_=+/.~` (URL-safe and standard base64, plus two unreserved URL characters).
pub fn is_token(t: &str) -> bool {
    (1..=MAX_TOKEN).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=+/.~".contains(&b))
}

impl Handshake {
    pub fn meta(verify_token: &Secret) -> Handshake {
        Handshake::Meta {
            verify_token: Sha256::digest(verify_token.expose()).into(),
        }
    }

    /// `None` if a secret is not a usable HMAC key.
    pub fn twitter(secrets: &[KeyedSecret]) -> Option<Handshake> {
        let keys = secrets
            .iter()
            .map(|s| {
                Key::new(Algorithm::Sha256, s.secret.expose()).map(|key| Keyed {
                    key,
                    not_after: s.not_after,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Handshake::Twitter { keys })
    }

    /// Whether this route answers GET requests (the unsigned handshakes).
    pub fn answers_get(&self) -> bool {
        match self {
            Handshake::Meta { .. } | Handshake::Twitter { .. } => true,
            Handshake::Challenge(c) => c.answers_get(),
            _ => false,
        }
    }

    /// A handshake answered from the request head alone, before the body is read, or `None`
    /// to go on with the request.
    pub fn on_head(&self, method: &Method, headers: &HeaderMap, query: &str) -> Option<Reply> {
        match self {
            Handshake::Challenge(c) => c.on_head(method, headers, query),
            Handshake::Head if *method == Method::HEAD => Some(Handshake::head_reply()),
            h if *method == Method::GET && h.answers_get() => Some(h.on_get(query)),
            _ => None,
        }
    }

    /// Whether the route's check must pass on the head before [`Handshake::on_head`]'s answer.
    pub fn head_verified(&self) -> bool {
        matches!(self, Handshake::Challenge(c) if c.head_verified())
    }

    /// Whether this route answers HEAD requests.
    pub fn answers_head(&self) -> bool {
        matches!(self, Handshake::Head)
    }

    /// The answer to a HEAD on the route.
    pub fn head_reply() -> Reply {
        Reply {
            status: 200,
            content_type: "text/plain",
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The answer to a GET on the route.
    pub fn on_get(&self, query: &str) -> Reply {
        let param = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        match self {
            Handshake::Meta { verify_token } => {
                let (Some(mode), Some(token), Some(challenge)) = (
                    param("hub.mode"),
                    param("hub.verify_token"),
                    param("hub.challenge"),
                ) else {
                    return Reply::refuse(
                        400,
                        "bad_request",
                        "expected hub.mode, hub.verify_token and hub.challenge",
                    );
                };
                let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                if mode != "subscribe" || !bool::from(presented.ct_eq(verify_token)) {
                    return Reply::refuse(403, "forbidden", "verify_token does not match");
                }
                // Echoed as text: only a plain token, never markup or anything else reflected.
                if !is_token(&challenge) {
                    return Reply::refuse(400, "bad_request", TOKEN_RULE);
                }
                Reply {
                    status: 200,
                    content_type: "text/plain",
                    body: challenge.into_bytes(),
                    headers: Vec::new(),
                }
            }
            Handshake::Twitter { keys } => match param("crc_token") {
                Some(token) if !is_token(&token) => Reply::refuse(400, "bad_request", TOKEN_RULE),
                Some(token) => {
                    let Some((_, key)) = Keyed::active(keys, SystemTime::now()).next() else {
                        return Reply::refuse(
                            403,
                            "forbidden",
                            "no secret of this route is active",
                        );
                    };
                    let mac = key.mac(&[token.as_bytes()]);
                    Reply::json(
                        &json!({ "response_token": format!("sha256={}", Encoding::Base64.encode(&mac)) }),
                    )
                }
                None => Reply::refuse(400, "bad_request", "expected crc_token"),
            },
            _ => Reply::refuse(405, "method_not_allowed", "this route accepts POST only"),
        }
    }

    /// The answer to a verified POST that is a handshake, or `None` for an ordinary event.
    /// Decided by the body alone, which every provider here signs (or authenticates with a
    /// secret): a header the signature does not cover cannot turn a captured handshake into
    /// an event or an event into a handshake.
    pub fn on_post(&self, body: &[u8], verified: &Verified) -> Option<Reply> {
        if let Handshake::Challenge(c) = self {
            return c.on_post(body);
        }
        let doc: Value = serde_json::from_slice(body).ok()?;
        match self {
            Handshake::LimAi if doc.get("eventType")? == "VERIFICATION" => {
                Some(Reply::json(&json!({ "challenge": doc.get("challenge")? })))
            }
            Handshake::Slack if doc.get("type")? == "url_verification" => {
                Some(Reply::json(&json!({ "challenge": doc.get("challenge")? })))
            }
            Handshake::Zoom { secrets } if doc.get("event")? == "endpoint.url_validation" => {
                let plain = doc.pointer("/payload/plainToken")?.as_str()?;
                if !is_token(plain) {
                    return Some(Reply::refuse(400, "bad_request", TOKEN_RULE));
                }
                let secret = secrets.get(verified.key.unwrap_or(0))?;
                let mac = Key::new(Algorithm::Sha256, secret.expose())?.mac(&[plain.as_bytes()]);
                Some(Reply::json(
                    &json!({ "plainToken": plain, "encryptedToken": hex::encode(mac) }),
                ))
            }
            Handshake::Discord => match doc.get("type")?.as_u64()? {
                0 => Some(Reply {
                    status: 204,
                    content_type: "",
                    body: Vec::new(),
                    headers: Vec::new(),
                }),
                1 if doc.get("event").is_none() => Some(Reply::json(&json!({ "type": 1 }))),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_and_twitter_get_handshakes() {
        let m = Handshake::meta(&Secret::literal("tok"));
        let r = m.on_get("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1158201444");
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, b"1158201444".as_slice())
        );
        assert_eq!(
            m.on_get("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")
                .status,
            403
        );
        assert_eq!(m.on_get("").status, 400);
        let t = Handshake::twitter(&[KeyedSecret::new(Secret::literal("consumer"))]).unwrap();
        let r = t.on_get("crc_token=abc");
        let mac = Key::new(Algorithm::Sha256, b"consumer")
            .unwrap()
            .mac(&[b"abc"]);
        let expected =
            json!({ "response_token": format!("sha256={}", Encoding::Base64.encode(&mac)) });
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap(), expected);
    }

    #[test]
    fn x_crc_with_every_secret_retired_is_refused() {
        let retired = KeyedSecret {
            secret: Secret::literal("old"),
            not_after: Some(std::time::UNIX_EPOCH),
        };
        let t = Handshake::twitter(&[retired]).unwrap();
        assert_eq!(t.on_get("crc_token=abc").status, 403);
    }

    #[test]
    fn challenges_that_could_be_signed_messages_are_refused() {
        let t = Handshake::twitter(&[KeyedSecret::new(Secret::literal("consumer"))]).unwrap();
        let long = format!("crc_token={}", "a".repeat(MAX_TOKEN + 1));
        for q in [
            "crc_token=",
            "crc_token=%7B%22id%22%3A1%7D",
            "crc_token=a%20b",
            "crc_token=a:b",
            long.as_str(),
        ] {
            assert_eq!(t.on_get(q).status, 400, "{q}");
        }
        assert_eq!(
            t.on_get(&format!("crc_token={}", "a".repeat(MAX_TOKEN)))
                .status,
            200
        );
        let m = Handshake::meta(&Secret::literal("tok"));
        let r = m.on_get("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=%3Cb%3E");
        assert_eq!(r.status, 400);
        let zoom = Handshake::Zoom {
            secrets: vec![Secret::literal("s")],
        };
        let r = zoom
            .on_post(
                br#"{"event":"endpoint.url_validation","payload":{"plainToken":"v0:1:{}"}}"#,
                &Verified::default(),
            )
            .unwrap();
        assert_eq!(r.status, 400);
    }

    #[test]
    fn post_handshakes_and_ordinary_events() {
        let v = Verified { key: Some(1) };
        let r = Handshake::LimAi
            .on_post(br#"{"eventType":"VERIFICATION","challenge":"c1"}"#, &v)
            .unwrap();
        assert_eq!(r.body, br#"{"challenge":"c1"}"#);
        assert!(
            Handshake::LimAi
                .on_post(br#"{"eventType":"DOCUMENT_EXTRACTED"}"#, &v)
                .is_none()
        );
        let zoom = Handshake::Zoom {
            secrets: vec![Secret::literal("old"), Secret::literal("new")],
        };
        let r = zoom
            .on_post(
                br#"{"event":"endpoint.url_validation","payload":{"plainToken":"p"}}"#,
                &v,
            )
            .unwrap();
        let mac = Key::new(Algorithm::Sha256, b"new").unwrap().mac(&[b"p"]);
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap(),
            json!({ "plainToken": "p", "encryptedToken": hex::encode(mac) })
        );
        assert!(Handshake::Discord.on_post(br#"{"type":2}"#, &v).is_none());
        let event = br#"{"type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}"#;
        assert!(Handshake::Discord.on_post(event, &v).is_none());
        let ping = Handshake::Discord.on_post(br#"{"type":0}"#, &v).unwrap();
        assert_eq!((ping.status, ping.body.len()), (204, 0));
        assert!(Handshake::Slack.on_post(b"not json", &v).is_none());
    }
}
