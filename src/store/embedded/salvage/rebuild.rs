//! After the copy: the records the copy skipped are read once more one by one (a newer copy
//! in another table may hold them), those that stay unreadable become dead letters that say
//! their content is lost, and the keyspaces that index records — the queue, the dead letters,
//! the expiry orders — get back every entry their damage took, made from what they index.

use std::collections::{HashMap, HashSet};

use super::{Salvaged, Writes};
use crate::event::now_ms;
use crate::store::embedded::damage::{self, SALVAGED_LOST, is_damage, lost_record};
use crate::store::embedded::step::Skipped;
use crate::store::embedded::{Handles, keys};
use crate::store::record::{Phase, Record};

/// What the store knows of an event whose record the copy skipped, from the keys that name it.
#[derive(Default)]
struct Known {
    route: Option<String>,
    id: Option<String>,
    /// (received, due, order key), from its queue entry.
    queued: Option<(u64, u64, Option<String>)>,
    queue_key: Option<Vec<u8>>,
    /// Its dedup key and when it expires.
    dedup: Option<(Vec<u8>, u64)>,
}

/// Whether `key` is in one of the ranges `skipped`.
fn in_any(skipped: &[Skipped], key: &[u8]) -> bool {
    skipped.iter().any(|s| s.holds(key))
}

pub fn run(
    old: &Handles,
    new: &Handles,
    is_logged: &dyn Fn(u64) -> bool,
    out: &mut Salvaged,
) -> Result<(), fjall::Error> {
    let events_skipped = out.skipped("events").to_vec();
    let dedup_skipped = out.skipped("dedup").to_vec();
    let queue_damaged = !out.skipped("queue").is_empty() || !out.skipped("dead").is_empty();
    let in_skipped = |seq: u64| !is_logged(seq) && in_any(&events_skipped, &keys::event(seq));
    let mut known: HashMap<u64, Known> = HashMap::new();
    let mut queued = HashSet::new();
    let mut dead = HashSet::new();
    let mut top = 0;
    for entry in new.queue.iter() {
        let (k, v) = entry.into_inner()?;
        let Some((route, due, seq)) = keys::parse_queue(&k) else {
            continue;
        };
        queued.insert(seq);
        top = top.max(seq);
        if in_skipped(seq) {
            let (received, order_key, _) = keys::parse_queue_value(&v).unwrap_or((due, None, None));
            let e = known.entry(seq).or_default();
            e.route = Some(route.to_string());
            e.queued = Some((received, due, order_key));
            e.queue_key = Some(k.to_vec());
        }
    }
    for entry in new.dead.iter() {
        let k = entry.key()?;
        let Some((route, seq)) = keys::parse_dead(&k) else {
            continue;
        };
        dead.insert(seq);
        top = top.max(seq);
        if in_skipped(seq) {
            known.entry(seq).or_default().route = Some(route.to_string());
        }
    }
    for entry in new.dedup.iter() {
        let (k, v) = entry.into_inner()?;
        let Some((seq, expires)) = keys::parse_dedup_value(&v) else {
            continue;
        };
        top = top.max(seq);
        if in_skipped(seq)
            && let Some(i) = k.iter().position(|b| *b == 0)
        {
            let e = known.entry(seq).or_default();
            e.route = Some(String::from_utf8_lossy(&k[..i]).into_owned());
            e.id = Some(String::from_utf8_lossy(&k[i + 1..]).into_owned());
            e.dedup = Some((k.to_vec(), expires));
        }
    }

    let now = now_ms();
    let mut w = Writes::new(&new.db);
    let mut lost = HashSet::new();
    let mut seqs: Vec<u64> = known.keys().copied().collect();
    seqs.sort_unstable();
    for seq in seqs {
        let key = keys::event(seq);
        match damage::get(&old.events, &key) {
            Ok(Some(v)) => {
                w.insert(&new.events, &key, &v)?;
                out.found_again += 1;
            }
            Ok(None) => {}
            Err(e) if is_damage(&e) => {
                let Some(k) = known.remove(&seq) else {
                    continue;
                };
                let was_dead = dead.contains(&seq);
                if lose(&mut w, new, seq, k, was_dead || queue_damaged, now, out)? {
                    dead.insert(seq);
                    lost.insert(seq);
                }
            }
            Err(e) => return Err(e),
        }
    }
    w.done()?;

    let mut w = Writes::new(&new.db);
    // The dedup keys the copy skipped, by the records that name them (in seq order: a later
    // copy of an ID replaces an earlier one, as at its accept).
    let mut unkeyed: HashMap<Vec<u8>, u64> = HashMap::new();
    for entry in new.events.iter() {
        let (k, v) = entry.into_inner()?;
        let Some(seq) = keys::event_seq(&k) else {
            continue;
        };
        top = top.max(seq);
        let rec = match Record::decode_bodiless(&v) {
            Ok(rec) => rec,
            Err(_) => {
                out.undecodable += 1;
                continue;
            }
        };
        if !dedup_skipped.is_empty() && !damage::is_lost(&rec) {
            let key = keys::dedup(&rec.route, &rec.event_id);
            if in_any(&dedup_skipped, &key) {
                unkeyed.insert(key, seq);
            }
        }
        match rec.phase {
            Phase::Pending if !queued.contains(&seq) && !is_logged(seq) => {
                let value = keys::queue_value(rec.received_at_ms, rec.order_key.as_deref(), None);
                w.insert(
                    &new.queue,
                    &keys::queue(&rec.route, rec.due_ms, seq),
                    &value,
                )?;
                out.requeued += 1;
            }
            Phase::Dead if !dead.contains(&seq) => {
                w.insert(&new.dead, &keys::dead(&rec.route, seq), b"")?;
                out.dead_restored += 1;
            }
            _ => {}
        }
    }
    for entry in new.dedup.iter() {
        let v = entry.value()?;
        if let Some((seq, expires)) = keys::parse_dedup_value(&v) {
            let k = keys::expiry(expires, seq);
            if !lost.contains(&seq) && !new.expiry.contains_key(k)? {
                w.insert(&new.expiry, &k, b"")?;
                out.expiry_restored += 1;
            }
        }
    }
    for entry in new.answers.iter() {
        let (k, v) = entry.into_inner()?;
        if let Some((_, expires, _)) = keys::parse_answer_value(&v) {
            let e = keys::answer_expiry(expires, &k);
            if !new.answer_expiry.contains_key(&e)? {
                w.insert(&new.answer_expiry, &e, b"")?;
                out.expiry_restored += 1;
            }
        }
    }
    restore_dedup(&mut w, new, unkeyed, now, out)?;
    let mark = new
        .meta
        .get(keys::NEXT_SEQ)?
        .and_then(|v| keys::event_seq(&v))
        .unwrap_or(1);
    w.insert(&new.meta, keys::NEXT_SEQ, &keys::be(mark.max(top + 1)))?;
    w.done()
}

/// The dedup keys the copy skipped (a damaged block of `dedup`, and the healthy keys of other
/// tables in its range), made again: `unkeyed` names each one's event, whose expiry entries
/// give its window. So an ID the store knew stays a duplicate. Left out: an event lost (its
/// ID forgotten on purpose; not in `unkeyed`) or past its window (no expiry entry ahead). A
/// key that is there already stays as it is.
fn restore_dedup(
    w: &mut Writes<'_>,
    new: &Handles,
    unkeyed: HashMap<Vec<u8>, u64>,
    now: u64,
    out: &mut Salvaged,
) -> Result<(), fjall::Error> {
    if unkeyed.is_empty() {
        return Ok(());
    }
    let mut window: HashMap<u64, u64> = unkeyed.values().map(|seq| (*seq, 0)).collect();
    for entry in new.expiry.iter() {
        if let Some((expires, seq)) = keys::parse_expiry(&entry.key()?)
            && let Some(w) = window.get_mut(&seq)
        {
            // A replay gives the key a later window; the older entry stays until swept.
            *w = (*w).max(expires);
        }
    }
    for (key, seq) in unkeyed {
        let expires = window.get(&seq).copied().unwrap_or(0);
        if expires > now && !new.dedup.contains_key(&key)? {
            w.insert(&new.dedup, &key, &keys::dedup_value(seq, expires))?;
            out.dedup_restored += 1;
        }
    }
    Ok(())
}

/// What becomes of event `seq`, whose record does not read (`k`: what its keys say). Waiting
/// (it has a queue entry), dead, or maybe either (`maybe_waiting`: the queue or the dead
/// letters were damaged too): a dead letter that says it is lost, its ID forgotten; true.
/// Else it had been delivered: a delivered event's tombstone takes the record's place and its
/// ID stays known (a resend is still a duplicate, and the sweep forgets it in time); false.
fn lose(
    w: &mut Writes<'_>,
    new: &Handles,
    seq: u64,
    k: Known,
    maybe_waiting: bool,
    now: u64,
    out: &mut Salvaged,
) -> Result<bool, fjall::Error> {
    let Some(route) = k.route else {
        return Ok(false);
    };
    let (received, due, order_key) = k.queued.unwrap_or((now, now, None));
    let mut rec = lost_record(
        route.clone(),
        (seq, k.id),
        (received, due),
        now,
        order_key,
        SALVAGED_LOST,
    );
    let key = keys::event(seq);
    if k.queue_key.is_none() && !maybe_waiting {
        rec.phase = Phase::Delivered;
        rec.last_error = None;
        w.insert(&new.events, &key, &rec.encode())?;
        out.delivered_lost += 1;
        return Ok(false);
    }
    w.insert(&new.events, &key, &rec.encode())?;
    if let Some(q) = k.queue_key {
        w.remove(&new.queue, &q)?;
    }
    if let Some((d, expires)) = k.dedup {
        w.remove(&new.dedup, &d)?;
        w.remove(&new.expiry, &keys::expiry(expires, seq))?;
    }
    w.insert(&new.dead, &keys::dead(&route, seq), b"")?;
    out.lost.push((route, rec.event_id));
    Ok(true)
}
