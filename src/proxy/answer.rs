//! What the gateway answers: status, small JSON body, headers, and whether to close. Every
//! answer of the listener is built here: refusals (status from `RequestOutcome`'s table), the
//! route's `response` to an accepted event, handshake replies and relayed sync answers.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession as Session;

use crate::limits::memory::Refused;
use crate::metrics::RequestOutcome;
use crate::normalize::media::MediaType;
use crate::routing::Route;
use crate::store::{StoreError, SyncAnswer};
use crate::verify::handshake::Reply;

/// Hop-by-hop headers (RFC 9110 §7.6.1): never passed from one connection to the next.
pub(crate) const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// The names a `Connection` header lists (RFC 9110 §7.6.1): that connection's own, not passed
/// on, as the hop-by-hop ones.
pub(crate) fn connection_listed<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether a header of an upstream's answer is the sender's to see: not hop-by-hop, not named
/// by the answer's `Connection` (`listed`), not framing or date, which pingora sets for the
/// sender's connection.
pub(crate) fn relayable(name: &str, listed: &[String]) -> bool {
    !HOP_BY_HOP.contains(&name)
        && name != "content-length"
        && name != "date"
        && !listed.iter().any(|l| l == name)
}

pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Close the connection afterwards: the request body was not (fully) read, and draining
    /// it to keep the connection alive would mean reading what we refused.
    pub close: bool,
    pub outcome: RequestOutcome,
    /// The event this answer is about, once known (for the access log and the span).
    pub event_id: Option<String>,
}

impl Answer {
    fn new(status: u16, outcome: RequestOutcome, body: impl Into<Bytes>) -> Answer {
        Answer {
            status,
            body: body.into(),
            headers: Vec::new(),
            close: false,
            outcome,
            event_id: None,
        }
    }

    /// `{"error": code, "detail": ...}` with the outcome's status (`RequestOutcome::status`).
    pub fn refuse(outcome: RequestOutcome, detail: impl Into<String>) -> Answer {
        // Only outcomes without a status of their own reach the fallback: a bug, not a request.
        Answer::refuse_with(outcome.status().unwrap_or(500), outcome, detail)
    }

    /// A refusal whose status is configured rather than fixed (a sync route's timeout status).
    pub fn refuse_with(status: u16, outcome: RequestOutcome, detail: impl Into<String>) -> Answer {
        let body = crate::wire::error_body(outcome.label(), &detail.into());
        Answer::new(status, outcome, body)
    }

    /// 503 with `Retry-After`: the event was not persisted, the sender should try again. The
    /// sender (a third party) learns only which kind of refusal it is; what failed (a Redis
    /// error with an internal address, a file path, the spill's bound) is for the log.
    pub fn unavailable(e: &StoreError, retry_after: std::time::Duration) -> Answer {
        if !matches!(e, StoreError::Full(_) | StoreError::Busy)
            && crate::logs::NOT_PERSISTED.hit(&e.to_string(), String::new)
        {
            tracing::error!(error = %e, "cannot persist event; answering 503");
        }
        let why = match e {
            StoreError::Full(_) => "the queue is at its bound",
            StoreError::Busy => "the store is busy",
            _ => "the store is unavailable",
        };
        Answer::refuse(
            RequestOutcome::Unavailable,
            format!("event not persisted: {why}; retry later"),
        )
        .retry_after(retry_after)
    }

    /// 503 with `Retry-After`, closing: request bodies in memory are at their bound
    /// (`limits::memory`), and this one could not be read (or was cut, still arriving).
    pub fn memory_full(why: Refused, retry_after: std::time::Duration) -> Answer {
        let detail = match why {
            Refused::Full => "request bodies in memory are at their bound; retry later",
            Refused::Cut => {
                "body still arriving while request bodies in memory are at their bound; retry later"
            }
        };
        Answer::refuse(RequestOutcome::Unavailable, detail)
            .retry_after(retry_after)
            .closing()
    }

    /// 413, closing: the rest of the body is not read.
    pub fn too_large(max: usize) -> Answer {
        Answer::refuse(
            RequestOutcome::PayloadTooLarge,
            format!("body exceeds {max} bytes"),
        )
        .closing()
    }

    /// The route's `response` to an accepted event (by default
    /// `{"status": "accepted" | "duplicate", "event_id": ...}`); `{event_id}` and `{route}` in
    /// its body and header templates are filled in.
    pub fn accepted(route: &Route, event_id: &str, outcome: RequestOutcome) -> Answer {
        let spec = &route.response;
        let body: Bytes = match &spec.body {
            Some(t) => render(t, &in_body(event_id, &spec.headers), &route.name).into(),
            None => default_body(event_id, outcome).into(),
        };
        let mut answer = Answer::new(spec.status, outcome, body);
        // The event ID in its header form (`event::id::header_form`), so it is never dropped.
        let id = crate::event::id::header_form(event_id);
        for (name, template) in &spec.headers {
            if let Ok(v) = HeaderValue::from_str(&render(template, &id, &route.name)) {
                answer.headers.push((name.clone(), v));
            }
        }
        answer
    }

    /// A provider's handshake reply, as the provider expects it.
    pub fn handshake(reply: Reply) -> Answer {
        // The reply says only its status; a refused handshake counts as what it refuses.
        let outcome = if reply.status < 300 {
            RequestOutcome::Handshake
        } else if reply.status == 403 {
            RequestOutcome::Forbidden
        } else {
            RequestOutcome::BadRequest
        };
        let mut answer = Answer::new(reply.status, outcome, reply.body);
        // None for a reply without a body (Discord's 204).
        if !reply.content_type.is_empty() {
            answer = answer.header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(reply.content_type),
            );
        }
        answer.headers.extend(reply.headers);
        answer
    }

    /// A sync route's answer from its upstream, as it came (minus hop-by-hop headers; answers
    /// kept by earlier versions still carry them).
    pub fn relayed(a: SyncAnswer, outcome: RequestOutcome) -> Answer {
        let listed = connection_listed(
            a.headers
                .iter()
                .filter(|(k, _)| k == "connection")
                .map(|(_, v)| v.as_slice()),
        );
        let kept = a.headers.into_iter().filter(|(k, _)| relayable(k, &listed));
        let mut answer = Answer::new(a.status, outcome, a.body.into_vec());
        answer.headers = crate::wire::from_pairs(kept).collect();
        // Not ours to call JSON (the default of hookgate's own answers).
        if !answer
            .headers
            .iter()
            .any(|(n, _)| n == http::header::CONTENT_TYPE)
        {
            answer = answer.header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        answer
    }

    pub fn retry_after(self, after: std::time::Duration) -> Answer {
        self.header(
            http::header::RETRY_AFTER,
            HeaderValue::from(after.as_secs().max(1)),
        )
    }

    pub fn with_event(mut self, event_id: String) -> Answer {
        self.event_id = Some(event_id);
        self
    }

    pub fn closing(mut self) -> Answer {
        self.close = true;
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Answer {
        self.headers.push((name, value));
        self
    }

    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    ) -> Answer {
        self.headers.extend(headers);
        self
    }

    /// Writes the answer; over HTTP/2, all of it within `limit`, else the stream is reset.
    /// pingora bounds no HTTP/2 write (its session's write timeout is unset), and a client
    /// that grants no flow-control window would hold the request — and its connection —
    /// forever. (HTTP/1.x writes are bounded by the gate, `conn::serve_h1`.)
    pub async fn write(self, session: &mut Session, limit: Duration) -> pingora::Result<()> {
        if self.close {
            session.set_keepalive(None);
        }
        let (head, body) = self.into_parts()?;
        let h2 = session.is_http2();
        let send = async {
            session.write_response_header(head).await?;
            session.write_response_body(body, true).await
        };
        if !h2 {
            return send.await;
        }
        match tokio::time::timeout(limit, send).await {
            Ok(Ok(())) => return Ok(()),
            // The client reset the stream, or the connection is gone (shed, closed): there is
            // nobody to tell, and pingora would log the failed write as an error, then fail
            // again answering it.
            Ok(Err(e)) => tracing::debug!(error = %e, "HTTP/2 answer not written"),
            Err(_) => {
                tracing::debug!(
                    timeout_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                    "HTTP/2 answer not taken by the client in time; stream reset"
                );
                if let Session::H2(h2) = session {
                    // Also drops what h2 still holds of the answer.
                    h2.shutdown();
                }
            }
        }
        // The stream is reset or gone: nothing more for pingora to answer (its `finish` on it
        // fails quietly).
        Ok(())
    }

    /// Writes a refusal after which the connection closes, whatever the request asked.
    pub async fn write_refusal(self, session: &mut Session) -> pingora::Result<()> {
        let (head, body) = self.into_parts()?;
        session.write_error_response(*head, body).await
    }

    fn into_parts(self) -> pingora::Result<(Box<ResponseHeader>, Bytes)> {
        let size = Some(3 + self.headers.len());
        // With only hookgate's own headers (Content-Type, Content-Length: title case either
        // way), without pingora's case-keeping map: a sixth of the answer's instructions
        // (callgrind). Configured headers keep the map, so their names go as they always did.
        let mut resp = if self.headers.is_empty() {
            ResponseHeader::build_no_case(self.status, size)?
        } else {
            ResponseHeader::build(self.status, size)?
        };
        if !self
            .headers
            .iter()
            .any(|(n, _)| n == http::header::CONTENT_TYPE)
            && !self.body.is_empty()
        {
            resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        }
        for (name, value) in self.headers {
            resp.append_header(name, value)?;
        }
        resp.insert_header(http::header::CONTENT_LENGTH, self.body.len())?;
        Ok((Box::new(resp), self.body))
    }
}

/// `{"event_id":...,"status":...}`, written directly (a `serde_json::Value` would build a map
/// per request for two fields): the same bytes as serializing that object.
fn default_body(event_id: &str, outcome: RequestOutcome) -> Vec<u8> {
    let label = outcome.label();
    let mut body = Vec::with_capacity(32 + event_id.len() + label.len());
    body.extend_from_slice(br#"{"event_id":"#);
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut body, event_id);
    body.extend_from_slice(br#","status":"#);
    let _ = serde_json::to_writer(&mut body, label);
    body.push(b'}');
    body
}

/// `event_id` as it may stand in a `response` body of the type the answer declares (its
/// `Content-Type` template, else JSON, hookgate's default): escaped for a JSON string, or for
/// XML/HTML text, so a sender's ID adds no field or markup to an answer a provider may parse.
/// As is for other types (`text/plain`).
fn in_body<'a>(event_id: &'a str, headers: &[(HeaderName, String)]) -> Cow<'a, str> {
    let content_type = headers
        .iter()
        .find(|(n, _)| n == http::header::CONTENT_TYPE)
        .map_or("application/json", |(_, v)| v.as_str());
    let essence = MediaType::parse(content_type)
        .map(|t| t.essence)
        .unwrap_or_default();
    if essence.ends_with("/json") || essence.ends_with("+json") {
        // serde_json's string, less its quotes: the template holds those.
        let quoted = serde_json::to_string(event_id).unwrap_or_default();
        let inner = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
        return Cow::Owned(inner.unwrap_or_default().to_string());
    }
    if essence.ends_with("xml") || essence.ends_with("html") {
        let mut out = String::with_capacity(event_id.len());
        for c in event_id.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        return Cow::Owned(out);
    }
    Cow::Borrowed(event_id)
}

/// A `response` template with `{event_id}` and `{route}` filled in.
fn render(template: &str, event_id: &str, route: &str) -> String {
    template
        .replace("{event_id}", event_id)
        .replace("{route}", route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_take_their_status_from_the_outcome_table() {
        use RequestOutcome as O;
        for o in RequestOutcome::ALL {
            let elsewhere = matches!(
                o,
                O::Accepted | O::Duplicate | O::Relayed | O::Handshake | O::UpstreamTimeout
            );
            assert_eq!(o.status().is_none(), elsewhere, "{o:?}");
            let Some(status) = o.status() else { continue };
            let a = Answer::refuse(o, "why");
            assert_eq!((a.status, a.outcome, a.close), (status, o, false));
            let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({ "error": o.label(), "detail": "why" })
            );
        }
        let labels: std::collections::HashSet<_> =
            RequestOutcome::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(labels.len(), RequestOutcome::ALL.len());
    }

    #[test]
    fn accepted_fills_the_response_templates() {
        let mut route = Route::for_test("r", "/r");
        route.response.status = 202;
        route.response.body = Some("{event_id} on {route}".into());
        route.response.headers =
            vec![(HeaderName::from_static("x-id"), "{route}/{event_id}".into())];
        let a = Answer::accepted(&route, "a\nb", RequestOutcome::Duplicate);
        assert_eq!(a.status, 202);
        // JSON by default: escaped as in a JSON string.
        assert_eq!(&a.body[..], b"a\\nb on r");
        // The header form: percent-encoded, never dropped.
        assert_eq!(
            a.headers,
            [(
                HeaderName::from_static("x-id"),
                HeaderValue::from_static("r/a%0Ab")
            )]
        );
        for (content_type, want) in [
            ("application/json", r#"x\",\"admin\":true"#),
            (
                "application/vnd.x+json; charset=utf-8",
                r#"x\",\"admin\":true"#,
            ),
            ("text/xml", "x&quot;,&quot;admin&quot;:true"),
            ("text/html", "x&quot;,&quot;admin&quot;:true"),
            ("text/plain", r#"x","admin":true"#),
        ] {
            let h = [(http::header::CONTENT_TYPE, content_type.to_string())];
            assert_eq!(in_body(r#"x","admin":true"#, &h), want, "{content_type}");
        }
        assert_eq!(
            in_body(
                "<a>&'",
                &[(http::header::CONTENT_TYPE, "application/xml".into())]
            ),
            "&lt;a&gt;&amp;&#39;"
        );
        let plain = Answer::accepted(&Route::for_test("p", "/p"), "e1", RequestOutcome::Accepted);
        assert_eq!(&plain.body[..], br#"{"event_id":"e1","status":"accepted"}"#);
        for id in ["e1", "a\"b\\c\n\u{7f}\u{e9}\u{1F600}", ""] {
            for o in [RequestOutcome::Accepted, RequestOutcome::Duplicate] {
                let want = serde_json::json!({ "status": o.label(), "event_id": id }).to_string();
                assert_eq!(default_body(id, o), want.into_bytes(), "{id:?}");
            }
        }
    }
}
