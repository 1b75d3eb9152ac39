//! `hookgate sign`: a correctly signed request for any provider preset, printed as a curl
//! command or sent, so a route can be tried the way `stripe trigger` does.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::verify::providers::{self, PROVIDERS};
use crate::verify::sign::{Signed, sign_event};

pub struct Args {
    pub provider: String,
    /// The sample event type to sign (without `body`).
    pub event: Option<String>,
    /// The secret (Discord: hex Ed25519 seed; SendGrid: base64 PKCS#8 P-256 key).
    pub secret: String,
    pub body: Option<PathBuf>,
    /// Where to send it (and, for Twilio and Square, the URL they sign).
    pub url: Option<String>,
    pub send: bool,
    /// Sign as of this time (unix seconds) instead of now.
    pub at: Option<u64>,
}

/// A realistic event for each provider, used when no body is given.
pub fn sample_body(provider: &str) -> Vec<u8> {
    let sample = providers::find(provider).map_or(providers::SAMPLE, |p| p.sample);
    with_id(sample)
}

fn with_id(sample: &str) -> Vec<u8> {
    let id = format!("{:016x}", fastrand::u64(..));
    sample.replace("{id}", &id).into_bytes()
}

/// The provider's sample of event type `event`, or an error listing the types it has.
pub fn event_body(provider: &str, event: &str) -> Result<Vec<u8>, String> {
    let p = providers::find(provider).ok_or_else(|| format!("unknown provider {provider:?}"))?;
    match p.samples.iter().find(|(t, _)| *t == event) {
        Some((_, sample)) => Ok(with_id(sample)),
        None if p.samples.is_empty() => Err(format!(
            "provider {provider:?} has no sample events; give --body (or omit --event for its generic sample)"
        )),
        None => Err(format!(
            "provider {provider:?} has no sample event {event:?} (known: {})",
            p.samples
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Quotes for a POSIX shell.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn run(args: &Args) -> Result<String, String> {
    if providers::find(&args.provider).is_none() {
        return Err(format!(
            "unknown provider {:?} (known: {})",
            args.provider,
            PROVIDERS.join(", ")
        ));
    }
    let body = match (&args.body, &args.event) {
        (Some(p), _) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
        (None, Some(event)) => event_body(&args.provider, event)?,
        (None, None) => sample_body(&args.provider),
    };
    let now = args.at.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let signed = sign_event(
        &args.provider,
        &args.secret,
        &body,
        args.url.as_deref(),
        now,
        args.event.as_deref(),
    )?;
    let url = format!(
        "{}{}",
        args.url
            .as_deref()
            .unwrap_or("http://127.0.0.1:8080/hooks/..."),
        signed.url_suffix
    );
    if args.send {
        return send(&url, &signed);
    }
    let mut cmd = format!("curl -i -X POST {}", sh(&url));
    for (k, v) in &signed.headers {
        cmd.push_str(&format!(" \\\n  -H {}", sh(&format!("{k}: {v}"))));
    }
    // The exact bytes that were signed: a file if given and unchanged, else inline.
    match (&args.body, signed.body == body) {
        (Some(p), true) => cmd.push_str(&format!(
            " \\\n  --data-binary @{}",
            sh(&p.display().to_string())
        )),
        _ => match std::str::from_utf8(&signed.body) {
            Ok(text) => cmd.push_str(&format!(" \\\n  --data-binary {}", sh(text))),
            Err(_) => return Err("the signed body is not text: use --send".into()),
        },
    }
    Ok(cmd)
}

fn send(url: &str, signed: &Signed) -> Result<String, String> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = crate::upstream::http_client().map_err(|e| {
            format!("cannot make an HTTP client (are CA certificates installed?): {e}")
        })?;
        let mut req = client.post(url).body(signed.body.clone());
        for (k, v) in &signed.headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Ok(format!("{status}\n{text}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_commands() {
        assert_eq!(sh("it's"), r"'it'\''s'");
        let out = run(&Args {
            provider: "stripe".into(),
            event: None,
            secret: "whsec_x".into(),
            body: None,
            url: Some("http://localhost:8080/hooks/stripe".into()),
            send: false,
            at: Some(1_700_000_000),
        })
        .unwrap();
        assert!(
            out.starts_with("curl -i -X POST 'http://localhost:8080/hooks/stripe'"),
            "{out}"
        );
        assert!(out.contains("Stripe-Signature: t=1700000000,v1="), "{out}");
        assert!(
            run(&Args {
                provider: "nope".into(),
                event: None,
                secret: String::new(),
                body: None,
                url: None,
                send: false,
                at: None
            })
            .is_err()
        );
    }
}
