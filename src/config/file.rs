//! The TOML file format, as written by users. Kept separate from the typed config the program
//! uses (`super::Config`): every value here is still raw text with its position in the file, so
//! that validation can point at the exact line of a mistake.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::units::SizeText;

pub type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub server: Spanned<ServerFile>,
    #[serde(default)]
    pub store: Option<Spanned<StoreFile>>,
    #[serde(default)]
    pub upstreams: BTreeMap<Spanned<String>, Spanned<UpstreamFile>>,
    #[serde(default)]
    pub routes: BTreeMap<Spanned<String>, Spanned<RouteFile>>,
    pub telemetry: Option<Spanned<TelemetryFile>>,
}

/// `[telemetry]`: OpenTelemetry tracing; absent, tracing is off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryFile {
    pub otlp_endpoint: Text,
    pub service_name: Option<Text>,
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub listen: Text,
    pub admin_listen: Option<Text>,
    pub admin_token: Option<Text>,
    pub max_body_bytes: Option<Spanned<SizeText>>,
    pub max_body_memory: Option<Spanned<SizeText>>,
    pub max_header_bytes: Option<Spanned<SizeText>>,
    pub max_header_count: Option<Spanned<i64>>,
    pub body_timeout: Option<Text>,
    #[serde(default)]
    pub trusted_proxies: Vec<Text>,
    pub threads: Option<Spanned<i64>>,
    pub delivery_threads: Option<Spanned<i64>>,
    pub shutdown_timeout: Option<Text>,
    pub retry_after: Option<Text>,
    pub stranded_dead_after: Option<Text>,
    pub tls: Option<Spanned<TlsFile>>,
    pub header_timeout: Option<Text>,
    pub keepalive_timeout: Option<Text>,
    pub max_connections: Option<Spanned<i64>>,
}

/// `[server.tls]`: HTTPS on its own listener; `server.listen` stays plain HTTP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub listen: Text,
    pub cert: Text,
    pub key: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    pub kind: Option<Text>,
    pub path: Option<Text>,
    pub max_pending: Option<Spanned<i64>>,
    pub url: Option<Spanned<Urls>>,
    pub cluster: Option<Spanned<bool>>,
    pub password: Option<Text>,
    pub consumer: Option<Text>,
    pub shards: Option<Spanned<i64>>,
    pub claim_after: Option<Text>,
    pub timeout: Option<Text>,
    pub prefix: Option<Text>,
    pub record_ttl: Option<Text>,
    pub replica_acks: Option<Spanned<i64>>,
    pub rate_limit_timeout: Option<Text>,
    pub spill_max_bytes: Option<Spanned<SizeText>>,
    pub spill_path: Option<Text>,
    pub cache_size: Option<Spanned<SizeText>>,
    pub memtable_size: Option<Spanned<SizeText>>,
    pub hot_size: Option<Spanned<SizeText>>,
    pub log_size: Option<Spanned<SizeText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    pub url: Text,
    pub timeout: Option<Text>,
    pub max_attempts: Option<Spanned<i64>>,
    pub max_age: Option<Text>,
    pub backoff: Option<Spanned<BackoffFile>>,
    pub concurrency: Option<Spanned<i64>>,
    /// Headers added to every delivery; values may hold `{env:NAME}` / `{file:PATH}`.
    pub headers: Option<BTreeMap<Spanned<String>, Text>>,
    pub sign: Option<Spanned<SignFile>>,
    /// `"http1"` (default) or `"h2c"`: HTTP/2 without TLS, by prior knowledge.
    pub protocol: Option<Text>,
}

/// Re-signing each delivery for the upstream (`scheme = "standard-webhooks"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignFile {
    pub scheme: Text,
    pub secret: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffFile {
    pub initial: Option<Text>,
    pub max: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub path: Text,
    pub upstream: Text,
    pub mode: Option<Text>,
    pub verify: Option<Spanned<VerifyFile>>,
    pub event_id: Option<Spanned<OneOrMany>>,
    pub dedup_ttl: Option<Text>,
    pub allow_ips: Option<Vec<Text>>,
    pub max_body_bytes: Option<Spanned<SizeText>>,
    pub max_header_bytes: Option<Spanned<SizeText>>,
    pub response: Option<Spanned<ResponseFile>>,
    pub rate_limit: Option<Spanned<RateLimitFile>>,
    pub sync_timeout: Option<Text>,
    /// What a sync route answers when the upstream is slower than `sync_timeout`: 408 or 504.
    pub sync_timeout_status: Option<Spanned<i64>>,
    pub normalize: Option<Text>,
    pub state: Option<Text>,
    pub require_headers: Option<BTreeMap<Spanned<String>, Text>>,
    pub content_types: Option<Vec<Text>>,
    pub order_key: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    pub per_ip: Option<Text>,
    pub per_route: Option<Text>,
    /// Kept in Redis, exact across replicas (`limits::rate::shared`).
    pub shared: Option<Spanned<bool>>,
}

/// `store.url`: one URL, or a list of Redis Cluster nodes (each with its own position).
#[derive(Debug)]
pub enum Urls {
    One(String),
    Many(Vec<Text>),
}

impl<'de> Deserialize<'de> for Urls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Urls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Redis URL or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Urls, E> {
                Ok(Urls::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Urls, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Text>()? {
                    out.push(s);
                }
                Ok(Urls::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string, or a list of strings (a composite event ID).
#[derive(Debug, Clone)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One flat table for every verification scheme and provider; validation says which keys each
/// takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyFile {
    pub provider: Option<Text>,
    pub scheme: Option<Text>,
    pub header: Option<Text>,
    pub prefix: Option<Text>,
    pub encoding: Option<Text>,
    pub algorithm: Option<Text>,
    pub payload: Option<Text>,
    pub timestamp_header: Option<Text>,
    pub tolerance: Option<Text>,
    pub id_header: Option<Text>,
    pub secrets: Option<Spanned<Vec<Spanned<SecretEntry>>>>,
    pub signing_secrets: Option<Spanned<Vec<Spanned<SecretEntry>>>>,
    pub public_url: Option<Text>,
    pub verify_token: Option<Text>,
    pub public_key: Option<Spanned<SecretEntry>>,
    /// Who must have sent it: a service account email (Google Pub/Sub), a TopicArn (AWS SNS),
    /// a webhook ID (PayPal), a client ID (Plaid).
    pub sender: Option<Text>,
    /// Where the provider's keys are fetched from, instead of its documented URL.
    pub key_url: Option<Text>,
    pub enforce: Option<Spanned<bool>>,
}

/// A secret reference, optionally retired after a date:
/// `"env:NAME"` or `{ secret = "env:NAME", not_after = "2026-12-31T00:00:00Z" }`.
#[derive(Debug, Clone)]
pub struct SecretEntry {
    pub secret: String,
    pub not_after: Option<String>,
}

impl<'de> Deserialize<'de> for SecretEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a secret reference such as \"env:NAME\", or { secret = \"env:NAME\", not_after = \"2026-12-31T00:00:00Z\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretEntry, E> {
                Ok(SecretEntry {
                    secret: v.to_string(),
                    not_after: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SecretEntry, A::Error> {
                let (mut secret, mut not_after) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "secret" => secret = Some(map.next_value::<String>()?),
                        "not_after" => not_after = Some(map.next_value::<String>()?),
                        other => {
                            return Err(serde::de::Error::unknown_field(
                                other,
                                &["secret", "not_after"],
                            ));
                        }
                    }
                }
                let secret = secret.ok_or_else(|| serde::de::Error::missing_field("secret"))?;
                Ok(SecretEntry { secret, not_after })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFile {
    pub status: Option<Spanned<i64>>,
    pub body: Option<Text>,
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Text>,
}
