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

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
    seen: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ReloadingCert {
    pub fn load(cert: &Path, key: &Path) -> Result<ReloadingCert, String> {
        // The times before the read, as `reload_if_changed` takes them: a renewal written
        // while the pair is read is then seen at the next poll, not taken as already loaded.
        let seen = (modified(cert), modified(key));
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
        let now = (modified(&self.cert), modified(&self.key));
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
