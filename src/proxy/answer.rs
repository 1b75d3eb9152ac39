//! What the gateway answers: status, small JSON body, headers, and whether to close.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use crate::metrics::Outcome;

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
        resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        for (name, value) in self.headers {
            resp.insert_header(name, value)?;
        }
        resp.insert_header(http::header::CONTENT_LENGTH, self.body.len())?;
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(self.body), true).await
    }
}
