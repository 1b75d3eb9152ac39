//! HTTPS on the public side: the certificate and key are served from memory and re-read when
//! their files change (a renewed certificate needs no restart); a broken new pair is refused and
//! the old one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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
    if key {
        PrivateKeyDer::from_pem_file(path)
            .map(drop)
            .map_err(|e| format!("{}: no usable PEM private key ({e})", path.display()))
    } else {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            Err(format!("{}: no PEM certificate", path.display()))
        } else {
            Ok(())
        }
    }
}

fn certified(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match().map_err(|e| {
        format!(
            "{} does not belong to {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(pair)
}

/// What says a file changed: its time, and its size and inode too, for a rewrite within one
/// tick of a coarse clock (or with its time set back) that a time alone would not show.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(p: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
    seen: Mutex<(Stamp, Stamp)>,
}

impl ReloadingCert {
    pub fn load(cert: &Path, key: &Path) -> Result<ReloadingCert, String> {
        // The stamps before the read, as `reload_if_changed` takes them: a renewal written
        // while the pair is read is then seen at the next poll, not taken as already loaded.
        let seen = (stamp(cert), stamp(key));
        let pair = certified(cert, key)?;
        Ok(ReloadingCert {
            current: ArcSwap::from_pointee(pair),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            seen: Mutex::new(seen),
        })
    }

    /// Swaps in the files' pair if they changed and are valid; returns whether it did.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = (stamp(&self.cert), stamp(&self.key));
        let mut seen = self.seen.lock().map_err(|_| "poisoned lock".to_string())?;
        if *seen == now {
            return Ok(false);
        }
        *seen = now;
        let pair = certified(&self.cert, &self.key)?;
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
}
