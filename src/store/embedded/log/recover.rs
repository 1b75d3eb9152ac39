//! Reading the log back at a start (or a reopen after a write failure).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use fjall::PersistMode;

use super::segment::{self, Appender, Kind};
use super::spare::Spare;
use super::{Loc, LogWriter, Logged, SEGMENT_MAX, SEGMENT_MIN};
use crate::store::embedded::index::Effect;
use crate::store::embedded::{Handles, keys};
use crate::store::record::Record;

/// What the log holds, as of now.
pub struct Recovered {
    pub logged: Logged,
    pub writer: LogWriter,
    /// The logged events' queue entries, for the index (in seq order: their lines' order).
    pub queued: Vec<(u64, Effect)>,
    /// Past every seq the log has seen.
    pub next_seq: u64,
}

/// Reads every segment of the store's log, files nothing, and starts a new segment.
/// Segments left with no logged event are deleted (fjall synced first).
pub fn recover(store: &Path, h: &Handles, now: u64, budget: u64) -> Result<Recovered, String> {
    let dir = LogWriter::dir(store);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let shown = dir.display().to_string();
    let io = |e: std::io::Error| format!("event log {shown}: {e}");
    let db = |e: fjall::Error| e.to_string();
    let mut found: BTreeMap<u64, (u32, Arc<std::fs::File>, segment::Entry)> = BTreeMap::new();
    let mut done = HashSet::new();
    let mut live = BTreeMap::new();
    let mut last_id = 0;
    let mut next_seq = 1;
    for (id, path) in segment::list(&dir).map_err(io)? {
        let (file, entries, size) = segment::read(&path).map_err(io)?;
        let file = Arc::new(file);
        live.insert(id, (0, size));
        last_id = id;
        for e in entries {
            next_seq = next_seq.max(e.seq + 1);
            match e.kind {
                Kind::Event => {
                    found.insert(e.seq, (id, file.clone(), e));
                }
                Kind::Done => {
                    done.insert(e.seq);
                }
            }
        }
    }
    let mut logged = Logged::default();
    let mut queued = Vec::new();
    // Delivered events whose dedup key did not reach fjall before a power cut.
    let mut repair = h.db.batch().durability(Some(PersistMode::SyncData));
    for (seq, (id, file, e)) in found {
        if h.events.contains_key(keys::event(seq)).map_err(db)? {
            continue; // filed
        }
        let loc = Loc {
            segment: id,
            file,
            at: e.at,
            len: e.len,
            expires_ms: e.expires_ms,
        };
        let raw = loc.read().map_err(io)?;
        let rec = match Record::decode_bodiless(&raw) {
            Ok(r) => r,
            Err(err) => {
                tracing::error!(seq, error = %err, "skipping undecodable logged event");
                continue;
            }
        };
        let key = keys::dedup(&rec.route, &rec.event_id);
        if done.contains(&seq) {
            if e.expires_ms > now && !h.dedup.contains_key(&key).map_err(db)? {
                repair.insert(&h.dedup, key, keys::dedup_value(seq, e.expires_ms).to_vec());
                repair.insert(
                    &h.expiry,
                    keys::expiry(e.expires_ms, seq).to_vec(),
                    Vec::new(),
                );
            }
            continue;
        }
        if let Some(s) = live.get_mut(&id) {
            s.0 += 1;
        }
        queued.push((
            seq,
            Effect::Enqueued {
                route: rec.route,
                seq,
                due_ms: rec.due_ms,
                received_ms: rec.received_at_ms,
                revived: false,
                event: None,
                order_key: rec.order_key,
            },
        ));
        logged.insert(seq, key.into_boxed_slice(), loc);
    }
    if !repair.is_empty() {
        repair.commit().map_err(db)?;
    }
    let segment_bytes = (budget / 8).clamp(SEGMENT_MIN, SEGMENT_MAX);
    let current = Appender::create(&dir, last_id + 1, segment_bytes).map_err(io)?;
    live.insert(current.id, (0, current.len));
    let mut writer = LogWriter {
        spare: Spare::start(dir.clone(), segment_bytes),
        dir,
        budget,
        segment_bytes,
        current,
        live,
    };
    let finished = writer.finished();
    if !finished.is_empty() {
        h.db.persist(PersistMode::SyncAll).map_err(db)?;
        writer.retire(&finished).map_err(io)?;
    }
    Ok(Recovered {
        logged,
        writer,
        queued,
        next_seq,
    })
}
