//! Rebuilding the in-memory index at a start (or a reopen) from the queue and the dead
//! letters, read whole. A damaged block of either no longer stops the store from opening: it is
//! stepped past, and what its entries said is read from the records instead (one scan of the
//! events, only then), at each start until the store is salvaged (`hookgate store salvage`).

use std::collections::{HashMap, HashSet};

use super::index::{Effect, Index};
use super::step::each_readable;
use super::{Handles, keys};
use crate::logs;
use crate::metrics::METRICS;
use crate::store::record::{Phase, Record};

/// Rebuilds the in-memory index from the durable keyspaces and the logged events' entries;
/// returns the next seq: past the high-water mark and past every event (a store of an older
/// hookgate has no mark).
pub fn build_index(
    h: &Handles,
    hot: u64,
    mut queued: Vec<(u64, Effect)>,
) -> Result<(Index, u64), fjall::Error> {
    let mut index = Index::new(hot);
    // The logged events' (read from the log) and those the queue names.
    let mut waiting: HashSet<u64> = queued
        .iter()
        .filter_map(|(_, e)| match e {
            Effect::Enqueued { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    let skipped_queue = each_readable(&h.queue, |k, v| {
        if let Some((route, due, seq)) = keys::parse_queue(k) {
            let (received, order_key, joined) =
                keys::parse_queue_value(v).unwrap_or((due, None, None));
            waiting.insert(seq);
            let e = Effect::Enqueued {
                route: route.to_string(),
                seq,
                due_ms: due,
                received_ms: received,
                revived: false,
                event: None,
                order_key,
            };
            queued.push((joined.unwrap_or(seq), e));
        }
        Ok(())
    })?;
    let mut dead: HashSet<u64> = HashSet::new();
    let skipped_dead = each_readable(&h.dead, |k, _| {
        if let Some((route, seq)) = keys::parse_dead(k) {
            dead.insert(seq);
            index.routes.entry(route.to_string()).or_default().dead += 1;
        }
        Ok(())
    })?;
    if !skipped_queue.is_empty() || !skipped_dead.is_empty() {
        let blocks = skipped_queue.len() + skipped_dead.len();
        let found = from_records(h, &waiting, &dead)?;
        METRICS.store_damaged_index_blocks.inc_by(blocks as u64);
        if logs::KEY_DAMAGED.hit("index", || format!("{blocks} blocks")) {
            tracing::error!(
                queue_blocks = skipped_queue.len(),
                dead_letter_blocks = skipped_dead.len(),
                waiting_found = found.queued.len(),
                dead_found = found.dead.values().sum::<u64>(),
                "the store's queue or dead letters are damaged on disk; their entries were \
                 read from the events' records instead, as at each start until `hookgate \
                 store salvage` rewrites the store (README, \"A damaged database table\")"
            );
        }
        queued.extend(found.queued);
        for (route, n) in found.dead {
            index.routes.entry(route).or_default().dead += n;
        }
    }
    // In the order events joined their lines (arrival, or a replay: at the back), so that each
    // order key's line forms as it was.
    queued.sort_by_key(|(joined, _)| *joined);
    let mut no_leases = super::SeqSet::default();
    for (_, e) in queued {
        index.apply(e, &mut no_leases);
    }
    let last = match h.events.last_key_value() {
        Some(g) => keys::event_seq(&g.key()?),
        None => None,
    };
    let mark = h
        .meta
        .get(keys::NEXT_SEQ)?
        .and_then(|v| keys::event_seq(&v));
    Ok((index, last.map_or(1, |s| s + 1).max(mark.unwrap_or(1))))
}

/// What the records say beyond the queue and the dead letters as read.
struct Found {
    queued: Vec<(u64, Effect)>,
    /// Dead letters per route.
    dead: HashMap<String, u64>,
}

/// The waiting events whose queue entries, and the dead letters whose keys, were not read:
/// from every record that reads (a damaged one is lost: the lease finds it so, if it waits).
fn from_records(
    h: &Handles,
    waiting: &HashSet<u64>,
    dead: &HashSet<u64>,
) -> Result<Found, fjall::Error> {
    let mut found = Found {
        queued: Vec::new(),
        dead: HashMap::new(),
    };
    each_readable(&h.events, |k, v| {
        let Some(seq) = keys::event_seq(k) else {
            return Ok(());
        };
        let Ok(rec) = Record::decode_bodiless(v) else {
            return Ok(());
        };
        match rec.phase {
            Phase::Pending if !waiting.contains(&seq) => {
                found.queued.push((seq, Effect::waiting(seq, rec)));
            }
            Phase::Dead if !dead.contains(&seq) => {
                *found.dead.entry(rec.route).or_default() += 1;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(found)
}
