//! Handshakes as data, for the providers whose handshake reads headers, answers with headers,
//! or comes before the body is read (a GET, an OPTIONS, a POST whose query is the challenge).
//! `Handshake::Challenge` holds one; the rules of `handshake.rs` hold here too: a challenge that
//! comes in a signed body is answered only after verification, and a reflected value is a plain
//! token (or, for Microsoft Graph, printable text sent as `text/plain` with `nosniff`).
//!
//! | provider | request | answer |
//! |---|---|---|
//! | Twitch | verified POST whose body has `challenge` (whatever the unsigned `Twitch-Eventsub-Message-Type`) | the body's `challenge`, `text/plain` |
//! | Dropbox | GET `?challenge=c` | `c`, `text/plain`, `X-Content-Type-Options: nosniff` |
//! | Asana | POST with `X-Hook-Secret` and no `X-Hook-Signature` | 200, the same `X-Hook-Secret` |
//! | Okta | GET with `x-okta-verification-challenge` (after the auth header is verified) | `{"verification": c}` |
//! | Microsoft Graph | POST `?validationToken=t` | `t`, `text/plain` |
//! | Azure Event Grid | verified `SubscriptionValidationEvent`; OPTIONS with `WebHook-Request-Origin` | `{"validationResponse": code}`; 200 with `WebHook-Allowed-Origin` |
//! | Xero | verified intent-to-receive (`"events": []`) | 200, empty body |
//! | monday.com | verified `{"challenge": c}` | the same JSON |

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};

use super::handshake::{Reply, is_token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Twitch,
    Dropbox,
    Asana,
    Okta,
    Graph,
    EventGrid,
    Xero,
    Monday,
}

/// The longest Graph `validationToken` echoed (Graph's are about 150 characters).
const MAX_TEXT: usize = 1024;

fn text(body: String) -> Reply {
    Reply {
        status: 200,
        content_type: "text/plain",
        body: body.into_bytes(),
        headers: vec![(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        )],
    }
}

fn bad(detail: &str) -> Reply {
    Reply::refuse(400, "bad_request", detail)
}

const TOKEN_RULE: &str = "challenge must be 1-256 characters of letters, digits and -_=+/.~";

/// Graph's tokens are free text ("Validation: Testing client application reachability ..."):
/// printable ASCII without markup characters, sent back as `text/plain` with `nosniff`.
fn is_text(t: &str) -> bool {
    (1..=MAX_TEXT).contains(&t.len())
        && t.bytes()
            .all(|b| (b' '..=b'~').contains(&b) && !b"<>&\"'".contains(&b))
}

impl Challenge {
    /// Whether the route answers GET (its handshake is a GET; for `Allow`).
    pub fn answers_get(self) -> bool {
        matches!(self, Challenge::Dropbox | Challenge::Okta)
    }

    /// Whether the route's check must pass (on the head alone, an empty body) before
    /// [`Challenge::on_head`] answers: Okta sends its authorization header with the GET.
    pub fn head_verified(self) -> bool {
        self == Challenge::Okta
    }

    /// A handshake answered from the request head, before the body is read; `None`: not one.
    pub fn on_head(self, method: &Method, headers: &HeaderMap, query: &str) -> Option<Reply> {
        let param = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match (self, method) {
            (Challenge::Dropbox, &Method::GET) => Some(match param("challenge") {
                Some(c) if is_token(&c) => text(c),
                Some(_) => bad(TOKEN_RULE),
                None => bad("expected challenge"),
            }),
            (Challenge::Okta, &Method::GET) => {
                Some(match header("x-okta-verification-challenge") {
                    Some(c) if is_token(c) => Reply::json(&json!({ "verification": c })),
                    Some(_) => bad(TOKEN_RULE),
                    None => bad("expected x-okta-verification-challenge"),
                })
            }
            // Graph's validation POST has an empty body and the token in the query; a
            // notification never has a validationToken.
            (Challenge::Graph, &Method::POST) => param("validationToken").map(|t| {
                if is_text(&t) {
                    text(t)
                } else {
                    bad("validationToken must be 1-1024 printable characters without markup")
                }
            }),
            // Asana's handshake is unsigned by design: echoing the sender's own value proves
            // nothing and admits nothing (no event passes without an X-Hook-Signature under a
            // configured secret); the secret is neither stored nor forwarded.
            (Challenge::Asana, &Method::POST) if headers.get("x-hook-signature").is_none() => {
                let secret = headers.get("x-hook-secret")?;
                let ok = secret.to_str().is_ok_and(is_token);
                Some(if ok {
                    Reply {
                        status: 200,
                        content_type: "text/plain",
                        body: Vec::new(),
                        headers: vec![(HeaderName::from_static("x-hook-secret"), secret.clone())],
                    }
                } else {
                    bad("X-Hook-Secret must be 1-256 characters of letters, digits and -_=+/.~")
                })
            }
            // CloudEvents abuse protection: the origin may deliver here. Saying so admits no
            // event (each one is still verified), so it needs no credential.
            (Challenge::EventGrid, &Method::OPTIONS) => {
                Some(match header("webhook-request-origin") {
                    Some(o) if is_token(o) => {
                        let mut r = text(String::new());
                        r.headers.push((
                            HeaderName::from_static("webhook-allowed-origin"),
                            HeaderValue::from_str(o).unwrap_or(HeaderValue::from_static("*")),
                        ));
                        r
                    }
                    _ => bad("expected WebHook-Request-Origin"),
                })
            }
            _ => None,
        }
    }

    /// The answer to a verified POST that is a handshake, or `None` for an ordinary event.
    pub fn on_post(self, body: &[u8]) -> Option<Reply> {
        let doc: Value = serde_json::from_slice(body).ok()?;
        match self {
            // The signature covers the body, not `Twitch-Eventsub-Message-Type`: a body with
            // `challenge` is a verification whatever the header says (a captured one replayed
            // as a `notification` is answered again, never stored), and any other body is an
            // event (a notification or a revocation; replays of it are duplicates).
            Challenge::Twitch => Some(match doc.get("challenge")?.as_str() {
                Some(c) if is_token(c) => text(c.to_string()),
                _ => bad(TOKEN_RULE),
            }),
            Challenge::EventGrid => {
                let first = doc.as_array()?.first()?;
                if first.get("eventType")? != "Microsoft.EventGrid.SubscriptionValidationEvent" {
                    return None;
                }
                let code = first.pointer("/data/validationCode")?;
                Some(Reply::json(&json!({ "validationResponse": code })))
            }
            Challenge::Xero => {
                let events = doc.get("events")?.as_array()?;
                events.is_empty().then(|| Reply {
                    status: 200,
                    content_type: "text/plain",
                    body: Vec::new(),
                    headers: Vec::new(),
                })
            }
            Challenge::Monday => {
                let c = doc.get("challenge")?;
                Some(Reply::json(&json!({ "challenge": c })))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn head_handshakes() {
        let none = HeaderMap::new();
        let r = Challenge::Dropbox
            .on_head(&Method::GET, &none, "challenge=abc")
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"abc".as_slice()));
        assert_eq!(
            Challenge::Dropbox
                .on_head(&Method::GET, &none, "challenge=%3Cb%3E")
                .unwrap()
                .status,
            400
        );
        assert!(
            Challenge::Dropbox
                .on_head(&Method::POST, &none, "")
                .is_none()
        );
        let t =
            "Validation: Testing client application reachability for subscription Request-Id: 1";
        let q = format!("validationToken={}", t.replace(' ', "+"));
        let r = Challenge::Graph.on_head(&Method::POST, &none, &q).unwrap();
        assert_eq!(r.body, t.as_bytes());
        assert_eq!(
            Challenge::Graph
                .on_head(&Method::POST, &none, "validationToken=%3Cscript%3E")
                .unwrap()
                .status,
            400
        );
        assert!(Challenge::Graph.on_head(&Method::POST, &none, "").is_none());
        let asana = headers(&[("x-hook-secret", "b537207f")]);
        let r = Challenge::Asana.on_head(&Method::POST, &asana, "").unwrap();
        assert_eq!(r.headers[0].1, "b537207f");
        let signed = headers(&[("x-hook-secret", "b5"), ("x-hook-signature", "00")]);
        assert!(
            Challenge::Asana
                .on_head(&Method::POST, &signed, "")
                .is_none()
        );
        let okta = headers(&[("x-okta-verification-challenge", "abc")]);
        let r = Challenge::Okta.on_head(&Method::GET, &okta, "").unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap(),
            json!({"verification": "abc"})
        );
        let eg = headers(&[("webhook-request-origin", "eventgrid.azure.net")]);
        let r = Challenge::EventGrid
            .on_head(&Method::OPTIONS, &eg, "")
            .unwrap();
        assert_eq!(r.headers[1].1, "eventgrid.azure.net");
    }

    #[test]
    fn post_handshakes() {
        let r = Challenge::Twitch
            .on_post(br#"{"challenge":"pogchamp-kappa"}"#)
            .unwrap();
        assert_eq!(r.body, b"pogchamp-kappa");
        // Twitch's type header is unsigned and never read: a body with `challenge` is a
        // verification, any other an event.
        assert!(
            Challenge::Twitch
                .on_post(br#"{"subscription":{},"event":{}}"#)
                .is_none()
        );
        assert_eq!(
            Challenge::Twitch
                .on_post(br#"{"challenge":"<b>"}"#)
                .unwrap()
                .status,
            400
        );
        let v = br#"[{"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"C"}}]"#;
        let r = Challenge::EventGrid.on_post(v).unwrap();
        assert_eq!(r.body, br#"{"validationResponse":"C"}"#);
        assert!(
            Challenge::Xero
                .on_post(br#"{"events":[{"x":1}]}"#)
                .is_none()
        );
        assert_eq!(
            Challenge::Xero.on_post(br#"{"events":[]}"#).unwrap().body,
            b""
        );
    }
}
