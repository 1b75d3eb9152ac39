//! `hookgate store cut-journal`: the way out of a database journal that is damaged. The
//! vendored fjall cuts a batch torn by a crash at the start, as always, but refuses damage
//! (bytes that were never written there: `vendor/README.md`, the fifth change) and leaves the
//! journal as it is, since cutting it would also drop every batch after the damage, synced
//! ones too. The store then does not open until an operator restores it from a backup or
//! asks for this cut, knowing what it costs.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use fjall::Database;

use super::OpenError;
use super::log::segment::sync_dir;

/// Cuts at most this many damaged places (journals, each cut at its first damage, and read
/// again): a store holds a handful of journals (`MAX_JOURNAL` over fjall's 64 MiB each).
const MOST: usize = 64;

/// One journal cut at its damage.
pub struct Cut {
    pub journal: u64,
    /// Where its damaged batch began: the journal's length now.
    pub offset: u64,
    /// The journal as it was, beside it (fjall reads only `*.jnl`).
    pub kept_as: PathBuf,
}

/// Opens the database in `dir` (the recovery every start runs) and, while it refuses a
/// damaged journal, copies that journal aside and cuts it where the damage begins. What the
/// journal held from there on is lost, but for the events still in the event log, which the
/// next start reads back. The store must not be in use (fjall's lock says so).
pub fn cut_damaged_journals(dir: &Path) -> Result<Vec<Cut>, OpenError> {
    let shown = dir.display().to_string();
    let mut cuts = Vec::new();
    loop {
        super::forget_cached_journals(dir);
        let refused = match Database::builder(dir).open() {
            Ok(_) => return Ok(cuts),
            Err(e) => OpenError::of(&shown, e),
        };
        match refused {
            OpenError::JournalDamaged {
                journal, offset, ..
            } if cuts.len() < MOST => {
                let done = cut(dir, journal, offset).map_err(|e| OpenError::Open {
                    path: shown.clone(),
                    reason: format!("cannot cut journal {journal}.jnl at byte {offset}: {e}"),
                })?;
                cuts.push(done);
            }
            other => return Err(other),
        }
    }
}

fn cut(dir: &Path, journal: u64, offset: u64) -> io::Result<Cut> {
    let path = dir.join(format!("{journal}.jnl"));
    // A copy from an earlier cut of the same journal is kept too.
    let mut kept_as = dir.join(format!("{journal}.jnl.damaged"));
    let mut n = 0;
    while kept_as.exists() {
        n += 1;
        kept_as = dir.join(format!("{journal}.jnl.damaged.{n}"));
    }
    std::fs::copy(&path, &kept_as)?;
    OpenOptions::new().write(true).open(&kept_as)?.sync_all()?;
    let file = OpenOptions::new().write(true).open(&path)?;
    file.set_len(offset)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(Cut {
        journal,
        offset,
        kept_as,
    })
}
