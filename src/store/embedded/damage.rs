//! Records the disk gave back damaged: a table block that fails its checksum (a bad sector, a
//! bit flipped on the way) or a record that does not decode. Such a record costs its event,
//! and nothing else: the event becomes a dead letter that says its content is lost (a replay
//! is refused: there is nothing left to send) and its ID is forgotten, so that the sender's
//! resend is taken as new. Before, the first one stopped its route's delivery for good.

use std::collections::HashMap;

use super::{Handles, keys};
use crate::logs;
use crate::metrics::METRICS;
use crate::store::record::{Phase, Record};

/// The dead letter's `last_error`.
pub const LOST: &str = "lost: its record in the store is damaged on disk (or missing), so \
                        its content cannot be delivered or replayed; its ID is forgotten, so \
                        the sender can send it again";

/// A lost event's dead letter says this when `hookgate store salvage` found its record
/// unreadable.
pub const SALVAGED_LOST: &str = "lost: its record was in a damaged block of the store's \
                                 tables that `hookgate store salvage` could not read, so its \
                                 content cannot be delivered or replayed (whether it was \
                                 delivered before is not known); its ID is forgotten, so the \
                                 sender can send it again";

/// Whether dead letter `rec` is a lost event's: there is nothing to replay.
pub fn is_lost(rec: &Record) -> bool {
    matches!(rec.last_error.as_deref(), Some(e) if e == LOST || e == SALVAGED_LOST)
}

/// The dead letter written in place of lost event `seq`'s record: what is known of it (its
/// route, ID, received and due times, order key) and why it is lost. Without its ID (its dedup
/// key was gone too), `lost-seq-<seq>` stands for it, so that it can be found and purged by
/// that name.
pub fn lost_record(
    route: String,
    (seq, event_id): (u64, Option<String>),
    (received_at_ms, due_ms): (u64, u64),
    now: u64,
    order_key: Option<String>,
    why: &str,
) -> Record {
    Record {
        route,
        event_id: event_id.unwrap_or_else(|| format!("lost-seq-{seq}")),
        received_at_ms,
        client_ip: String::new(),
        target: String::new(),
        headers: Vec::new(),
        body: Default::default(),
        phase: Phase::Dead,
        attempts: 0,
        replays: 0,
        due_ms,
        last_error: Some(why.into()),
        last_status: None,
        finished_at_ms: Some(now),
        order_key,
        history: Vec::new(),
        verification: String::new(),
    }
}

/// Whether a read failed because what the disk gave back is not what was written, as
/// opposed to a read that could not be done (an I/O error, a store being closed): the first
/// reads the same again, the second may pass later.
pub fn is_damage(e: &fjall::Error) -> bool {
    use fjall::LsmError as L;
    matches!(
        e,
        fjall::Error::Storage(
            L::ChecksumMismatch { .. }
                | L::Decompress(_)
                | L::InvalidTag(_)
                | L::InvalidTrailer
                | L::InvalidHeader(_)
                | L::Utf8(_)
        ) | fjall::Error::Decompress(_)
            | fjall::Error::InvalidTag(_)
            | fjall::Error::InvalidTrailer
    )
}

/// Says (summarised per place) that event `seq`'s record cannot be read: `why`.
pub fn said(seq: u64, why: &str) {
    if logs::RECORD_DAMAGED.hit("record", || format!("seq {seq}: {why}")) {
        tracing::error!(seq, error = why, "event record damaged on disk");
    }
}

/// Event `seq`'s record as stored in `events`, where damage reads as none (said): the lease
/// then makes the event a dead letter of lost content, and every other reader skips it.
pub fn record_bytes(
    events: &fjall::Keyspace,
    seq: u64,
) -> Result<Option<fjall::Slice>, fjall::Error> {
    read_else(events, &keys::event(seq), |e| said(seq, &e.to_string()))
}

/// A point read of `ks` (`what`: its keyspace) where damage reads as no value, said
/// (summarised): for values whose loss costs less than a failed write group, which every
/// request of the group would see as 503 and the store as a write failure (reopened), again
/// at each read of that block. A dedup key: its ID is taken as new (a duplicate delivery at
/// worst); a sync route's answer: asked of the upstream again.
pub fn get_or_none(
    ks: &fjall::Keyspace,
    what: &str,
    key: &[u8],
) -> Result<Option<fjall::Slice>, fjall::Error> {
    read_else(ks, key, |e| key_said(what, e))
}

/// `ks`'s value of `key`; damage reads as none once `say` has said it.
fn read_else(
    ks: &fjall::Keyspace,
    key: &[u8],
    say: impl FnOnce(&fjall::Error),
) -> Result<Option<fjall::Slice>, fjall::Error> {
    match get(ks, key) {
        Err(e) if is_damage(&e) => {
            say(&e);
            Ok(None)
        }
        read => read,
    }
}

/// `ks`'s value of `key`. A point read that meets damage is tried again as a range of the one
/// key, which reads the same tables' data blocks without their filters: a damaged filter block
/// (read through the block cache past the first level) then costs nothing but a log line, and
/// a damaged data block fails that read too.
pub fn get(ks: &fjall::Keyspace, key: &[u8]) -> Result<Option<fjall::Slice>, fjall::Error> {
    match ks.get(key) {
        Err(e) if is_damage(&e) => {
            let read = match ks.range(key..=key).next() {
                None => Ok(None),
                Some(entry) => entry.into_inner().map(|(_, v)| Some(v)),
            };
            if read.is_ok() && logs::FILTER_DAMAGED.hit(ks.name(), || e.to_string()) {
                tracing::error!(
                    keyspace = %ks.name(),
                    error = %e,
                    "a store table's filter is damaged on disk; reads go on without it until a compaction rewrites the table (check the disk)"
                );
            }
            read
        }
        read => read,
    }
}

/// Says (summarised per keyspace) that keys of keyspace `what` are damaged and read as absent.
pub fn key_said(what: &str, e: &fjall::Error) {
    if logs::KEY_DAMAGED.hit(what, || e.to_string()) {
        tracing::error!(keyspace = what, error = %e, "store key damaged on disk; read as absent");
    }
}

/// Says (summarised per keyspace) that a read of keyspace `what` stepped past damaged blocks
/// (`skipped`: none, nothing said): what they held is left out of what was read.
pub fn skipped_said(what: &str, skipped: &[super::Skipped]) {
    if !skipped.is_empty() && logs::KEY_DAMAGED.hit(what, || format!("{} blocks", skipped.len())) {
        tracing::error!(
            keyspace = what,
            blocks = skipped.len(),
            "store keys damaged on disk; stepped past (README, \"A damaged database table\")"
        );
    }
}

/// The IDs of route `route`'s events `seqs` and when their dedup keys expire, found by their
/// dedup keys (one scan of the route's keys: only when records are lost). An event is left out
/// when no key points at it any more, or its key is in a damaged block.
pub fn ids_of(h: &Handles, route: &str, seqs: &[u64]) -> HashMap<u64, (String, u64)> {
    let prefix = keys::dedup(route, "");
    let mut out = HashMap::new();
    // Past a damaged block of dedup keys too (its IDs are not found); an I/O error ends it.
    let read = super::step::each_readable_in(
        &h.dedup,
        Some(prefix.clone()),
        // Dedup keys start `route \0` as dead-letter keys do: the same end.
        Some(&keys::dead_prefix_end(route)),
        |k, v| {
            if let Some((seq, expires)) = keys::parse_dedup_value(v)
                && seqs.contains(&seq)
                && let Some(id) = k
                    .get(prefix.len()..)
                    .and_then(|b| std::str::from_utf8(b).ok())
            {
                out.insert(seq, (id.to_string(), expires));
            }
            Ok(out.len() < seqs.len())
        },
    );
    if let Ok(skipped) = read {
        skipped_said("dedup", &skipped);
    }
    out
}

/// fjall's report of a compaction that failed (the vendored patch: it no longer poisons the
/// database): counted and said, summarised per keyspace. It changed nothing; but a damaged
/// block fails every compaction that reads it, so its level stops shrinking, and fjall slows
/// writes down, then stops them, once 20, then 30 tables wait in its first level.
pub fn compaction_failed(keyspace: &str, e: &fjall::Error) {
    METRICS.store_compaction_failures.inc();
    if logs::COMPACTION_FAILED.hit(keyspace, || e.to_string()) {
        if is_damage(e) {
            tracing::error!(
                keyspace,
                error = %e,
                "store compaction failed: a table of the database is damaged on disk; nothing \
                 is lost by it, but the table cannot be merged: check the disk, then restore \
                 the store from a backup or stop hookgate and run `hookgate store salvage` on \
                 it, before writes slow down (README, \"A damaged database table\")"
            );
        } else {
            tracing::error!(keyspace, error = %e, "store compaction failed; tried again later");
        }
    }
}
