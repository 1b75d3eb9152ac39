//! `[telemetry]`: where OpenTelemetry spans go; and the longest `sync_timeout`, which sizes
//! the request-duration histogram.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use toml::Spanned;

use super::Checker;
use crate::config::TelemetryConfig;
use crate::config::file::{RouteFile, TelemetryFile};
use crate::config::units::parse_duration;

/// The default `sync_timeout` (`route.rs`).
const SYNC_DEFAULT: Duration = Duration::from_secs(30);

impl Checker<'_> {
    pub(super) fn telemetry(&mut self, t: &Spanned<TelemetryFile>) -> Option<TelemetryConfig> {
        let t = t.get_ref();
        let raw = t.otlp_endpoint.get_ref();
        let endpoint = reqwest::Url::parse(raw.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .and_then(|u| {
                let mut traces = u
                    .join(&format!("{}/v1/traces", u.path().trim_end_matches('/')))
                    .ok()?;
                // A collector may take its key in the query: kept (a join drops it).
                traces.set_query(u.query());
                Some(traces)
            });
        let endpoint = self.check(
            t.otlp_endpoint.span(),
            endpoint.ok_or_else(|| {
                // Credentials and a query may ride in the URL: told without them.
                format!(
                    "telemetry.otlp_endpoint: {:?} is not an http:// or https:// URL (e.g. \"http://127.0.0.1:4318\")",
                    crate::secret::redact_url(raw)
                )
            }),
        );
        let mut headers = HeaderMap::new();
        for (name, value) in &t.headers {
            let key = format!("telemetry.headers.{}", name.get_ref());
            let name_text = Spanned::new(name.span(), name.get_ref().clone());
            let header = self.header_name(&name_text, &key);
            let secret = self.secret(value, &key);
            if let (Some(h), Some(s)) = (header, secret) {
                match HeaderValue::from_bytes(s.expose()) {
                    Ok(mut v) => {
                        v.set_sensitive(true);
                        headers.insert(h, v);
                    }
                    Err(_) => self.error(value.span(), format!("{key}: not a valid header value")),
                }
            }
        }
        let service_name = t
            .service_name
            .as_ref()
            .map_or_else(|| "hookgate".to_string(), |s| s.get_ref().clone());
        Some(TelemetryConfig {
            endpoint: endpoint?,
            service_name,
            headers,
        })
    }
}

/// The longest `sync_timeout` of the file's sync routes (unreadable values are the route
/// loader's to report); zero without sync routes.
pub(super) fn longest_sync_timeout(
    routes: &BTreeMap<Spanned<String>, Spanned<RouteFile>>,
) -> Duration {
    routes
        .values()
        .map(Spanned::get_ref)
        .filter(|r| r.mode.as_ref().is_some_and(|m| m.get_ref() == "sync"))
        .map(|r| {
            r.sync_timeout
                .as_ref()
                .and_then(|t| parse_duration(t.get_ref()).ok())
                .unwrap_or(SYNC_DEFAULT)
        })
        .max()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{LoadError, TelemetryConfig, parse};

    const BASE: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n";

    fn load(telemetry: &str) -> Result<Option<TelemetryConfig>, Vec<String>> {
        match parse(Path::new("t.toml"), &format!("{BASE}{telemetry}")) {
            Ok(c) => Ok(c.telemetry),
            Err(LoadError::Invalid(e)) => Err(e.iter().map(ToString::to_string).collect()),
            Err(e) => Err(vec![e.to_string()]),
        }
    }

    #[test]
    fn off_unless_configured_and_the_traces_path_is_added() {
        assert!(load("").unwrap().is_none());
        let t = load("[telemetry]\notlp_endpoint = \"http://collector:4318/\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(t.endpoint.as_str(), "http://collector:4318/v1/traces");
        assert_eq!(t.service_name, "hookgate");
        let t = load(
            "[telemetry]\notlp_endpoint = \"https://c.example/otlp\"\nservice_name = \"edge\"\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.endpoint.as_str(), "https://c.example/otlp/v1/traces");
        assert_eq!(t.service_name, "edge");
        // A key in the query goes with every export.
        let t = load("[telemetry]\notlp_endpoint = \"https://c.example/otlp?api_key=k1\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            t.endpoint.as_str(),
            "https://c.example/otlp/v1/traces?api_key=k1"
        );
    }

    #[test]
    fn mistakes_are_reported_where_they_are() {
        assert_eq!(
            load("[telemetry]\notlp_endpoint = \"grpc://c:4317\"\n").unwrap_err(),
            [
                "t.toml:4:17: telemetry.otlp_endpoint: \"grpc://c:4317\" is not an http:// or https:// URL (e.g. \"http://127.0.0.1:4318\")"
            ]
        );
        // Its credentials and query are not repeated (the place is enough to find it).
        assert_eq!(
            load("[telemetry]\notlp_endpoint = \"grpc://u:pw-5ecret@c:4317/?k=t0ken\"\n")
                .unwrap_err(),
            [
                "t.toml:4:17: telemetry.otlp_endpoint: \"grpc://[redacted]@c:4317/?[redacted]\" is not an http:// or https:// URL (e.g. \"http://127.0.0.1:4318\")"
            ]
        );
        let unknown = load("[telemetry]\notlp_endpoint = \"http://c:4318\"\nsampler = \"all\"\n")
            .unwrap_err();
        assert!(
            unknown[0].starts_with("t.toml:5:1: unknown field `sampler`"),
            "{unknown:?}"
        );
        let missing = load("[telemetry]\nheaders = { \"X-Key\" = \"env:HOOKGATE_TEST_UNSET_VAR\" }\notlp_endpoint = \"http://c:4318\"\n")
            .unwrap_err();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].starts_with("t.toml:4:"), "{missing:?}");
        // The reference is named, never a value.
        assert!(
            missing[0].contains("HOOKGATE_TEST_UNSET_VAR"),
            "{missing:?}"
        );
    }
}
