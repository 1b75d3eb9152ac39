//! What a running config really is: the file's text plus the secret values it resolved. Its
//! hash (`/healthz` `effective_config_hash`) changes when a rotated `file:` secret is re-read,
//! which the file's own hash cannot show; and the reload compares it, so that a new secret with
//! an unchanged file is still swapped in.
//!
//! The hash must not help anyone guess a secret: a plain SHA-256 of a short token would let
//! whoever reads `/healthz` (it is open, for probes) test guesses offline at GPU speed. So the
//! secrets are never hashed alone: all of them are combined with the config text into one
//! HMAC-SHA256 under a fixed domain-separation key, and the result is stretched by
//! `ROUNDS` further HMAC rounds. A guess then has to name every secret of the file at once,
//! and costs `ROUNDS` HMACs. (Secrets are expected to be high-entropy anyway: an HMAC signing
//! secret is exposed to the same offline test by any one signed webhook.)
//!
//! `env:` secrets are part of the hash too, but they cannot change while the process runs (its
//! environment is fixed at start): rotating one needs a restart.

use std::path::PathBuf;

use ring::hmac;

use crate::secret::Secret;

/// Fixed and public: it separates this hash from any other use of the same secrets.
const DOMAIN: &[u8] = b"hookgate effective-config hash v1";
/// About 5 ms per load: negligible at a reload, a multiplier on every offline guess.
const ROUNDS: u32 = 10_000;

/// The secrets one load resolved, in the order the file names them.
#[derive(Default)]
pub struct Material {
    secrets: Vec<(String, Vec<u8>)>,
    files: Vec<PathBuf>,
}

impl Material {
    /// A secret reference the file names, before it is resolved: a `file:` one is watched even
    /// when it cannot be read yet (a reload that failed for want of it is retried when it
    /// appears).
    pub fn name(&mut self, reference: &str) {
        if let Some(path) = reference.strip_prefix("file:") {
            let p = PathBuf::from(path);
            if !self.files.contains(&p) {
                self.files.push(p);
            }
        }
    }

    pub fn add(&mut self, reference: &str, secret: &Secret) {
        self.name(reference);
        self.secrets
            .push((reference.to_string(), secret.expose().to_vec()));
    }

    /// The `file:` secrets the config names: watched like the config file itself.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.clone()
    }

    /// Hex HMAC-SHA256 over the text and every resolved secret, stretched (see the module doc).
    /// ring's HMAC: the same value as the `hmac` crate's, and not generic code, so it runs at
    /// full speed in unoptimised builds too (the tests load thousands of configs).
    pub fn hash(&self, text: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, DOMAIN);
        // Length-prefixed: no two different inputs read the same.
        fn part(m: &mut hmac::Context, b: &[u8]) {
            m.update(&(b.len() as u64).to_be_bytes());
            m.update(b);
        }
        let mut m = hmac::Context::with_key(&key);
        part(&mut m, text.as_bytes());
        for (reference, value) in &self.secrets {
            part(&mut m, reference.as_bytes());
            part(&mut m, value);
        }
        let mut u = m.sign();
        for _ in 0..ROUNDS {
            u = hmac::sign(&key, u.as_ref());
        }
        hex::encode(u.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material(pairs: &[(&str, &str)]) -> Material {
        let mut m = Material::default();
        for (r, v) in pairs {
            m.add(r, &Secret::literal(*v));
        }
        m
    }

    #[test]
    fn hash_follows_secret_values_and_never_shows_them() {
        let a = material(&[("file:/s/a", "one"), ("env:B", "two")]);
        let b = material(&[("file:/s/a", "ONE"), ("env:B", "two")]);
        assert_ne!(a.hash("x"), b.hash("x"));
        assert_eq!(
            a.hash("x"),
            material(&[("file:/s/a", "one"), ("env:B", "two")]).hash("x")
        );
        assert_ne!(a.hash("x"), a.hash("y"));
        // Not a plain digest of anything in it.
        let h = a.hash("x");
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&hex::encode(b"one")));
        assert_eq!(a.files(), vec![PathBuf::from("/s/a")]);
    }

    /// The value itself is fixed (replicas of different versions show the same hash for the
    /// same config): computed independently, with Python's `hmac` module.
    #[test]
    fn the_hash_is_hmac_sha256_stretched() {
        let m = material(&[("file:/s/a", "one"), ("env:B", "two")]);
        assert_eq!(
            m.hash("x"),
            "9e02c460e149ba5c5e7da8424008e8310f6b80bd8326a8888888d2f5ac1ce06f"
        );
    }

    #[test]
    fn boundaries_are_unambiguous() {
        assert_ne!(
            material(&[("file:/a", "bc")]).hash(""),
            material(&[("file:/ab", "c")]).hash("")
        );
    }
}
