//! Known keys: the key documents that verified a genuine message, per route, kept in memory
//! across reloads (which build the routes' fetchers anew) and in a file across restarts, so
//! that junk naming new key URLs right after a start cannot spend the minute's fetches before
//! the genuine key is back (`fetch.rs`). They are public keys and certificates; the file names
//! URLs only by their SHA-256 (a `key_url`'s query may carry a token).
//!
//! Bounded: `MAX_KNOWN` URLs per fetcher, the file `MAX_FILE` bytes; a file that cannot be read
//! or parsed is set aside with a warning (the keys are fetched again, as without one).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::verify::Check;

/// The file in the store's directory (embedded) or the spill's (Redis).
pub const FILE: &str = "known-keys.json";
/// URLs kept per fetcher: one key or certificate at a time, a few across rotations.
pub const MAX_KNOWN: usize = 8;
const MAX_FILE: u64 = 16 << 20;

/// One key document that verified a genuine message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Saved {
    /// Hex SHA-256 of the fetcher's salt and the URL (`url_hash`).
    pub url: String,
    /// When it was fetched, Unix seconds.
    pub fetched: u64,
    /// The document, base64.
    pub body: String,
}

impl Saved {
    pub fn new(url_hash: String, fetched: SystemTime, body: &[u8]) -> Saved {
        Saved {
            url: url_hash,
            fetched: fetched
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            body: base64::engine::general_purpose::STANDARD.encode(body),
        }
    }

    pub fn fetched_at(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(self.fetched)
    }

    pub fn body(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .ok()
    }
}

/// How a fetcher's URLs are named in the book: `salt` tells apart what the same URL answers to
/// different credentials (Plaid's key endpoint, per client id).
pub fn url_hash(salt: &str, url: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}\n{url}")))
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    /// Per fetcher (`route name/position`), its known documents.
    fetchers: BTreeMap<String, Vec<Saved>>,
}

pub struct KeyBook {
    /// `None`: kept in memory only (across reloads, not restarts).
    path: Option<PathBuf>,
    fetchers: Mutex<BTreeMap<String, Vec<Saved>>>,
}

impl KeyBook {
    pub fn memory() -> KeyBook {
        KeyBook {
            path: None,
            fetchers: Mutex::default(),
        }
    }

    /// The book in `dir` (created if missing). A directory that cannot be made leaves it in
    /// memory only; a file that cannot be read is renamed `.unreadable` and starts empty.
    pub fn open(dir: &Path) -> KeyBook {
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(path = %dir.display(), error = %e, "cannot keep known keys across restarts: their directory cannot be made");
            return KeyBook::memory();
        }
        let path = dir.join(FILE);
        let fetchers = match read(&path) {
            Ok(c) => c.fetchers,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "known keys unreadable; set aside, the keys are fetched again");
                let _ = std::fs::rename(&path, path.with_extension("json.unreadable"));
                BTreeMap::new()
            }
        };
        KeyBook {
            path: Some(path),
            fetchers: Mutex::new(fetchers),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<Saved>>> {
        crate::lock::lock(&self.fetchers)
    }

    /// What the fetcher `name` knew when last recorded (tests: `attach` reads it locked).
    #[cfg(test)]
    pub(super) fn saved(&self, name: &str) -> Vec<Saved> {
        self.lock().get(name).cloned().unwrap_or_default()
    }

    /// Hands every fetcher of the routes' checks (route name, check) its known documents (at
    /// start, at each reload) and forgets those of fetchers gone.
    pub fn attach<'a>(self: &Arc<Self>, routes: impl IntoIterator<Item = (&'a str, &'a Check)>) {
        let mut book = self.lock();
        let mut live = HashSet::new();
        for (route, check) in routes {
            for (i, (fetcher, salt)) in check.fetchers().into_iter().enumerate() {
                let name = format!("{route}/{i}");
                let saved = book.get(&name).cloned().unwrap_or_default();
                fetcher.attach(Arc::clone(self), name.clone(), salt.to_string(), saved);
                live.insert(name);
            }
        }
        book.retain(|name, _| live.contains(name));
    }

    /// Records that `saved` verified a genuine message for the fetcher `name`, within
    /// `MAX_KNOWN` (the oldest fetched goes), and writes the file.
    pub fn record(&self, name: &str, saved: Saved) {
        let mut book = self.lock();
        let list = book.entry(name.to_string()).or_default();
        list.retain(|s| s.url != saved.url);
        list.push(saved);
        list.sort_by_key(|s| std::cmp::Reverse(s.fetched));
        list.truncate(MAX_KNOWN);
        let Some(path) = &self.path else { return };
        // Written under the lock: two records never interleave their files.
        let contents = Contents {
            version: 1,
            fetchers: book.clone(),
        };
        if let Err(e) = write(path, &contents) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write known keys; they are kept in memory");
        }
    }
}

fn read(path: &Path) -> Result<Contents, String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
        Err(e) => return Err(e.to_string()),
        Ok(m) if m.len() > MAX_FILE => return Err(format!("larger than {MAX_FILE} bytes")),
        Ok(_) => {}
    }
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut c: Contents = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    for list in c.fetchers.values_mut() {
        list.truncate(MAX_KNOWN);
    }
    Ok(c)
}

/// Written beside and renamed over: a crash leaves the old file or the new one.
fn write(path: &Path, contents: &Contents) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(contents)?)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_is_bounded_and_read_back_and_a_broken_one_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let book = KeyBook::open(dir.path());
        for i in 0..(MAX_KNOWN as u64 + 3) {
            let at = UNIX_EPOCH + std::time::Duration::from_secs(1000 + i);
            book.record("r/0", Saved::new(url_hash("", &format!("u{i}")), at, b"k"));
        }
        let again = KeyBook::open(dir.path());
        let list = again.lock().get("r/0").cloned().unwrap();
        assert_eq!(list.len(), MAX_KNOWN);
        assert!(list.iter().all(|s| s.fetched >= 1003), "the oldest went");
        assert_eq!(list[0].body().as_deref(), Some(&b"k"[..]));
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(KeyBook::open(dir.path()).lock().is_empty());
        assert!(dir.path().join("known-keys.json.unreadable").is_file());
    }
}
