//! Reading the log back at a start (or a reopen after a write failure).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use fjall::PersistMode;

use super::segment::{self, Appender, Kind};
use super::spare::Spare;
use super::{Loc, LogWriter, Logged, SEGMENT_MAX, SEGMENT_MIN, Seg, decode_bodiless};
use crate::metrics::METRICS;
use crate::store::embedded::index::Effect;
use crate::store::embedded::{Handles, damage, keys};
use crate::store::record::{Phase, Record};

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
    let segments = segment::list(&dir).map_err(io)?;
    let newest = segments.last().map(|(id, _)| *id);
    for (id, path) in segments {
        let (file, entries, size) = segment::read(&path, Some(id) == newest).map_err(io)?;
        let file = Arc::new(file);
        let last_seq = segment::last_event(&entries);
        live.insert(
            id,
            Seg {
                logged: 0,
                size,
                last_seq,
            },
        );
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
    // Events come in seq order, which is segment order: each segment is read once more (from
    // the page cache now), not each record by itself.
    let mut bytes: (u32, Vec<u8>) = (0, Vec::new());
    let mut held = 0;
    for (seq, (id, file, e)) in found {
        // Filed: fjall has it, or had it (a marker stays while its segment lives).
        if h.meta.contains_key(keys::filed(seq)).map_err(db)? || in_events(h, seq).map_err(db)? {
            continue;
        }
        let loc = Loc {
            segment: id,
            file,
            at: e.at,
            len: e.len,
            expires_ms: e.expires_ms,
        };
        if bytes.0 != id {
            bytes = (id, std::fs::read(dir.join(segment::name(id))).map_err(io)?);
        }
        let raw = bytes
            .1
            .get(e.at as usize..e.at as usize + e.len as usize)
            .ok_or_else(|| io(std::io::ErrorKind::UnexpectedEof.into()))?;
        let Some(rec) = decode_bodiless(seq, raw) else {
            continue;
        };
        let key = keys::dedup(&rec.route, &rec.event_id);
        if e.after_damage && !done.contains(&seq) {
            // Found by a search past damage: most likely the event it says, but a payload can
            // be shaped like an entry, and only verified events pass. A dead letter, for an
            // operator to look at and replay; nothing acked is lost.
            match Record::decode(raw) {
                Ok(full) => {
                    quarantine(h, &mut repair, seq, full, e.expires_ms, now).map_err(db)?;
                    held += 1;
                }
                Err(error) => tracing::error!(seq, error, "skipping undecodable logged event"),
            }
            continue;
        }
        if done.contains(&seq) {
            // Unless the key is this event's, or a newer copy's.
            if remember(h, &mut repair, key, seq, e.expires_ms, now).map_err(db)? {
                // Its tombstone too, for `GET /events/{id}` and for the sweep (which deletes
                // the key with it). What the attempt answered was in what was lost.
                let mut rec = rec;
                rec.phase = Phase::Delivered;
                rec.attempts += 1;
                rec.finished_at_ms = Some(now);
                repair.insert(&h.events, keys::event(seq).to_vec(), rec.encode());
            }
            continue;
        }
        if let Some(s) = live.get_mut(&id) {
            s.logged += 1;
        }
        queued.push((seq, Effect::waiting(seq, rec)));
        logged.insert(seq, &key, loc);
    }
    if held > 0 {
        METRICS.store_log_held.inc_by(held);
        tracing::error!(
            events = held,
            "events read past damage in the event log are held as dead letters: check them \
             (GET /dlq) and replay them (POST /dlq/replay) or purge them"
        );
    }
    if !repair.is_empty() {
        repair.commit().map_err(db)?;
    }
    let segment_bytes = (budget / 8).clamp(SEGMENT_MIN, SEGMENT_MAX);
    let current = Appender::create(&dir, last_id + 1, segment_bytes).map_err(io)?;
    live.insert(
        current.id,
        Seg {
            size: current.len,
            ..Seg::default()
        },
    );
    let mut writer = LogWriter {
        spare: Spare::start(dir.clone(), segment_bytes),
        dir,
        budget,
        segment_bytes,
        current,
        live,
        stuck: None,
    };
    writer.retire_finished(h, next_seq).map_err(db)?;
    Ok(Recovered {
        logged,
        writer,
        queued,
        next_seq,
    })
}

/// Writes logged event `seq` into fjall as a dead letter (`recover`'s events found past
/// damage): its record with its body, its place among the dead letters, its dedup key (unless
/// a newer copy holds it) and expiry entry, and the marker of a filed event (its segment still
/// holds it).
fn quarantine(
    h: &Handles,
    batch: &mut fjall::OwnedWriteBatch,
    seq: u64,
    mut rec: Record,
    expires_ms: u64,
    now: u64,
) -> Result<(), fjall::Error> {
    remember(
        h,
        batch,
        keys::dedup(&rec.route, &rec.event_id),
        seq,
        expires_ms,
        now,
    )?;
    rec.phase = Phase::Dead;
    rec.finished_at_ms = Some(now);
    rec.last_error = Some(DAMAGED.into());
    batch.insert(&h.dead, keys::dead(&rec.route, seq), Vec::new());
    batch.insert(&h.meta, keys::filed(seq), Vec::new());
    batch.insert(&h.events, keys::event(seq).to_vec(), rec.encode());
    Ok(())
}

/// Puts back event `seq`'s dedup key and expiry entry, unless its window is over or a newer
/// copy holds the key; returns whether it did.
fn remember(
    h: &Handles,
    batch: &mut fjall::OwnedWriteBatch,
    key: Vec<u8>,
    seq: u64,
    expires_ms: u64,
    now: u64,
) -> Result<bool, fjall::Error> {
    let owner =
        damage::get_or_none(&h.dedup, "dedup", &key)?.and_then(|v| keys::parse_dedup_value(&v));
    if expires_ms <= now || owner.is_some_and(|(o, _)| o >= seq) {
        return Ok(false);
    }
    batch.insert(&h.dedup, key, keys::dedup_value(seq, expires_ms).to_vec());
    batch.insert(
        &h.expiry,
        keys::expiry(expires_ms, seq).to_vec(),
        Vec::new(),
    );
    Ok(true)
}

/// A held event's error, as its dead letter shows it.
const DAMAGED: &str = "read past damage in the event log at a restart: not delivered until an \
                       operator replays it";

/// Whether fjall has event `seq`'s record. One in a damaged table block reads as absent (said):
/// filing writes a marker with the record, and the marker said no. (Only a store of a hookgate
/// from before the markers could have filed it without one: then its delivery may repeat.)
fn in_events(h: &Handles, seq: u64) -> Result<bool, fjall::Error> {
    match h.events.contains_key(keys::event(seq)) {
        Err(e) if damage::is_damage(&e) => {
            damage::key_said("events", &e);
            Ok(false)
        }
        read => read,
    }
}
