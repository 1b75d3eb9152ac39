//! Secret references (`env:NAME`, `file:PATH`, or a literal) and the resolved secret value;
//! and URLs as errors and logs may show them (`redact_url`).
//!
//! A `Secret` never prints its value: `Debug` shows only where it came from.

use std::fmt;
use std::path::Path;

/// A resolved secret. The bytes are only reachable through `expose`.
#[derive(Clone)]
pub struct Secret {
    value: Vec<u8>,
    origin: String,
}

impl Secret {
    pub fn expose(&self) -> &[u8] {
        &self.value
    }

    pub fn expose_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }

    /// Where the secret came from, safe to log ("env:LIMAI_SECRET", "file:/run/x", "literal").
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A secret given as a value (tools, tests, benchmarks); its origin shows as "literal".
    pub fn literal(value: impl Into<String>) -> Secret {
        Secret {
            value: value.into().into_bytes(),
            origin: "literal".into(),
        }
    }
}

/// For telling whether a reloaded config changed; not a credential check (those go through
/// the verifiers' constant-time comparisons).
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.value == other.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.origin)
    }
}

/// What resolving a reference produced besides the value.
pub enum Resolved {
    Secret(Secret),
    /// A literal in the file: accepted, but the caller must warn.
    Literal(Secret),
}

/// Resolves `env:NAME`, `file:PATH` (each without one trailing newline), or treats the text as
/// a literal; refuses a mistyped reference (`mistyped_reference`). Errors never contain the
/// secret value.
pub fn resolve(reference: &str) -> Result<Resolved, String> {
    if mistyped_reference(reference) {
        return Err(MISTYPED.into());
    }
    if let Some(name) = reference.strip_prefix("env:") {
        if name.is_empty() {
            return Err("secret reference \"env:\" names no variable".into());
        }
        let value = std::env::var_os(name)
            .ok_or_else(|| format!("secret env:{name}: environment variable {name} is not set"))?;
        let value = value
            .into_string()
            .map_err(|_| format!("secret env:{name}: value is not valid UTF-8"))?;
        return read_value(value.into_bytes(), format!("env:{name}")).map(Resolved::Secret);
    }
    if let Some(path) = reference.strip_prefix("file:") {
        let bytes = std::fs::read(Path::new(path))
            .map_err(|e| format!("secret file:{path}: cannot read: {e}"))?;
        return read_value(bytes, format!("file:{path}")).map(Resolved::Secret);
    }
    not_blank(reference.as_bytes().to_vec(), "literal".into()).map(Resolved::Literal)
}

/// Told for a `mistyped_reference`, without the text (it may be a literal secret after all).
pub const MISTYPED: &str = "looks like a secret reference but is not one: write \"env:NAME\" or \"file:PATH\" (lowercase, no spaces, no `$` or braces); a literal secret that must read like this goes in a file, as \"file:PATH\"";

/// Whether text reads as a secret reference in any case or spacing (`ENV:T`, ` file:p`,
/// `env :T`).
pub fn looks_like_reference(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    ["env", "file"].iter().any(|scheme| {
        lower
            .strip_prefix(scheme)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

/// A value meant as a reference that is none: taken as a literal, its text (in a ConfigMap,
/// in git) would be the key or token. `{env:X}` (the upstream headers' syntax), `${X}`, `$X`,
/// `{X}`, and `env:`/`file:` in another case or with spaces.
pub fn mistyped_reference(text: &str) -> bool {
    if text.starts_with("env:") || text.starts_with("file:") {
        return false;
    }
    let t = text.trim();
    let name = |n: &str| {
        n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let dollar = t.strip_prefix('$');
    let unwrapped = dollar.unwrap_or(t);
    let braced = unwrapped
        .strip_prefix('{')
        .map(|i| i.strip_suffix('}').unwrap_or(i).trim());
    looks_like_reference(t)
        || looks_like_reference(unwrapped)
        || (dollar.is_some() && unwrapped.starts_with('{'))
        || dollar.is_some_and(name)
        || braced.is_some_and(|i| name(i) || looks_like_reference(i))
}

/// A value read from a file or the environment: one trailing newline (`\n` or `\r\n`, as
/// `echo`, editors and `kubectl create secret --from-file` leave) is not part of it.
fn read_value(mut value: Vec<u8>, origin: String) -> Result<Secret, String> {
    if value.last() == Some(&b'\n') {
        value.pop();
        if value.last() == Some(&b'\r') {
            value.pop();
        }
    }
    not_blank(value, origin)
}

/// Empty or whitespace only is no secret.
fn not_blank(value: Vec<u8>, origin: String) -> Result<Secret, String> {
    if value.is_empty() {
        return Err(format!("secret {origin} is empty"));
    }
    if value.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("secret {origin} is blank (whitespace only)"));
    }
    Ok(Secret { value, origin })
}

/// Resolves one secret reference outside a full load: the CLI's admin client reads
/// `server.admin_token` with it. Errors name the reference only.
pub fn resolve_value(reference: &str) -> Result<Secret, String> {
    match resolve(reference)? {
        Resolved::Secret(s) | Resolved::Literal(s) => Ok(s),
    }
}

/// A URL as an error or a log may show it: userinfo, query and fragment (where passwords and
/// tokens ride) replaced by `[redacted]`; scheme, host, port and path kept to find the mistake
/// by. Works on text that is no URL too.
pub fn redact_url(text: &str) -> String {
    const HIDDEN: &str = "[redacted]";
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('@') => (format!("{scheme}://"), rest),
        _ => (String::new(), text),
    };
    // Up to the last '@': a password may hold an unescaped '/', '?', '#' or '@'.
    let (user, rest) = match rest.rsplit_once('@') {
        Some((_, host)) => (format!("{HIDDEN}@"), host),
        None => (String::new(), rest),
    };
    let rest = match rest.find(['?', '#']).and_then(|i| rest.split_at_checked(i)) {
        Some((before, after)) => {
            let sep = after.chars().next().unwrap_or('?');
            format!("{before}{sep}{HIDDEN}")
        }
        None => rest.to_string(),
    };
    format!("{scheme}{user}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_value() {
        let s = Secret::literal("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn file_secret_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "abc\n").unwrap();
        match resolve(&format!("file:{}", p.display())).unwrap() {
            Resolved::Secret(s) => assert_eq!(s.expose(), b"abc"),
            Resolved::Literal(_) => panic!("file secret reported as literal"),
        }
    }

    /// One trailing newline (`\n` or `\r\n`) goes, from a file and from the environment
    /// alike; anything else is the value.
    #[test]
    fn one_trailing_newline_is_trimmed() {
        for (read, value) in [
            ("abc", "abc"),
            ("abc\n", "abc"),
            ("abc\r\n", "abc"),
            ("abc\n\n", "abc\n"),
            (" abc \n", " abc "),
        ] {
            let s = read_value(read.as_bytes().to_vec(), "file:/s".into()).unwrap();
            assert_eq!(s.expose(), value.as_bytes(), "{read:?}");
        }
        for blank in ["", "\n", " \n", "\t", "\n\n"] {
            let e = read_value(blank.as_bytes().to_vec(), "env:X".into())
                .err()
                .unwrap();
            assert!(e.starts_with("secret env:X is "), "{e}");
        }
    }

    #[test]
    fn missing_env_is_an_error_without_value() {
        let err = resolve("env:HOOKGATE_TEST_SURELY_UNSET").err().unwrap();
        assert!(err.contains("HOOKGATE_TEST_SURELY_UNSET is not set"));
    }

    #[test]
    fn redacted_urls_keep_where_not_who() {
        for (url, shown) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318"),
            (
                "https://u:p@c.example:4318/otlp?k=v#f",
                "https://[redacted]@c.example:4318/otlp?[redacted]",
            ),
            ("https://c.example/a#tok", "https://c.example/a#[redacted]"),
            // Unescaped '/', '?' and '@' in a password.
            (
                "https://u:p/a?b@c@h.example/x",
                "https://[redacted]@h.example/x",
            ),
            ("u:p@h.example:1", "[redacted]@h.example:1"),
            ("u:p@h://x", "[redacted]@h://x"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn literal_is_flagged() {
        assert!(matches!(resolve("plain").unwrap(), Resolved::Literal(_)));
        assert!(resolve("").is_err());
    }
}
