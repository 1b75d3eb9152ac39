//! Taking events in, grouped per shard: the accepts of one shard that arrive while its
//! previous call is in flight go together into its next call, one `scripts::ACCEPT` run with
//! N events (group commit, as the embedded store's writer). Each request still waits for one
//! call and gets its own answer; the call's fixed costs in Redis (command dispatch, the
//! script's set-up, the bound's and the clock's reads, the AOF write) and here (a round trip,
//! its syscalls) are paid once per group. Alone, an accept goes at once.
//!
//! One call per shard in flight at a time, so a shard's events reach Redis in the order they
//! arrived here (order lines across groups). A group fails or succeeds as a whole (the script
//! is atomic): on an error, each of its requests gets it (and goes to the spill, if any). A
//! group past `store.timeout` may still have run in Redis: the spill's drain dedups such copies.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::conn::Timed;
use super::fields::encode_headers;
use super::rehome::Rehome;
use super::scripts::{ACCEPT, Call};
use super::shard_count::ShardCount;
use super::{RedisStore, Shard, lock, replicas};
use crate::event::NewEvent;
use crate::store::{Accepted, Intake, StoreError};

/// Events per call at most (7 script arguments each, 9 with an order key).
const MAX_GROUP: usize = 128;
/// Bodies per call at most, in bytes (one event more may go over).
const MAX_GROUP_BYTES: usize = 1 << 20;

pub(super) struct Job {
    ev: NewEvent,
    done: oneshot::Sender<Result<i64, StoreError>>,
}

/// The intake writers, one per shard, started by the shard's first accept.
pub(super) type Writers = std::sync::Mutex<HashMap<Shard, mpsc::UnboundedSender<Job>>>;

/// What a shard's writer needs besides its shard.
pub(super) struct Settings {
    pub con: Timed,
    pub max_per_shard: u64,
    /// `store.replica_acks`.
    pub replica_acks: u16,
    /// Nothing is written before Redis agreed with `store.shards`.
    pub count: ShardCount,
    /// Where else a route's events may be: under another order key, or before a change of its
    /// `order_key`.
    pub rehome: Arc<Rehome>,
}

/// The keys `ACCEPT` names for a shard, and its key prefix: made once per writer (or drain),
/// not per call.
struct AcceptKeys {
    keys: [String; 9],
    prefix: String,
}

impl AcceptKeys {
    fn of(sh: &Shard) -> AcceptKeys {
        AcceptKeys {
            keys: [
                sh.stream(),
                sh.pending(),
                sh.dead(),
                sh.archived(),
                sh.archive_counter(),
                sh.listing(),
                sh.done(),
                sh.lean().stream(),
                sh.index(),
            ],
            prefix: sh.key_prefix(),
        }
    }
}

async fn run(sh: Shard, mut rx: mpsc::UnboundedReceiver<Job>, set: Settings) {
    let keys = AcceptKeys::of(&sh);
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    // An accept under another dedup TTL than its group's (a reload came between): the next
    // group's first.
    let mut held: Option<Job> = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let ttl = first.ev.dedup_ttl;
        let mut bytes = 0;
        let mut next = Some(first);
        while let Some(job) = next {
            if job.ev.dedup_ttl != ttl {
                held = Some(job);
                break;
            }
            // A request that gave up (its deadline, its client gone) is not written.
            if !job.done.is_closed() {
                bytes += job.ev.body.len();
                group.push(job);
            }
            next = if full(group.len(), bytes) {
                None
            } else {
                rx.try_recv().ok()
            };
        }
        if group.is_empty() {
            continue;
        }
        let r = call(&set, &sh, &keys, group.iter().map(|j| &j.ev)).await;
        match r {
            Ok(answers) => {
                for (job, a) in group.drain(..).zip(answers) {
                    let _ = job.done.send(Ok(a));
                }
            }
            Err(e) => {
                // None written (the script is atomic), or written but not confirmed by enough
                // replicas: each request is handled as alone (the spill, or 503). A spilled
                // copy is dropped at drain only once a confirmed call finds it in Redis.
                for job in group.drain(..) {
                    let _ = job.done.send(Err(StoreError::Unavailable(e.clone())));
                }
            }
        }
    }
}

/// One `ACCEPT` call for `events` (all of shard `sh`, in order, under one dedup TTL), then, with `replica_acks`,
/// the wait for Redis replicas to have it. For each event 1 new, 0 duplicate, -1 the shard is
/// at its bound; an error: none was written, or not confirmed.
async fn call<'a>(
    set: &Settings,
    sh: &Shard,
    keys: &AcceptKeys,
    events: impl ExactSizeIterator<Item = &'a NewEvent>,
) -> Result<Vec<i64>, String> {
    set.count.agreed(&set.con).await?;
    let (con, max_per_shard, replica_acks) = (&set.con, set.max_per_shard, set.replica_acks);
    let all: Vec<&NewEvent> = events.collect();
    let ttl = all
        .first()
        .map_or(0, |ev| crate::config::units::millis(ev.dedup_ttl));
    // One window per call: the script names one family of dedup sets (callers cut groups
    // where a reload changed the TTL).
    debug_assert!(all.windows(2).all(|w| w[0].dedup_ttl == w[1].dedup_ttl));
    // Copies of events another shard of the route took (under another order key, or before its
    // order key changed): answered as duplicates here, not written.
    let elsewhere = set.rehome.known_elsewhere(con, sh, &all, ttl).await?;
    let events: Vec<&NewEvent> = all
        .iter()
        .zip(&elsewhere)
        .filter(|(_, known)| !**known)
        .map(|(ev, _)| *ev)
        .collect();
    if events.is_empty() {
        return Ok(vec![0; all.len()]);
    }
    let n = events.len();
    // 7 arguments per event (9 with an order key), ~100 bytes besides its headers and body.
    let bytes: usize = events
        .iter()
        .map(|ev| {
            100 + ev.body.len()
                + ev.event_id.len() * 2
                + ev.target.len()
                + ev.verification.len()
                + ev.headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 2)
                    .sum::<usize>()
        })
        .sum();
    let mut invocation = Call::new(&ACCEPT, &keys.keys, 4 + 9 * n, bytes);
    invocation.arg(max_per_shard).arg(&keys.prefix);
    // How many have an order key, the IDs, the dedup members, the order keys, then the rest
    // event by event (the script's layout).
    invocation.arg(ttl);
    invocation.arg(events.iter().filter(|ev| ev.order_key.is_some()).count());
    for ev in &events {
        invocation.arg(&ev.event_id);
    }
    for ev in &events {
        invocation.arg(sh.dedup_member(&ev.event_id));
    }
    for (i, ev) in events.iter().enumerate() {
        if let Some(key) = &ev.order_key {
            invocation.arg(i + 1).arg(key);
        }
    }
    for ev in &events {
        invocation
            .arg(ev.received_at_ms)
            .arg(ip_text(ev.client_ip))
            .arg(tail(&ev.verification, &ev.target))
            .arg(encode_headers(&ev.headers))
            .arg(ev.body.as_ref());
    }
    let answers: Vec<i64> = invocation
        .invoke(&mut con.clone())
        .await
        .map_err(|e| super::redis_error(&e))?;
    if answers.len() != n {
        return Err(format!("redis: {} answers to {n} accepts", answers.len()));
    }
    if replica_acks > 0 {
        replicas::confirm(con, sh, answers.contains(&1), replica_acks).await?;
    }
    if n == all.len() {
        return Ok(answers);
    }
    let mut answers = answers.into_iter();
    Ok(elsewhere
        .iter()
        .map(|&known| {
            if known {
                0
            } else {
                answers.next().unwrap_or(0)
            }
        })
        .collect())
}

/// What ends a lean entry's `m`: the verification's length, a line break, the verification and
/// the target (which may hold any byte: the length says where the verification ends).
fn tail(verification: &str, target: &str) -> Vec<u8> {
    let mut digits = itoa::Buffer::new();
    let len = digits.format(verification.len());
    let mut out = Vec::with_capacity(len.len() + 1 + verification.len() + target.len());
    out.extend_from_slice(len.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(verification.as_bytes());
    out.extend_from_slice(target.as_bytes());
    out
}

/// The client IP as `Display` writes it; an IPv4 address (most senders') without `format!`'s
/// machinery, which costs more than the rest of the event's arguments.
fn ip_text(ip: std::net::IpAddr) -> Vec<u8> {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string().into_bytes();
    };
    let mut out = Vec::with_capacity(15);
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(digits.format(octet).as_bytes());
    }
    out
}

impl RedisStore {
    /// Accepts `events` in their order, in as few calls as they fit (the spill's drain: many of
    /// one order line at once). Per shard, in order: a call that fails, or refuses an event at
    /// the shard's bound, leaves that shard's later events unsent, so none overtakes an earlier
    /// one of its line;
    /// shards do not wait for each other. The answers in `events`' order.
    pub async fn accept_in_order(&self, events: &[NewEvent]) -> Vec<Result<Accepted, StoreError>> {
        let mut by_shard: Vec<(Shard, Vec<usize>)> = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            let sh = self.home(ev);
            match by_shard.iter_mut().find(|(s, _)| *s == sh) {
                Some((_, idx)) => idx.push(i),
                None => by_shard.push((sh, vec![i])),
            }
        }
        let set = self.settings();
        let per_shard = by_shard.iter().map(|(sh, idx)| async {
            let keys = AcceptKeys::of(sh);
            let mut answers = Vec::with_capacity(idx.len());
            let mut failed: Option<String> = None;
            for part in groups(idx, events) {
                if let Some(e) = &failed {
                    answers.extend(part.iter().map(|_| Err(e.clone())));
                    continue;
                }
                let evs = part.iter().map(|&i| &events[i]);
                match call(&set, sh, &keys, evs).await {
                    // An event refused at the shard's bound goes back to the spill: the shard's
                    // later ones wait with it, though deliveries may have made room since, so
                    // that none of its line overtakes it.
                    Ok(a) if a.contains(&-1) => {
                        answers.extend(a.into_iter().map(Ok));
                        failed = Some(
                            "redis: not sent: an earlier event of its shard is at the bound".into(),
                        );
                    }
                    Ok(a) => answers.extend(a.into_iter().map(Ok)),
                    Err(e) => {
                        answers.extend(part.iter().map(|_| Err(e.clone())));
                        failed = Some(e);
                    }
                }
            }
            answers
        });
        let mut out: Vec<Option<Result<Accepted, StoreError>>> =
            events.iter().map(|_| None).collect();
        let answered = futures_util::future::join_all(per_shard).await;
        for ((_, idx), answers) in by_shard.iter().zip(answered) {
            for (&i, a) in idx.iter().zip(answers) {
                out[i] = Some(self.answer(a, true));
            }
        }
        out.into_iter()
            .map(|a| a.unwrap_or_else(|| Err(StoreError::Unavailable("redis: not sent".into()))))
            .collect()
    }

    /// What the script's answer for one event means; a new one wakes the delivery loop with
    /// `wake` (not for a blocked route's: `Work`).
    fn answer(&self, a: Result<i64, String>, wake: bool) -> Result<Accepted, StoreError> {
        match a.map_err(StoreError::Unavailable)? {
            1 => {
                if wake {
                    self.work.due();
                }
                Ok(Accepted::New)
            }
            0 => Ok(Accepted::Duplicate),
            _ => Err(StoreError::Full(
                self.max_per_shard * u64::from(self.shards),
            )),
        }
    }
}

/// Whether a group of `len` events with `bytes` of bodies takes no more: the writer's rule and
/// the drain's (`groups`).
fn full(len: usize, bytes: usize) -> bool {
    len >= MAX_GROUP || bytes >= MAX_GROUP_BYTES
}

/// `idx` (indices into `events`) cut into groups of at most `MAX_GROUP` events and about
/// `MAX_GROUP_BYTES` of bodies, each under one dedup TTL, as the writer's.
fn groups<'a>(idx: &'a [usize], events: &[NewEvent]) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (k, &i) in idx.iter().enumerate() {
        let ttl_changed = k > start && events[i].dedup_ttl != events[idx[start]].dedup_ttl;
        if k > start && (full(k - start, bytes) || ttl_changed) {
            out.push(&idx[start..k]);
            (start, bytes) = (k, 0);
        }
        bytes += events[i].body.len();
    }
    if start < idx.len() {
        out.push(&idx[start..]);
    }
    out
}

impl RedisStore {
    /// Whether `ev`'s copies may be in several shards: its route has an order key (`rehome`).
    fn ordered(&self, ev: &NewEvent) -> bool {
        self.shards > 1
            && (ev.order_key.is_some()
                || ev
                    .order_config
                    .as_deref()
                    .is_some_and(|c| c != crate::routing::UNORDERED))
    }

    fn settings(&self) -> Settings {
        Settings {
            con: self.con(),
            max_per_shard: self.max_per_shard,
            replica_acks: self.replica_acks,
            count: self.shard_count.clone(),
            rehome: self.rehome.clone(),
        }
    }

    /// Hands `job` to its shard's writer, starting one (on the connection's runtime) if there
    /// is none yet.
    fn hand_over(&self, sh: &Shard, job: Job) -> Result<(), StoreError> {
        let mut writers = lock(&self.intake);
        let job = match writers.get(sh) {
            Some(w) => match w.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.rt.spawn(run(sh.clone(), rx, self.settings()));
        tx.send(job)
            .map_err(|_| StoreError::Unavailable("redis: the intake writer stopped".into()))?;
        writers.insert(sh.clone(), tx);
        Ok(())
    }
}

#[async_trait]
impl Intake for RedisStore {
    async fn accept(&self, ev: NewEvent) -> Result<Accepted, StoreError> {
        let sh = self.home(&ev);
        let wake = !self.work.is_blocked(&ev.route);
        // The deadline covers the wait for another copy's turn and for the shard's call in
        // flight as well as its own.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let _turn = if self.ordered(&ev) {
            let turn = self.in_flight.turn(&ev.route, &ev.event_id);
            Some(
                tokio::time::timeout_at(deadline, turn)
                    .await
                    .map_err(|_| late())?,
            )
        } else {
            None
        };
        let (tx, rx) = oneshot::channel();
        self.hand_over(&sh, Job { ev, done: tx })?;
        let r = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => {
                return Err(StoreError::Unavailable(
                    "redis: the intake writer stopped".into(),
                ));
            }
            Err(_) => return Err(late()),
        };
        self.answer(Ok(r), wake)
    }
}

fn late() -> StoreError {
    StoreError::Unavailable("redis: no answer in time (store.timeout)".into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ev(body: usize, ttl_s: u64) -> NewEvent {
        NewEvent {
            route: "r".into(),
            event_id: "e".into(),
            dedup_ttl: Duration::from_secs(ttl_s),
            received_at_ms: 0,
            client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            target: String::new(),
            headers: Vec::new(),
            body: vec![b'x'; body].into(),
            order_key: None,
            order_config: None,
            verification: String::new(),
        }
    }

    /// The spill's drain cuts its events as the writer does: by count, by bytes, and where the
    /// dedup TTL changes (one per `ACCEPT` call).
    #[test]
    fn groups_are_cut_by_count_bytes_and_dedup_ttl() {
        let sizes = |events: &[NewEvent], idx: &[usize]| -> Vec<usize> {
            groups(idx, events).iter().map(|g| g.len()).collect()
        };
        let many: Vec<NewEvent> = (0..MAX_GROUP + 3).map(|_| ev(1, 60)).collect();
        let idx: Vec<usize> = (0..many.len()).collect();
        assert_eq!(sizes(&many, &idx), [MAX_GROUP, 3]);

        let big: Vec<NewEvent> = (0..3).map(|_| ev(MAX_GROUP_BYTES, 60)).collect();
        assert_eq!(sizes(&big, &[0, 1, 2]), [1, 1, 1]);

        let mixed = [ev(1, 60), ev(1, 60), ev(1, 5), ev(1, 5), ev(1, 60)];
        assert_eq!(sizes(&mixed, &[0, 1, 2, 3, 4]), [2, 2, 1]);
        // Only the events given count (a shard's share of the drain).
        assert_eq!(sizes(&mixed, &[0, 4]), [2]);
    }

    #[test]
    fn ip_text_is_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "192.0.2.1",
            "255.255.255.255",
            "10.20.0.9",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string().into_bytes());
        }
    }

    #[test]
    fn the_tail_says_where_the_verification_ends() {
        assert_eq!(tail("hmac: ok", "/a\n9"), b"8\nhmac: ok/a\n9");
        assert_eq!(tail("", ""), b"0\n");
    }
}
