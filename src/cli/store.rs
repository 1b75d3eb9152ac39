//! `hookgate store downgrade DIR`: readies an embedded store (or a Redis store's local spill)
//! for a hookgate from before the event log, which refuses format 4. `hookgate store
//! cut-journal DIR`: cuts a damaged database journal the store refuses to open with.

use std::path::Path;

use crate::store::embedded::{Embedded, FORMAT_BEFORE_LOG, OpenError, cut_damaged_journals};

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
