//! `hookgate dlq ...`: a small client of the admin API.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the admin API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("admin API answered {status}: {body}")]
    Refused { status: u16, body: String },
}

pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(base: &str, token: Option<String>) -> Result<AdminClient, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    pub async fn get(&self, path_and_query: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(self.url(path_and_query))).await
    }

    pub async fn post(&self, path_and_query: &str) -> Result<Value, ClientError> {
        self.send(self.http.post(self.url(path_and_query))).await
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn send(&self, mut req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(unreachable)?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Refused { status, body });
        }
        serde_json::from_str(&body).map_err(|e| ClientError::Refused {
            status,
            body: format!("not JSON ({e}): {body}"),
        })
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
