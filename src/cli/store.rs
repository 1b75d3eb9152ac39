//! `hookgate store downgrade DIR`: readies an embedded store (or a Redis store's local spill)
//! for a hookgate from before the event log, which refuses format 4.

use std::path::Path;

use crate::store::embedded::{Embedded, FORMAT_BEFORE_LOG, OpenError};

/// Files every event waiting in the store's event log into its database, deletes the log and
/// writes format 3. The store must not be in use (fjall's lock says so).
pub fn downgrade(dir: &Path) -> Result<String, String> {
    let shown = dir.display();
    // Opening creates a store where there is none: a mistyped path must not pass as done.
    // (`version`: fjall's marker, in every store.)
    if !dir.join("version").exists() {
        return Err(format!(
            "{shown}: no embedded store here (store.path, or the Redis store's store.spill_path)"
        ));
    }
    let filed = Embedded::downgrade(dir).map_err(|e| match &e {
        OpenError::Open { reason, .. } if reason.contains("Locked") => {
            format!("{shown}: the store is in use (is hookgate running on it?); stop it first: {e}")
        }
        _ => e.to_string(),
    })?;
    Ok(format!(
        "{shown}: {filed} waiting events moved from the event log into the database, the log \
         deleted, format {FORMAT_BEFORE_LOG} written. A hookgate from before the event log can \
         open it; this one upgrades it again at its next start."
    ))
}
