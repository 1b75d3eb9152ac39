//! HTTPS on the public side: the certificate and key are served from memory and re-read when
//! their files change (a renewed certificate needs no restart); a broken new pair is refused and
//! the old one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Checks that `path` holds a PEM certificate chain (or private key).
pub fn load_pem(path: &Path, key: bool) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if key {
        private_key(&pem, path).map(drop)
    } else {
        chain(&pem, path).map(drop)
    }
}

/// The certificates of a PEM chain read from `path`; at least one.
fn chain(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn private_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("{}: no usable PEM private key ({e})", path.display()))
}

/// A pair's files as read: their bytes (`None`: unreadable), parsed from these very bytes.
struct PairFiles {
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
}

impl PairFiles {
    fn read(cert: &Path, key: &Path) -> PairFiles {
        PairFiles {
            cert: std::fs::read(cert).ok(),
            key: std::fs::read(key).ok(),
        }
    }

    /// What says the pair changed: a digest of the bytes, not the files' times (a rewrite
    /// within one tick of a coarse clock, of the same size, in place, or with its time set
    /// back shows in none of time, size or inode). Reading two small files every
    /// `CHECK_EVERY` costs nothing that matters.
    fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [&self.cert, &self.key] {
            match part {
                Some(b) => {
                    h.update([1]);
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
                None => h.update([0]),
            }
        }
        h.finalize().into()
    }

    fn certified(&self, cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
        let unreadable = |p: &Path| format!("{}: cannot be read", p.display());
        let cert_pem = self.cert.as_deref().ok_or_else(|| unreadable(cert))?;
        let key_pem = self.key.as_deref().ok_or_else(|| unreadable(key))?;
        let der = private_key(key_pem, key)?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&der)
            .map_err(|e| format!("{}: {e}", key.display()))?;
        let pair = CertifiedKey::new(chain(cert_pem, cert)?, signing);
        pair.keys_match().map_err(|e| {
            format!(
                "{} does not belong to {}: {e}",
                key.display(),
                cert.display()
            )
        })?;
        Ok(pair)
    }
}

#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
    /// The digest of the bytes last loaded (or last refused).
    seen: Mutex<[u8; 32]>,
}

impl ReloadingCert {
    pub fn load(cert: &Path, key: &Path) -> Result<ReloadingCert, String> {
        let read = PairFiles::read(cert, key);
        let pair = read.certified(cert, key)?;
        Ok(ReloadingCert {
            current: ArcSwap::from_pointee(pair),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            seen: Mutex::new(read.digest()),
        })
    }

    /// Swaps in the files' pair if they changed and are valid; returns whether it did. A
    /// broken pair is reported once, not at every poll, and the current one kept.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let read = PairFiles::read(&self.cert, &self.key);
        let now = read.digest();
        let mut seen = self.seen.lock().map_err(|_| "poisoned lock".to_string())?;
        if *seen == now {
            return Ok(false);
        }
        *seen = now;
        let pair = read.certified(&self.cert, &self.key)?;
        self.current.store(Arc::new(pair));
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Polls the certificate files (which also sees Kubernetes' symlink swaps of mounted secrets).
pub struct CertWatcher(pub Arc<ReloadingCert>);

#[async_trait]
impl BackgroundService for CertWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            match self.0.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(cert = %self.0.cert.display(), "TLS certificate reloaded")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate not reloaded; keeping the current one")
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    /// A renewal written to new files renamed into place, their times set back to the old
    /// ones (a copy that keeps times, or a clock's coarse tick): the inode says it changed.
    #[test]
    fn a_pair_replaced_with_its_times_set_back_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let (c1, k1) = pair();
        std::fs::write(&cert, c1).unwrap();
        std::fs::write(&key, k1).unwrap();
        let r = ReloadingCert::load(&cert, &key).unwrap();
        assert!(!r.reload_if_changed().unwrap());
        let (c2, k2) = pair();
        for (path, text) in [(&cert, &c2), (&key, &k2)] {
            let time = std::fs::metadata(path).unwrap().modified().unwrap();
            let new = path.with_extension("new");
            std::fs::write(&new, text).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&new)
                .unwrap()
                .set_modified(time)
                .unwrap();
            std::fs::rename(&new, path).unwrap();
        }
        assert!(r.reload_if_changed().unwrap());
        let served = CertificateDer::from_pem_slice(c2.as_bytes()).unwrap();
        assert_eq!(r.current.load().cert[0], served);
    }

    /// A renewal rewritten in place, same size, same inode, its time set back: only the bytes
    /// say it changed. And a broken pair is refused once, the old one kept.
    #[test]
    fn a_pair_rewritten_in_place_with_nothing_but_its_bytes_changed_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let ((mut c1, mut k1), (mut c2, mut k2)) = (pair(), pair());
        // The same sizes: padded with newlines, which PEM readers skip.
        for (a, b) in [(&mut c1, &mut c2), (&mut k1, &mut k2)] {
            let len = a.len().max(b.len());
            for t in [a, b] {
                t.extend(std::iter::repeat_n('\n', len - t.len()));
            }
        }
        std::fs::write(&cert, &c1).unwrap();
        std::fs::write(&key, &k1).unwrap();
        let r = ReloadingCert::load(&cert, &key).unwrap();
        for (path, text) in [(&cert, &c2), (&key, &k2)] {
            let meta = std::fs::metadata(path).unwrap();
            let f = std::fs::File::options().write(true).open(path).unwrap();
            std::io::Write::write_all(&mut &f, text.as_bytes()).unwrap();
            f.set_modified(meta.modified().unwrap()).unwrap();
        }
        assert!(r.reload_if_changed().unwrap());
        let served = CertificateDer::from_pem_slice(c2.as_bytes()).unwrap();
        assert_eq!(r.current.load().cert[0], served);
        assert!(!r.reload_if_changed().unwrap(), "unchanged since");
        // A key that is not the certificate's: refused once, the served pair kept.
        let (_, k3) = pair();
        std::fs::write(&key, k3).unwrap();
        let e = r.reload_if_changed().unwrap_err();
        assert!(e.contains("does not belong to"), "{e}");
        assert!(!r.reload_if_changed().unwrap(), "not reported again");
        assert_eq!(r.current.load().cert[0], served);
    }
}
