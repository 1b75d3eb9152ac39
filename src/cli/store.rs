//! `hookgate store downgrade DIR`: readies an embedded store (or a Redis store's local spill)
//! for a hookgate from before the event log, which refuses format 4. `hookgate store
//! cut-journal DIR`: cuts a damaged database journal the store refuses to open with. `hookgate
//! store salvage DIR`: rewrites a store without its damaged table blocks.

use std::path::Path;

use crate::store::embedded::{
    Embedded, FORMAT_BEFORE_LOG, OpenError, Salvaged, Skipped, cut_damaged_journals,
};

/// Opening creates a store where there is none: a mistyped path must not pass as done.
/// (`version`: fjall's marker, in every store.)
fn is_store(dir: &Path) -> Result<(), String> {
    if dir.join("version").exists() {
        return Ok(());
    }
    Err(format!(
        "{}: no embedded store here (store.path, or the Redis store's store.spill_path)",
        dir.display()
    ))
}

fn in_use(dir: &Path, e: OpenError) -> String {
    match &e {
        OpenError::Open { reason, .. } if reason.contains("Locked") => format!(
            "{}: the store is in use (is hookgate running on it?); stop it first: {e}",
            dir.display()
        ),
        _ => e.to_string(),
    }
}

/// Cuts each damaged journal of the store's database where its damage begins (the journal
/// as it was kept beside it), until the database opens.
pub fn cut_journal(dir: &Path) -> Result<String, String> {
    is_store(dir)?;
    let cuts = cut_damaged_journals(dir).map_err(|e| in_use(dir, e))?;
    let shown = dir.display();
    if cuts.is_empty() {
        return Ok(format!("{shown}: no damaged journal; nothing cut."));
    }
    let mut said = String::new();
    for c in &cuts {
        said.push_str(&format!(
            "{shown}: journal {}.jnl cut at byte {} (as it was: {}).\n",
            c.journal,
            c.offset,
            c.kept_as.display()
        ));
    }
    said.push_str(
        "The database opens now. What the journal held from the cut on is lost, but for the \
         events still in the event log, which hookgate reads back at its next start. Delete \
         the .damaged copies once they are no longer needed.",
    );
    Ok(said)
}

/// Files every event waiting in the store's event log into its database, deletes the log and
/// writes format 3. The store must not be in use (fjall's lock says so).
pub fn downgrade(dir: &Path) -> Result<String, String> {
    let shown = dir.display();
    is_store(dir)?;
    let filed = Embedded::downgrade(dir).map_err(|e| in_use(dir, e))?;
    Ok(format!(
        "{shown}: {filed} waiting events moved from the event log into the database, the log \
         deleted, format {FORMAT_BEFORE_LOG} written. A hookgate from before the event log can \
         open it; this one upgrades it again at its next start."
    ))
}

/// Rewrites the store without its damaged table blocks (`embedded::salvage`) and says what was
/// found, skipped, lost and made again.
pub fn salvage(dir: &Path) -> Result<String, String> {
    // An interrupted salvage may have left no store at `dir` yet: the next one finishes it.
    if !crate::store::embedded::salvage_work_dir(dir).exists() {
        is_store(dir)?;
    }
    let s = crate::store::embedded::salvage(dir).map_err(|e| in_use(dir, e))?;
    Ok(salvage_said(dir, &s))
}

fn salvage_said(dir: &Path, s: &Salvaged) -> String {
    let shown = dir.display();
    let Some(kept) = &s.kept_as else {
        return format!("{shown}: every table block reads; nothing damaged, nothing changed.");
    };
    let mut said = String::new();
    for (name, copied, skipped) in &s.keyspaces {
        said.push_str(&format!("{name}: {copied} entries copied"));
        for k in skipped {
            said.push_str(&format!("; damaged keys skipped {}", range(k)));
        }
        said.push_str(".\n");
    }
    said.push_str(&format!(
        "Records read again past the damage: {}. Events lost (dead letters that say so, their \
         IDs forgotten): {}. Records of delivered events lost (a tombstone in their place): {}. \
         Queue entries made again: {}; dead-letter keys: {}; expiry entries: {}; dedup keys: \
         {}. Records that do not decode, left as they are: {}.\n",
        s.found_again,
        s.lost.len(),
        s.delivered_lost,
        s.requeued,
        s.dead_restored,
        s.expiry_restored,
        s.dedup_restored,
        s.undecodable
    ));
    for (route, id) in s.lost.iter().take(100) {
        said.push_str(&format!("lost: route {route}, event {id:?}\n"));
    }
    if s.lost.len() > 100 {
        said.push_str(&format!("… and {} more (GET /dlq)\n", s.lost.len() - 100));
    }
    said.push_str(&format!(
        "{shown} holds the salvaged store now; the store as it was is kept as {}. Delete it once \
         no longer needed.",
        kept.display()
    ));
    said
}

/// A skipped range of keys, as the keys show (hex where they are not text).
fn range(s: &Skipped) -> String {
    let show = |k: &Option<Vec<u8>>, none: &str| match k {
        None => none.to_string(),
        Some(k) if k.iter().all(|b| b.is_ascii_graphic()) => {
            format!("{:?}", String::from_utf8_lossy(k))
        }
        Some(k) => format!("0x{}", hex::encode(k)),
    };
    format!(
        "after {} before {}",
        show(&s.after, "the start"),
        show(&s.until, "the end")
    )
}
