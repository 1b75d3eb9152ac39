//! The in-memory index's unit tests (`index.rs`).

use std::collections::HashSet;

use super::*;

/// Event `seq` of order key `key`, queued (or `revived`) to be due at `due_ms`.
fn keyed(key: &str, seq: u64, due_ms: u64, revived: bool) -> Effect {
    Effect::Enqueued {
        route: "r".into(),
        seq,
        due_ms,
        received_ms: 1,
        revived,
        event: None,
        order_key: Some(key.into()),
    }
}

/// An index holding these (seq, due_ms) of key `k`, in this order, and no lease.
fn one_line(events: &[(u64, u64)]) -> (Index, SeqSet) {
    let mut ix = Index::default();
    let mut leases = SeqSet::default();
    for &(seq, due_ms) in events {
        ix.apply(keyed("k", seq, due_ms, false), &mut leases);
    }
    (ix, leases)
}

fn finished(seq: u64, due_ms: u64) -> Effect {
    Effect::Finished {
        route: "r".into(),
        seq,
        due_ms,
        dead: true,
    }
}

fn rescheduled(seq: u64, from_ms: u64, to_ms: u64) -> Effect {
    Effect::Rescheduled {
        route: "r".into(),
        seq,
        from_ms,
        to_ms,
    }
}

/// Every event's due time in one place: each seq in `due` at most once, a line's head
/// there unless held, the events waiting behind it not; `line_of` names exactly the
/// events in lines.
fn check(ix: &Index) {
    for r in ix.routes.values() {
        let mut seen = HashSet::new();
        for &(_, seq) in &r.due {
            assert!(seen.insert(seq), "{seq} is due twice: {:?}", r.due);
        }
        let mut members = 0;
        for (key, line) in &r.lines {
            assert_eq!(seen.contains(&line.head), !line.held, "head of {key}");
            if !line.held {
                assert_eq!(r.line_of.get(&line.head), Some(key));
                members += 1;
            }
            for (s, _) in &line.waiting {
                assert!(!seen.contains(s), "{s} waits in {key} and is due");
                assert_eq!(r.line_of.get(s), Some(key));
                members += 1;
            }
        }
        assert_eq!(r.line_of.len(), members);
    }
}

/// What `route` hands out at `now` (nothing leased), and when it looks next.
fn due_at(ix: &Index, now: u64) -> (Vec<u64>, Option<u64>) {
    let (got, next) = ix.due("r", now, 10, &SeqSet::default());
    (got.into_iter().map(|(_, s)| s).collect(), next)
}

#[test]
fn cancelling_behind_a_rescheduled_head_leaves_it_alone() {
    let (mut ix, mut leases) = one_line(&[(1, 10), (2, 10), (3, 10)]);
    ix.apply(rescheduled(1, 10, 70), &mut leases);
    // The tail, then the one right behind the head (a bulk cancel goes newest first).
    assert!(!ix.apply(finished(3, 10), &mut leases));
    check(&ix);
    assert_eq!(due_at(&ix, 20), (vec![], Some(70)));
    assert!(!ix.apply(finished(2, 10), &mut leases));
    check(&ix);
    assert_eq!(due_at(&ix, 20), (vec![], Some(70)));
    assert_eq!(due_at(&ix, 70), (vec![1], None));
    // The head, dead-lettered at its retry: the line is gone, nothing stale is left.
    assert!(!ix.apply(finished(1, 70), &mut leases));
    check(&ix);
    assert_eq!(due_at(&ix, 100), (vec![], None));
    assert!(ix.routes["r"].lines.is_empty());
    assert_eq!(ix.pending_total, 0);
}

#[test]
fn a_head_rescheduled_then_finished_hands_over_at_the_next_ones_time() {
    let (mut ix, mut leases) = one_line(&[(1, 10), (2, 15)]);
    ix.apply(rescheduled(1, 10, 40), &mut leases);
    ix.apply(rescheduled(1, 40, 90), &mut leases);
    assert!(ix.apply(finished(1, 90), &mut leases), "2 is due");
    check(&ix);
    assert_eq!(due_at(&ix, 20), (vec![2], None));
}

#[test]
fn a_head_cancelled_in_flight_holds_its_line_until_the_lease_ends() {
    let (mut ix, mut leases) = one_line(&[(1, 10), (2, 10)]);
    leases.insert(1);
    assert!(!ix.apply(finished(1, 10), &mut leases));
    check(&ix);
    assert_eq!(due_at(&ix, 20), (vec![], None), "2 waits for 1's attempt");
    // Replayed during the attempt: joins the back.
    assert!(!ix.apply(keyed("k", 1, 20, true), &mut leases));
    check(&ix);
    assert!(ix.apply(Effect::Unlease(1), &mut leases), "2 goes");
    check(&ix);
    assert_eq!(due_at(&ix, 20), (vec![2], None));
    assert!(!ix.apply(Effect::Unlease(1), &mut leases), "once");
    assert!(ix.apply(finished(2, 10), &mut leases));
    check(&ix);
    assert_eq!(due_at(&ix, 20), (vec![1], None));
    // Held again, and its replay (the only one left) cancelled meanwhile: the line ends
    // with the lease.
    leases.insert(1);
    assert!(!ix.apply(finished(1, 20), &mut leases));
    ix.apply(keyed("k", 1, 30, true), &mut leases);
    assert!(!ix.apply(finished(1, 30), &mut leases));
    check(&ix);
    assert!(!ix.unlease(1, &mut leases));
    check(&ix);
    assert!(ix.routes["r"].lines.is_empty());
    assert!(ix.held.is_empty());
}

#[test]
fn a_rebuilt_index_keeps_attempts_in_flight_first() {
    // Key k: 1 cancelled during its attempt, 2 behind it. Key j: 5 in flight, 3 (a dead
    // letter) replayed behind it.
    let (mut old, mut leases) = one_line(&[(1, 10), (2, 10)]);
    leases.extend([1, 5]);
    old.apply(finished(1, 10), &mut leases);
    // Rebuilt from disk: 2 of k, and j's line in seq order (5 was retried once, to 40).
    let (mut new, mut none) = one_line(&[(2, 10)]);
    new.apply(keyed("j", 3, 20, false), &mut none);
    new.apply(keyed("j", 5, 40, false), &mut none);
    assert_eq!(due_at(&new, 50).0, vec![2, 3]);
    new.keep_in_flight(&old, &leases);
    check(&new);
    assert_eq!(due_at(&new, 50), (vec![5], None), "2 and 3 wait");
    assert!(new.unlease(1, &mut leases), "2 goes");
    assert_eq!(due_at(&new, 50).0, vec![2, 5]);
    leases.remove(&5);
    assert!(new.apply(finished(5, 40), &mut leases));
    check(&new);
    assert_eq!(due_at(&new, 50).0, vec![2, 3]);
}

#[test]
fn due_skips_leased_and_reports_next() {
    let mut ix = Index::default();
    let mut leases = SeqSet::default();
    for (seq, due) in [(1, 10), (2, 10), (3, 50)] {
        ix.apply(
            Effect::Enqueued {
                route: "r".into(),
                seq,
                due_ms: due,
                received_ms: due,
                revived: false,
                event: None,
                order_key: None,
            },
            &mut leases,
        );
    }
    leases.insert(1);
    assert_eq!(ix.due("r", 20, 10, &leases), (vec![(10, 2)], Some(50)));
    assert_eq!(ix.due("r", 60, 1, &leases), (vec![(10, 2)], Some(60)));
    ix.apply(
        Effect::Rescheduled {
            route: "r".into(),
            seq: 2,
            from_ms: 10,
            to_ms: 70,
        },
        &mut leases,
    );
    ix.apply(
        Effect::Finished {
            route: "r".into(),
            seq: 3,
            due_ms: 50,
            dead: true,
        },
        &mut leases,
    );
    assert_eq!(ix.due("r", 60, 10, &leases), (vec![], Some(70)));
    assert_eq!((ix.pending_total, ix.routes["r"].dead), (2, 1));
}

#[test]
fn one_order_key_at_a_time() {
    let mut ix = Index::default();
    let mut leases = SeqSet::default();
    let enqueue = |seq, key: Option<&str>| Effect::Enqueued {
        route: "r".into(),
        seq,
        due_ms: 10,
        received_ms: 10,
        revived: false,
        event: None,
        order_key: key.map(String::from),
    };
    let finish = |seq| Effect::Finished {
        route: "r".into(),
        seq,
        due_ms: 10,
        dead: false,
    };
    assert!(ix.apply(enqueue(1, Some("a")), &mut leases));
    assert!(
        !ix.apply(enqueue(2, Some("a")), &mut leases),
        "waits behind 1"
    );
    assert!(ix.apply(enqueue(3, Some("b")), &mut leases));
    assert!(ix.apply(enqueue(4, None), &mut leases));
    assert!(!ix.apply(enqueue(5, Some("a")), &mut leases));
    let due = |ix: &Index| ix.due("r", 20, 10, &SeqSet::default()).0;
    assert_eq!(due(&ix), vec![(10, 1), (10, 3), (10, 4)]);
    assert_eq!(ix.pending_total, 5);
    assert!(ix.apply(finish(1), &mut leases), "2 becomes due");
    assert_eq!(due(&ix), vec![(10, 2), (10, 3), (10, 4)]);
    assert!(ix.apply(finish(2), &mut leases));
    assert!(!ix.apply(finish(5), &mut leases), "the line is empty now");
    assert_eq!(due(&ix), vec![(10, 3), (10, 4)]);
    assert!(!ix.routes["r"].lines.contains_key("a"));
    assert_eq!(ix.pending_total, 2);
}
