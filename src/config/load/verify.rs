//! `routes.NAME.verify`: a provider preset or a generic scheme, and the secrets it checks with.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Checker;
use crate::config::file::{SecretEntry, Text, VerifyFile};
use crate::event::id::IdSource;
use crate::verify::{
    Algorithm, Check, Encoding, HmacSpec, HmacVerifier, KeyedSecret, Part, SigSource, Template,
    TimestampCheck, TokenKind, TokenVerifier, TsSource, Verifier, providers,
};

impl Checker<'_> {
    pub(super) fn verifier(
        &mut self,
        route: &str,
        v: &Spanned<VerifyFile>,
        event_id: Option<&IdSource>,
    ) -> Option<(Verifier, Option<IdSource>, Option<Duration>)> {
        let span = v.span();
        let v = v.get_ref();
        let key = |k: &str| format!("routes.{route}.verify.{k}");
        let enforce = v.enforce.as_ref().is_none_or(|e| *e.get_ref());
        if let Some(e) = v.enforce.as_ref().filter(|_| !enforce) {
            self.warn(
                &e.span(),
                format_args!("routes.{route}: shadow mode (verify.enforce = false): a request that fails verification is accepted and delivered, only counted and logged; remove enforce once the verdicts are right"),
            );
        }
        let given: [(&str, Option<Range<usize>>); 15] = [
            ("header", v.header.as_ref().map(Spanned::span)),
            ("prefix", v.prefix.as_ref().map(Spanned::span)),
            ("encoding", v.encoding.as_ref().map(Spanned::span)),
            ("algorithm", v.algorithm.as_ref().map(Spanned::span)),
            ("payload", v.payload.as_ref().map(Spanned::span)),
            (
                "timestamp_header",
                v.timestamp_header.as_ref().map(Spanned::span),
            ),
            ("tolerance", v.tolerance.as_ref().map(Spanned::span)),
            ("id_header", v.id_header.as_ref().map(Spanned::span)),
            ("secrets", v.secrets.as_ref().map(Spanned::span)),
            (
                "signing_secrets",
                v.signing_secrets.as_ref().map(Spanned::span),
            ),
            ("public_url", v.public_url.as_ref().map(Spanned::span)),
            ("verify_token", v.verify_token.as_ref().map(Spanned::span)),
            ("public_key", v.public_key.as_ref().map(Spanned::span)),
            ("sender", v.sender.as_ref().map(Spanned::span)),
            ("key_url", v.key_url.as_ref().map(Spanned::span)),
        ];
        // Which optional keys apply; anything else set is a mistake worth reporting (`scheme`
        // and `provider` choose the list, so they are never out of place).
        let (label, allowed): (String, Vec<&str>) = match (&v.provider, &v.scheme) {
            (Some(p), None) => {
                let id = p.get_ref().as_str();
                let Some(provider) = providers::find(id) else {
                    self.error(
                        p.span(),
                        format!(
                            "{}: unknown provider {id:?} (known: {})",
                            key("provider"),
                            providers::PROVIDERS.join(", ")
                        ),
                    );
                    return None;
                };
                (id.to_string(), provider.keys.to_vec())
            }
            (Some(p), Some(_)) => {
                self.error(
                    p.span(),
                    format!(
                        "{} and {} exclude each other",
                        key("provider"),
                        key("scheme")
                    ),
                );
                return None;
            }
            (None, Some(scheme)) => {
                let keys: &[&str] = match scheme.get_ref().as_str() {
                    "hmac" => &[
                        "header",
                        "prefix",
                        "encoding",
                        "algorithm",
                        "payload",
                        "timestamp_header",
                        "tolerance",
                        "id_header",
                        "secrets",
                        "public_url",
                    ],
                    "bearer" => &["header", "prefix", "secrets"],
                    "basic" => &["secrets"],
                    "none" => &[],
                    other => {
                        self.error(scheme.span(), format!("{}: unknown scheme {other:?} (expected \"hmac\", \"bearer\", \"basic\" or \"none\")", key("scheme")));
                        return None;
                    }
                };
                (scheme.get_ref().clone(), keys.to_vec())
            }
            (None, None) => {
                self.error(span, format!("routes.{route}.verify needs scheme (\"hmac\", \"bearer\", \"basic\", \"none\") or provider (e.g. \"stripe\")"));
                return None;
            }
        };
        for (k, at) in given {
            if let Some(at) = at
                && !allowed.contains(&k)
            {
                self.error(
                    at,
                    format!(
                        "{} does not apply to {}",
                        key(k),
                        if v.provider.is_some() {
                            format!("provider {label:?}")
                        } else {
                            format!("scheme {label:?}")
                        }
                    ),
                );
            }
        }
        let tolerance = v
            .tolerance
            .as_ref()
            .map(|t| self.duration(Some(t), &key("tolerance"), Duration::from_secs(300)));
        let public_url = v
            .public_url
            .as_ref()
            .and_then(|u| self.public_url(u, &key("public_url")));
        let built = if v.provider.is_some() {
            let settings = providers::Settings {
                secrets: if allowed.contains(&"secrets") {
                    self.keyed_secrets(&v.secrets, &key("secrets"), span.clone(), true)?
                } else {
                    Vec::new()
                },
                signing_secrets: self.keyed_secrets(
                    &v.signing_secrets,
                    &key("signing_secrets"),
                    span.clone(),
                    false,
                )?,
                public_url,
                verify_token: v
                    .verify_token
                    .as_ref()
                    .and_then(|t| self.secret(t, &key("verify_token"))),
                public_key: {
                    let one = v
                        .public_key
                        .as_ref()
                        .map(|p| Spanned::new(p.span(), vec![p.clone()]));
                    self.keyed_secrets(&one, &key("public_key"), span.clone(), false)?
                },
                tolerance,
                sender: match &v.sender {
                    Some(t) => Some(self.text_or_reference(t, &key("sender"))?),
                    None => None,
                },
                key_url: v.key_url.as_ref().map(|t| t.get_ref().clone()),
            };
            providers::build(&label, settings)
                .map(|p| (p.check, p.handshake, Some(p.event_id), p.methods))
        } else {
            self.scheme_check(
                route,
                &label,
                v,
                span.clone(),
                event_id,
                tolerance,
                public_url,
            )?
            .map(|c| (c, None, None, &["POST"][..]))
        };
        // How long after its signing a request still verifies: a preset's own window (or
        // `tolerance`), a generic hmac's with a timestamp; none where no time is signed.
        let window = if v.provider.is_some() {
            tolerance.or_else(|| {
                providers::find(&label)
                    .and_then(|p| p.window)
                    .filter(|w| *w > 0)
                    .map(Duration::from_secs)
            })
        } else {
            v.timestamp_header
                .as_ref()
                .map(|_| tolerance.unwrap_or(Duration::from_secs(300)))
        };
        let (check, handshake, preset_id, methods) = self.check(
            span,
            built.map_err(|e| format!("routes.{route}.verify: {e}")),
        )?;
        Some((
            Verifier {
                covers_query: check.covers_query(),
                credential_headers: check.credential_headers().into_iter().cloned().collect(),
                credential_query: check.credential_query(),
                proof_headers: check.proof_headers(),
                check,
                enforce,
                handshake,
                verdicts: crate::verify::Verdicts::new(&label),
                label,
                methods,
            },
            preset_id,
            window,
        ))
    }

    /// The generic schemes: `hmac`, `bearer`, `basic`, `none`.
    #[allow(clippy::too_many_arguments)]
    fn scheme_check(
        &mut self,
        route: &str,
        scheme: &str,
        v: &VerifyFile,
        span: Range<usize>,
        event_id: Option<&IdSource>,
        tolerance: Option<Duration>,
        public_url: Option<String>,
    ) -> Option<Result<Check, String>> {
        let key = |k: &str| format!("routes.{route}.verify.{k}");
        if scheme == "none" {
            return Some(Ok(Check::None));
        }
        let secrets = self.keyed_secrets(&v.secrets, &key("secrets"), span.clone(), true)?;
        let header = v
            .header
            .as_ref()
            .and_then(|h| self.header_name(h, &key("header")));
        if scheme != "hmac" {
            let kind = if scheme == "basic" {
                TokenKind::Basic
            } else {
                TokenKind::Bearer
            };
            return Some(
                TokenVerifier::new(
                    kind,
                    header,
                    v.prefix.as_ref().map(|p| p.get_ref().clone()),
                    &secrets,
                )
                .map(Check::Token),
            );
        }
        let Some(header) = header else {
            if v.header.is_none() {
                self.error(
                    span,
                    format!("{} is required for scheme \"hmac\"", key("header")),
                );
            }
            return None;
        };
        let algorithm = match &v.algorithm {
            Some(a) => self.check(
                a.span(),
                Algorithm::parse(a.get_ref()).ok_or_else(|| {
                    format!(
                        "{}: {:?} is not one of sha1, sha256, sha512",
                        key("algorithm"),
                        a.get_ref()
                    )
                }),
            )?,
            None => Algorithm::Sha256,
        };
        let encoding = match &v.encoding {
            Some(e) => self.check(
                e.span(),
                Encoding::parse(e.get_ref()).ok_or_else(|| {
                    format!(
                        "{}: {:?} is not one of hex, base64",
                        key("encoding"),
                        e.get_ref()
                    )
                }),
            )?,
            None => Encoding::Hex,
        };
        let payload = match &v.payload {
            Some(p) => self.check(
                p.span(),
                Template::parse(p.get_ref()).map_err(|e| format!("{}: {e}", key("payload"))),
            )?,
            None => Template::body_only(),
        };
        if v.tolerance.is_some() && v.timestamp_header.is_none() {
            self.error(
                v.tolerance.as_ref().map_or(span.clone(), Spanned::span),
                format!("{} needs timestamp_header", key("tolerance")),
            );
        }
        // A timestamp checked but not signed stops no replay: the sender of a captured request
        // sets a fresh one.
        if let Some(t) = &v.timestamp_header
            && !payload.uses(&Part::Timestamp)
        {
            self.error(
                t.span(),
                format!(
                    "{}: the timestamp is checked but not signed; put {{timestamp}} in {} as the sender signs it",
                    key("timestamp_header"),
                    key("payload")
                ),
            );
        }
        let timestamp = match &v.timestamp_header {
            Some(t) => Some(TimestampCheck {
                source: TsSource::Header(vec![self.header_name(t, &key("timestamp_header"))?]),
                tolerance: tolerance.unwrap_or(Duration::from_secs(300)),
            }),
            None => None,
        };
        let id_headers = match &v.id_header {
            Some(h) => vec![self.header_name(h, &key("id_header"))?],
            None => event_id
                .and_then(IdSource::header)
                .cloned()
                .into_iter()
                .collect(),
        };
        Some(
            HmacVerifier::new(HmacSpec {
                payload,
                timestamp,
                id_headers,
                public_url,
                ..HmacSpec::simple(
                    algorithm,
                    secrets,
                    SigSource::Header {
                        name: header,
                        prefix: v.prefix.as_ref().map(|p| p.get_ref().clone()),
                    },
                    encoding,
                )
            })
            .map(Check::Hmac),
        )
    }

    fn public_url(&mut self, t: &Text, what: &str) -> Option<String> {
        let u = t.get_ref().trim();
        let ok = reqwest::Url::parse(u).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.query().is_none()
                && url.fragment().is_none()
        });
        if !ok {
            // Not repeated: a query may carry a secret (Event Grid's `?code=`).
            self.error(t.span(), format!("{what} must be an http(s) URL without query or fragment (the request's sub-path and query are appended)"));
            return None;
        }
        Some(u.trim_end_matches('/').to_string())
    }

    /// Resolves a list of secret references, each with its optional retirement date.
    fn keyed_secrets(
        &mut self,
        list: &Option<Spanned<Vec<Spanned<SecretEntry>>>>,
        what: &str,
        span: Range<usize>,
        required: bool,
    ) -> Option<Vec<KeyedSecret>> {
        match list {
            Some(l) if !l.get_ref().is_empty() => {
                let resolved: Vec<Option<KeyedSecret>> = l
                    .get_ref()
                    .iter()
                    .enumerate()
                    .map(|(i, entry)| {
                        let e = entry.get_ref();
                        let secret = self.secret(&Spanned::new(entry.span(), e.secret.clone()), &format!("{what}[{i}]"))?;
                        let not_after = match &e.not_after {
                            Some(t) => Some(self.check(
                                entry.span(),
                                humantime::parse_rfc3339_weak(t).map_err(|_| format!("{what}[{i}].not_after: {t:?} is not a date like \"2026-12-31T00:00:00Z\"")),
                            )?),
                            None => None,
                        };
                        Some(KeyedSecret { secret, not_after })
                    })
                    .collect();
                resolved.into_iter().collect()
            }
            Some(l) if required => {
                self.error(l.span(), format!("{what} must list at least one secret"));
                None
            }
            None if required => {
                self.error(
                    span,
                    format!("{what} is required (e.g. [\"env:MY_SECRET\"])"),
                );
                None
            }
            _ => Some(Vec::new()),
        }
    }
}
