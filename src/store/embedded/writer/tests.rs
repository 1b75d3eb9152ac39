//! The writer driven by hand, without its thread: several operations in one group (one `Txn`),
//! and a reopen after a write failure at a chosen moment.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Lease, Letter, Op, Writer};
use crate::config::EmbeddedMemory;
use crate::event::{NewEvent, now_ms};
use crate::store::embedded::tests::event;
use crate::store::embedded::{Shared, keys, lock};
use crate::store::record::{Phase, Record};
use crate::store::{Accepted, Outcome, Replay, StoreError, Timing};

type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

fn bare(dir: &std::path::Path) -> Writer {
    let (shared, next_seq, log) = Shared::open(dir, EmbeddedMemory::default()).unwrap();
    Writer::new(shared, next_seq, log)
}

const HOUR: Duration = Duration::from_secs(3600);

fn accept(ev: NewEvent) -> (Op, Reply<Accepted>) {
    let (tx, rx) = oneshot::channel();
    (Op::Accept(ev, tx), rx)
}

fn cancel(id: &str) -> (Op, Reply<bool>) {
    let (tx, rx) = oneshot::channel();
    (Op::Cancel("r".into(), id.into(), tx), rx)
}

fn purge(id: &str) -> (Op, Reply<bool>) {
    let (tx, rx) = oneshot::channel();
    (
        Op::Purge("r".into(), id.into(), Letter::Id { found: None }, tx),
        rx,
    )
}

fn complete(seq: u64, outcome: Outcome) -> (Op, Reply<()>) {
    let (tx, rx) = oneshot::channel();
    let lease = Lease {
        seq,
        attempts: 0,
        replays: 0,
    };
    let timing = Timing {
        started_ms: now_ms(),
        duration_ms: 1,
    };
    (Op::Complete(lease, outcome, timing, tx), rx)
}

/// Commits `ops` as one group.
fn group(w: &mut Writer, ops: Vec<Op>) {
    let mut ops = ops;
    w.commit_group(&mut ops);
}

fn answer<T: std::fmt::Debug>(mut rx: Reply<T>) -> T {
    rx.try_recv().unwrap().unwrap()
}

fn shared(w: &Writer) -> &Shared {
    &w.shared
}

/// The seq `dedup` points at for `id`.
fn seq_of(w: &Writer, id: &str) -> Option<u64> {
    if let Some((seq, _)) = lock(&shared(w).log).owner(&keys::dedup("r", id)) {
        return Some(seq);
    }
    let h = shared(w).handles().unwrap();
    let v = h.dedup.get(keys::dedup("r", id)).unwrap()?;
    keys::parse_dedup_value(&v).map(|(seq, _)| seq)
}

fn record(w: &Writer, seq: u64) -> Option<Record> {
    if let Some(loc) = lock(&shared(w).log).loc(seq) {
        return Some(Record::decode(&loc.read().unwrap()).unwrap());
    }
    let h = shared(w).handles().unwrap();
    h.events
        .get(keys::event(seq))
        .unwrap()
        .map(|v| Record::decode(&v).unwrap())
}

/// Breaks the store down as a failed write does, and lets it reopen.
fn fail_and_reopen(w: &mut Writer) {
    let (_tx, mut rx) = mpsc::channel(1);
    w.break_down("test: a write failed", 0);
    while w.broken.is_some() {
        assert!(w.heal(&mut rx));
    }
}

/// An attempt in flight across a reopen: its event, cancelled and purged meanwhile, was the
/// newest. The next event must not take its seq, or that attempt's outcome lands on it.
#[test]
fn a_lease_held_across_a_reopen_never_reaches_a_newer_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = bare(dir.path());
    let (op, rx) = accept(event("r", "a", HOUR));
    group(&mut w, vec![op]);
    assert_eq!(answer(rx), Accepted::New);
    let a = seq_of(&w, "a").unwrap();
    // Leased (its attempt in flight), then cancelled and purged.
    lock(&shared(&w).leases).insert(a);
    let (op, rx) = cancel("a");
    group(&mut w, vec![op]);
    assert!(answer(rx));
    let (op, rx) = purge("a");
    group(&mut w, vec![op]);
    assert!(answer(rx));
    fail_and_reopen(&mut w);
    let (op, rx) = accept(event("r", "x", HOUR));
    group(&mut w, vec![op]);
    assert_eq!(answer(rx), Accepted::New);
    let x = seq_of(&w, "x").unwrap();
    // The attempt of "a" ends.
    let (op, rx) = complete(a, Outcome::Delivered { status: 200 });
    group(&mut w, vec![op]);
    answer(rx);
    assert_eq!(
        record(&w, x).map(|r| r.phase),
        Some(Phase::Pending),
        "x was never delivered: the outcome of a's attempt is not x's"
    );
    assert_ne!(x, a, "a seq in use (leased) was given to a new event");
}

fn replay(id: &str) -> (Op, Reply<Replay>) {
    let (tx, rx) = oneshot::channel();
    (
        Op::Replay("r".into(), id.into(), Letter::Id { found: None }, tx),
        rx,
    )
}

fn replay_all() -> (Op, Reply<(u64, Option<String>)>) {
    let (tx, rx) = oneshot::channel();
    (Op::ReplayBatch(vec!["r".into()], None, 100, tx), rx)
}

/// An operation on "a" and how to read its answer.
type Follow = fn() -> (Op, Box<dyn FnOnce() -> String>);

fn shown<T: std::fmt::Debug + 'static>(
    (op, rx): (Op, Reply<T>),
) -> (Op, Box<dyn FnOnce() -> String>) {
    (op, Box::new(move || format!("{:?}", answer(rx))))
}

/// "a" is a dead letter past its window; a new copy of it is accepted, and `then` follows,
/// in the same group or the next. What `then` answered, and where each copy of "a" is.
fn accept_then(together: bool, then: Follow) -> (String, Option<u64>, Vec<Option<Phase>>) {
    let dir = tempfile::tempdir().unwrap();
    let mut w = bare(dir.path());
    let (op, rx) = accept(event("r", "a", Duration::from_millis(1)));
    group(&mut w, vec![op]);
    assert_eq!(answer(rx), Accepted::New);
    let old = seq_of(&w, "a").unwrap();
    let (op, rx) = complete(
        old,
        Outcome::Dead {
            error: "x".into(),
            status: None,
        },
    );
    group(&mut w, vec![op]);
    answer(rx);
    std::thread::sleep(Duration::from_millis(5));
    let (new, new_rx) = accept(event("r", "a", HOUR));
    let (op, read) = then();
    if together {
        group(&mut w, vec![new, op]);
    } else {
        group(&mut w, vec![new]);
        group(&mut w, vec![op]);
    }
    assert_eq!(answer(new_rx), Accepted::New);
    let phases = (old..old + 2)
        .map(|seq| record(&w, seq).map(|r| r.phase))
        .collect();
    (read(), seq_of(&w, "a"), phases)
}

/// A group acts as its operations one after another: one that follows an accept in the same
/// group sees the new event (it is in the group's overlay), so a replay of an older dead copy
/// is `not_dead` there too, and a cancel finds the new copy.
#[test]
fn an_operation_after_an_accept_in_its_group_sees_the_new_event() {
    let follows: [(&str, Follow); 4] = [
        ("replay", || shown(replay("a"))),
        ("replay all", || shown(replay_all())),
        ("cancel", || shown(cancel("a"))),
        ("purge", || shown(purge("a"))),
    ];
    let differ: Vec<String> = follows
        .into_iter()
        .filter_map(|(name, then)| {
            let apart = accept_then(false, then);
            let together = accept_then(true, then);
            (together != apart).then(|| format!("{name}: {together:?}, apart {apart:?}"))
        })
        .collect();
    assert!(differ.is_empty(), "in the accept's group: {differ:#?}");
}

/// The sealing thread's ask to hand memory back (`Op::Collect`) is not an operation of the
/// group it lands in: those around it are answered, and the writer goes on. Memory is handed
/// back once per group that asked, never after a group that did not (it purges every freed
/// page: the writer once did it after each group).
#[test]
fn a_collect_between_operations_leaves_them_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let w = bare(dir.path());
    let (tx, rx) = mpsc::channel(16);
    let (a, ra) = accept(event("r", "c1", HOUR));
    let (b, rb) = accept(event("r", "c2", HOUR));
    // Queued before the writer starts: one group.
    for op in [a, Op::Collect, b, Op::Collect] {
        tx.try_send(op).unwrap_or_else(|_| panic!("queue full"));
    }
    let writer = std::thread::spawn(move || {
        w.run(rx);
        crate::alloc::releases_here()
    });
    assert_eq!(ra.blocking_recv().unwrap().unwrap(), Accepted::New);
    assert_eq!(rb.blocking_recv().unwrap().unwrap(), Accepted::New);
    // Groups that did not ask.
    for id in ["c3", "c4"] {
        let (c, rc) = accept(event("r", id, HOUR));
        tx.try_send(c).unwrap_or_else(|_| panic!("queue full"));
        assert_eq!(rc.blocking_recv().unwrap().unwrap(), Accepted::New);
    }
    // A Collect alone, then another accept (in its group or the next): still served.
    tx.try_send(Op::Collect)
        .unwrap_or_else(|_| panic!("queue full"));
    let (c, rc) = accept(event("r", "c1", HOUR));
    tx.try_send(c).unwrap_or_else(|_| panic!("queue full"));
    assert_eq!(rc.blocking_recv().unwrap().unwrap(), Accepted::Duplicate);
    drop(tx);
    assert_eq!(writer.join().unwrap(), 2, "once per group that asked");
}

/// The writer's clock never runs back: with the wall clock stepped back (NTP, a VM resumed)
/// since its last operation, a new event is due no earlier than that operation's time, so it is
/// handed out after the events accepted before the step (the spill forwards an order key's
/// events in that order).
#[test]
fn events_accepted_after_the_wall_clock_stepped_back_are_handed_out_after_the_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = bare(dir.path());
    let (op, rx) = accept(event("r", "first", HOUR));
    group(&mut w, vec![op]);
    assert_eq!(answer(rx), Accepted::New);
    // The wall clock now reads a minute earlier than when `first` was taken.
    let first_due = lock(&shared(&w).index)
        .due("r", u64::MAX, 10, &Default::default())
        .0[0]
        .0;
    w.clock = first_due + 60_000;
    let stepped = w.clock;
    let (op, rx) = accept(event("r", "second", HOUR));
    group(&mut w, vec![op]);
    assert_eq!(answer(rx), Accepted::New);
    let due = lock(&shared(&w).index)
        .due("r", u64::MAX, 10, &Default::default())
        .0;
    let second = seq_of(&w, "second").unwrap();
    assert_eq!(due.last().map(|&(_, seq)| seq), Some(second));
    assert!(
        due.iter().all(|&(at, seq)| seq != second || at >= stepped),
        "{due:?}"
    );
}

fn purge_found(id: &str, found: Option<u64>) -> (Op, Reply<bool>) {
    let (tx, rx) = oneshot::channel();
    (
        Op::Purge("r".into(), id.into(), Letter::Id { found }, tx),
        rx,
    )
}

/// A dead copy of an ID that `dedup` does not point at is found off the writer (a scan of the
/// route's dead letters); the writer only re-checks what it is handed, so that no intake waits
/// behind the scan. Handed nothing, it finds nothing: it did not scan.
#[test]
fn the_writer_acts_on_the_dead_copy_found_off_it_and_scans_for_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = bare(dir.path());
    let (op, rx) = accept(event("r", "a", Duration::from_millis(1)));
    group(&mut w, vec![op]);
    answer(rx);
    let old = seq_of(&w, "a").unwrap();
    let dead = Outcome::Dead {
        error: "x".into(),
        status: None,
    };
    let (op, rx) = complete(old, dead);
    group(&mut w, vec![op]);
    answer(rx);
    std::thread::sleep(Duration::from_millis(5));
    let (op, rx) = accept(event("r", "a", HOUR));
    group(&mut w, vec![op]);
    assert_eq!(answer(rx), Accepted::New);
    // `dedup` points at the new, pending copy: the old dead one only a scan finds.
    let (op, rx) = purge_found("a", None);
    group(&mut w, vec![op]);
    assert!(!answer(rx), "the writer scanned for the dead copy");
    let (op, rx) = purge_found("a", Some(old));
    group(&mut w, vec![op]);
    assert!(answer(rx), "the copy found off the writer is purged");
    assert!(record(&w, old).is_none());
    // Found before a purge of it: re-checked, nothing left to purge.
    let (op, rx) = purge_found("a", Some(old));
    group(&mut w, vec![op]);
    assert!(!answer(rx));
    assert_eq!(
        record(&w, seq_of(&w, "a").unwrap()).map(|r| r.phase),
        Some(Phase::Pending)
    );
}
