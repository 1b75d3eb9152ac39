//! `hookgate dlq|routes ...`: a small client of the admin API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Config(String),
    #[error("cannot reach the admin API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("admin API answered {status}: {body}")]
    Refused { status: u16, body: String },
}

pub struct Target {
    /// Admin API base URL; else `server.admin_listen` of `config`; else the default address.
    pub admin: Option<String>,
    pub config: Option<PathBuf>,
    /// The environment variable holding the admin token (`--token-env`).
    pub token_env: String,
}

impl Target {
    pub fn client(self) -> Result<AdminClient, ClientError> {
        let doc = match self.config.as_deref() {
            Some(p) => Some(read_config(p).map_err(ClientError::Config)?),
            None => None,
        };
        let base = admin_base(self.admin.as_deref(), doc.as_ref());
        // The token from the environment wins; else the config's own `server.admin_token`
        // reference (a `file:` secret in a pod, say). Both are read as the server reads an
        // `env:` or `file:` secret (one trailing newline dropped), or the same token would
        // pass there and fail here.
        let token = match (std::env::var_os(&self.token_env), &doc) {
            (Some(_), _) => Some(env_token(&self.token_env).map_err(ClientError::Config)?),
            (None, Some(doc)) => config_token(doc).map_err(ClientError::Config)?,
            (None, None) => None,
        };
        // Else reqwest fails the request with a bare "builder error".
        if token
            .as_deref()
            .is_some_and(|t| reqwest::header::HeaderValue::from_str(t).is_err())
        {
            return Err(ClientError::Config(
                "admin token: not usable in an Authorization header (a control character, such as a second trailing newline?)".into(),
            ));
        }
        AdminClient::new(&base, token)
    }
}

/// The config file as a plain TOML table: the admin client needs two keys of it, not a full
/// load (which would resolve every secret of every route).
fn read_config(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

fn env_token(name: &str) -> Result<String, String> {
    crate::secret::resolve_value(&format!("env:{name}"))
        .map(|s| s.expose_str().into_owned())
        .map_err(|e| format!("admin token: {e}"))
}

fn config_token(doc: &toml::Table) -> Result<Option<String>, String> {
    let Some(reference) = doc
        .get("server")
        .and_then(|s| s.get("admin_token"))
        .and_then(|v| v.as_str())
    else {
        return Ok(None);
    };
    crate::secret::resolve_value(reference)
        .map(|s| Some(s.expose_str().into_owned()))
        .map_err(|e| format!("server.admin_token: {e} (or set the token's environment variable, HOOKGATE_ADMIN_TOKEN by default)"))
}

/// The admin URL: `--admin`, else `server.admin_listen` of the config, else the default.
fn admin_base(admin: Option<&str>, doc: Option<&toml::Table>) -> String {
    if let Some(a) = admin {
        return a.to_string();
    }
    let addr = doc
        .and_then(|d| d.get("server"))
        .and_then(|s| s.get("admin_listen"))
        .and_then(|v| v.as_str())
        .unwrap_or("127.0.0.1:9180");
    // An unspecified bind address is reached through loopback.
    let addr = addr
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    format!("http://{addr}")
}

/// How long a read of the admin API may take (a page, an event).
const QUICK: Duration = Duration::from_secs(300);

pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(base: &str, token: Option<String>) -> Result<AdminClient, ClientError> {
        // Straight to the admin API: an HTTP_PROXY set for deliveries (README) would get the
        // token in cleartext, and a redirect would take it elsewhere. No overall timeout: a
        // bulk operation answers when it is done (500 events/s), and a client giving up
        // would say "cannot reach" while the server goes on; reads time out by `QUICK`.
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
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
        let req = self.http.get(self.url(path_and_query)?).timeout(QUICK);
        self.send(req).await
    }

    pub async fn post(&self, path_and_query: &str) -> Result<Value, ClientError> {
        self.send(self.http.post(self.url(path_and_query)?)).await
    }

    pub async fn delete(&self, path_and_query: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(self.url(path_and_query)?)).await
    }

    /// Refused when a segment of the path is a dot segment, `%2E` included: URL parsing
    /// removes it, and an event ID `.` made `/events/./cancel` the bulk `/events/cancel` of
    /// every route. Refused too when a query value is empty.
    fn url(&self, p: &str) -> Result<String, ClientError> {
        let path = p.split(['?', '#']).next().unwrap_or(p);
        let dot = path.split('/').any(|seg| {
            let seg = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
            seg == "." || seg == ".."
        });
        if dot {
            return Err(ClientError::Config(
                "an event ID or route of \".\" or \"..\" cannot be named in a URL: act on it by filters (--route, --q) instead".into(),
            ));
        }
        // An empty filter is no filter to the API: `--route "$UNSET"` would act on every route.
        let query = p.split_once('?').map_or("", |(_, q)| q);
        if let Some((k, _)) = form_urlencoded::parse(query.as_bytes()).find(|(_, v)| v.is_empty()) {
            return Err(ClientError::Config(format!(
                "--{k} is empty: give a value, or leave it out to mean all"
            )));
        }
        Ok(format!("{}{p}", self.base))
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
        if status == 401 {
            return Err(ClientError::Refused {
                status,
                body: format!(
                    "{body} (the admin token is read from HOOKGATE_ADMIN_TOKEN, another variable named by --token-env, or --config's server.admin_token)"
                ),
            });
        }
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
