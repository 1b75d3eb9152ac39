//! The writer driven by hand, without its thread: several operations in one group (one `Txn`),
//! and a reopen after a write failure at a chosen moment.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Lease, Op, Writer};
use crate::config::EmbeddedMemory;
use crate::event::{NewEvent, now_ms};
use crate::store::embedded::tests::event;
use crate::store::embedded::{Shared, keys, lock};
use crate::store::record::{Phase, Record};
use crate::store::{Accepted, Outcome, StoreError, Timing};

type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

fn bare(dir: &std::path::Path) -> Writer {
    let (shared, next_seq) = Shared::open(dir, EmbeddedMemory::default()).unwrap();
    Writer::new(shared, next_seq)
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
    (Op::Purge("r".into(), id.into(), tx), rx)
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
    let h = shared(w).handles().unwrap();
    let v = h.dedup.get(keys::dedup("r", id)).unwrap()?;
    keys::parse_dedup_value(&v).map(|(seq, _)| seq)
}

fn record(w: &Writer, seq: u64) -> Option<Record> {
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
