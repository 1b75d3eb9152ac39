//! What the gateway answers: status, small JSON body, headers, and whether to close.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use crate::metrics::Outcome;
use crate::store::{StoreError, SyncAnswer};

/// Hop-by-hop headers (RFC 9110 §7.6.1): never passed from one connection to the next.
pub const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Close the connection afterwards: the request body was not (fully) read, and draining
    /// it to keep the connection alive would mean reading what we refused.
    pub close: bool,
    pub outcome: Outcome,
}

impl Answer {
    pub fn json(status: u16, outcome: Outcome, body: &serde_json::Value) -> Answer {
        Answer {
            status,
            body: Bytes::from(body.to_string()),
            headers: Vec::new(),
            close: false,
            outcome,
        }
    }

    /// `{"error": code, "detail": ...}`
    pub fn reject(status: u16, outcome: Outcome, detail: impl Into<String>) -> Answer {
        Answer::json(
            status,
            outcome,
            &serde_json::json!({ "error": outcome.label(), "detail": detail.into() }),
        )
    }

    /// 503 with `Retry-After`: the event was not persisted, the sender should try again.
    pub fn unavailable(e: &StoreError, retry_after: std::time::Duration) -> Answer {
        if !matches!(e, StoreError::Full(_) | StoreError::Busy)
            && crate::logs::NOT_PERSISTED.hit(&e.to_string(), String::new)
        {
            tracing::error!(error = %e, "cannot persist event; answering 503");
        }
        Answer::reject(
            503,
            Outcome::Unavailable,
            format!("event not persisted: {e}; retry later"),
        )
        .retry_after(retry_after)
    }

    /// A sync route's answer from its upstream, as it came (minus hop-by-hop headers).
    pub fn relayed(a: SyncAnswer, outcome: Outcome) -> Answer {
        let mut headers: Vec<(HeaderName, HeaderValue)> = a
            .headers
            .into_iter()
            // Framing and date are pingora's to set for this connection.
            .filter(|(k, _)| {
                !HOP_BY_HOP.contains(&k.as_str()) && k != "content-length" && k != "date"
            })
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_bytes(&v).ok()?,
                ))
            })
            .collect();
        // Not ours to call JSON (the default of hookgate's own answers).
        if !headers.iter().any(|(n, _)| n == http::header::CONTENT_TYPE) {
            headers.push((
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ));
        }
        Answer {
            status: a.status,
            body: Bytes::from(a.body.into_vec()),
            headers,
            close: false,
            outcome,
        }
    }

    pub fn retry_after(self, after: std::time::Duration) -> Answer {
        self.header(
            http::header::RETRY_AFTER,
            HeaderValue::from(after.as_secs().max(1)),
        )
    }

    pub fn closing(mut self) -> Answer {
        self.close = true;
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Answer {
        self.headers.push((name, value));
        self
    }

    pub async fn write(self, session: &mut Session) -> pingora::Result<()> {
        if self.close {
            session.set_keepalive(None);
        }
        let mut resp = ResponseHeader::build(self.status, Some(3 + self.headers.len()))?;
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
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(self.body), true).await
    }
}
