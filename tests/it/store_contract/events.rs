//! The contract of the events API's store operations: listing with filters and a cursor, an
//! event's detail and attempt history, cancelling and purging — on both stores.

use std::time::Duration;

use hookgate::event::{NewEvent, now_ms};
use hookgate::store::{
    Accepted, DeadAct, EventFilter, Outcome, State, StateClass, StatusFilter, Store, StoreError,
    Timing,
};

use super::{
    DELIVERED, HOUR, Kind, accept, contract, dead, event, lease_n, lease_none, open, routes,
    state_of,
};

fn retry(status: Option<u16>, error: &str, in_ms: u64) -> Outcome {
    Outcome::Retry {
        at_ms: now_ms() + in_ms,
        error: error.into(),
        status,
    }
}

/// Accepts `id`, a few milliseconds after the previous one (distinct received times).
async fn accept_apart(s: &dyn Store, route: &str, id: &str) -> u64 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let ev = event(route, id, HOUR);
    let at = ev.received_at_ms;
    assert_eq!(s.accept(ev).await.unwrap(), Accepted::New);
    at
}

async fn ids(s: &dyn Store, f: &EventFilter) -> Vec<String> {
    let page = s.list(f, None, 100).await.unwrap();
    assert!(page.next.is_none(), "one page holds them all");
    page.items.into_iter().map(|v| v.event_id).collect()
}

fn all(r: &[&str]) -> EventFilter {
    EventFilter {
        routes: routes(r),
        ..EventFilter::default()
    }
}

/// Finishes the one leasable event `id` of `route` with `outcome`.
async fn finish(s: &dyn Store, route: &str, id: &str, outcome: Outcome) {
    let ev = lease_n(s, route, 1).await.remove(0);
    assert_eq!(ev.event_id, id);
    s.complete(&ev, outcome).await.unwrap();
}

async fn list_filters_and_cursor(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    accept_apart(s, "r", "ev-1").await;
    finish(s, "r", "ev-1", DELIVERED).await;
    accept_apart(s, "r", "ev-2").await;
    finish(s, "r", "ev-2", dead("HTTP 400")).await;
    let t3 = accept_apart(s, "r", "ev-3").await;
    finish(s, "r", "ev-3", retry(Some(503), "HTTP 503", 3_600_000)).await;
    let t4 = accept_apart(s, "r", "ev-4").await;
    finish(s, "r", "ev-4", retry(None, "connect failed", 3_600_000)).await;
    accept_apart(s, "r", "ev-5").await;
    accept_apart(s, "r2", "ev-6").await;

    let newest_first = ["ev-6", "ev-5", "ev-4", "ev-3", "ev-2", "ev-1"];
    assert_eq!(ids(s, &all(&["r", "r2"])).await, newest_first);
    assert_eq!(ids(s, &all(&["r"])).await, newest_first[1..]);
    let with = |f: EventFilter| EventFilter {
        routes: routes(&["r", "r2"]),
        ..f
    };
    let state = |st: &[StateClass]| {
        with(EventFilter {
            states: st.to_vec(),
            ..EventFilter::default()
        })
    };
    assert_eq!(ids(s, &state(&[StateClass::Dead])).await, ["ev-2"]);
    assert_eq!(ids(s, &state(&[StateClass::Delivered])).await, ["ev-1"]);
    assert_eq!(
        ids(s, &state(&[StateClass::Pending])).await,
        ["ev-6", "ev-5", "ev-4", "ev-3"]
    );
    assert_eq!(
        ids(s, &state(&[StateClass::Dead, StateClass::Delivered])).await,
        ["ev-2", "ev-1"]
    );
    let status = |f: StatusFilter| {
        with(EventFilter {
            status: Some(f),
            ..EventFilter::default()
        })
    };
    assert_eq!(ids(s, &status(StatusFilter::Code(400))).await, ["ev-2"]);
    assert_eq!(ids(s, &status(StatusFilter::Class(5))).await, ["ev-3"]);
    assert_eq!(ids(s, &status(StatusFilter::Class(2))).await, ["ev-1"]);
    assert_eq!(ids(s, &status(StatusFilter::Error)).await, ["ev-4"]);
    let q = with(EventFilter {
        q: Some("-5".into()),
        ..EventFilter::default()
    });
    assert_eq!(ids(s, &q).await, ["ev-5"]);
    let range = with(EventFilter {
        since_ms: Some(t3),
        until_ms: Some(t4),
        ..EventFilter::default()
    });
    assert_eq!(ids(s, &range).await, ["ev-4", "ev-3"]);

    // Pages of two: each event once, in order; the cursor holds across changes in between.
    let f = all(&["r", "r2"]);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for round in 0..10 {
        let page = s.list(&f, after.as_deref(), 2).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|v| v.event_id));
        if round == 0 {
            accept_apart(s, "r", "ev-7").await;
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, newest_first, "a newer event is not in older pages");
    assert!(matches!(
        s.list(&f, Some("garbage!"), 2).await,
        Err(StoreError::BadCursor(_))
    ));
    let views = s.list(&all(&["r"]), None, 1).await.unwrap().items;
    assert_eq!(views[0].event_id, "ev-7");
    assert_eq!(views[0].body_bytes, 7);
}

async fn detail_and_attempt_history(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let sent = event("r", "d1", HOUR);
    accept(s, "r", "d1", HOUR).await;
    let ev = lease_n(s, "r", 1).await.remove(0);
    let timing = Timing {
        started_ms: 1_000,
        duration_ms: 25,
    };
    // Still scheduled when read back below, however loaded the machine.
    let at = now_ms() + 1000;
    let outcome = Outcome::Retry {
        at_ms: at,
        error: "HTTP 503 Service Unavailable\nbusy".into(),
        status: Some(503),
    };
    s.complete_timed(&ev, outcome, timing).await.unwrap();
    let d = s.detail(&routes(&["r"]), "d1").await.unwrap().remove(0);
    assert_eq!(d.view.state, State::Scheduled);
    assert_eq!(d.headers, sent.headers);
    assert_eq!(d.body.as_deref(), Some(&sent.body[..]));
    assert_eq!(
        (d.client_ip.as_str(), d.target.as_str()),
        ("192.0.2.1", "/x?y=1")
    );
    assert_eq!(d.verification, "hmac: verified");
    assert_eq!(d.history.len(), 1);
    let a = &d.history[0];
    assert_eq!((a.at_ms, a.duration_ms, a.status), (1_000, 25, Some(503)));
    assert_eq!(a.error.as_deref(), Some("HTTP 503 Service Unavailablebusy"));
    assert_eq!(a.next_attempt_at_ms, Some(at));

    let ev = lease_n(s, "r", 1).await.remove(0);
    s.complete(&ev, DELIVERED).await.unwrap();
    let d = s.detail(&routes(&["r"]), "d1").await.unwrap().remove(0);
    assert_eq!(d.view.state, State::Delivered);
    assert_eq!(
        d.view.last_error, None,
        "delivered: the old error is history"
    );
    assert_eq!(d.body, None, "a delivered event keeps no body");
    assert!(d.headers.is_empty());
    assert_eq!(d.history.len(), 2);
    assert_eq!(
        (d.history[1].status, d.history[1].error.as_deref()),
        (Some(200), None)
    );
    assert!(s.detail(&routes(&["r"]), "nope").await.unwrap().is_empty());

    // Bounded: the last 20 attempts.
    accept(s, "r", "many", HOUR).await;
    for i in 0..22u64 {
        let ev = lease_n(s, "r", 1).await.remove(0);
        let t = Timing {
            started_ms: i,
            duration_ms: 1,
        };
        s.complete_timed(&ev, retry(Some(500), "HTTP 500", 0), t)
            .await
            .unwrap();
    }
    let d = s.detail(&routes(&["r"]), "many").await.unwrap().remove(0);
    assert_eq!(d.view.attempts, 22);
    let at: Vec<u64> = d.history.iter().map(|a| a.at_ms).collect();
    assert_eq!(at, (2..22).collect::<Vec<u64>>());
}

async fn cancel_and_purge(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    accept(s, "r", "a", HOUR).await;
    let keyed = |id: &str| NewEvent {
        order_key: Some("k".into()),
        order_config: None,
        ..event("r", id, HOUR)
    };
    s.accept(keyed("b")).await.unwrap();
    s.accept(keyed("c")).await.unwrap();
    assert!(s.cancel("r", "a").await.unwrap());
    let v = &s.find(&routes(&["r"]), "a").await.unwrap()[0];
    assert_eq!(v.state, State::Dead);
    assert_eq!(v.last_error.as_deref(), Some("cancelled by operator"));
    assert!(!s.cancel("r", "a").await.unwrap(), "not pending any more");
    assert!(!s.cancel("r", "nope").await.unwrap());
    // The head of an order key's line cancelled: the next one goes out.
    assert!(s.cancel("r", "b").await.unwrap());
    let c = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(c.event_id, "c");
    lease_none(s, "r", Duration::from_millis(300)).await;
    // In flight when cancelled: its outcome is not recorded.
    assert!(s.cancel("r", "c").await.unwrap());
    s.complete(&c, DELIVERED).await.unwrap();
    assert_eq!(state_of(s, "r", "c").await, Some(State::Dead));
    let stats = s.stats(&routes(&["r"])).await.unwrap();
    assert_eq!((stats[0].dead, stats[0].pending), (3, 0));

    assert!(s.purge("r", "a").await.unwrap());
    assert!(!s.purge("r", "a").await.unwrap());
    assert!(s.find(&routes(&["r"]), "a").await.unwrap().is_empty());
    assert_eq!(ids(s, &all(&["r"])).await, ["c", "b"]);
    assert_eq!(s.stats(&routes(&["r"])).await.unwrap()[0].dead, 2);
    assert_eq!(accept(s, "r", "a", HOUR).await, Accepted::New, "forgotten");
    assert!(!s.purge("r", "a").await.unwrap(), "pending is not purged");
    // A replayed cancelled event is delivered as usual.
    assert_eq!(
        s.replay("r", "c").await.unwrap(),
        hookgate::store::Replay::Replayed
    );
    let got = lease_n(s, "r", 2).await;
    assert!(got.iter().any(|e| e.event_id == "c"));
}

async fn listing_forgets_expired_events(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    // Long enough for the accepts and the delivery below in a loaded test run.
    let ttl = Duration::from_millis(2000);
    assert_eq!(accept(s, "r", "short", ttl).await, Accepted::New);
    finish(s, "r", "short", DELIVERED).await;
    accept(s, "r", "kept", HOUR).await;
    assert_eq!(ids(s, &all(&["r"])).await, ["kept", "short"]);
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    s.housekeeping(&routes(&["r"]), now_ms()).await.unwrap();
    if let Some(redis) = &sub._redis {
        // Swept by housekeeping, not only skipped when listed: the listing stays bounded.
        let held: u64 = (0..2)
            .map(|i| {
                redis
                    .cli(&["ZCARD", &format!("hg:{{r:{i}}}:t")])
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(held, 1);
    }
    assert_eq!(ids(s, &all(&["r"])).await, ["kept"]);
}

/// A dead letter whose ID was accepted again after its window (Redis moves it aside) is
/// purged by ID like any other, and forgotten: before, with Redis it stayed listed for good.
async fn a_dead_copy_of_an_id_accepted_again_is_purged(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let ttl = Duration::from_millis(200);
    accept(s, "r", "x", ttl).await;
    finish(s, "r", "x", dead("old")).await;
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(accept(s, "r", "x", HOUR).await, Accepted::New);
    finish(s, "r", "x", DELIVERED).await;
    let r = routes(&["r"]);
    assert_eq!(s.dead_letters(&r, None, 10).await.unwrap().items.len(), 1);
    assert!(s.purge("r", "x").await.unwrap());
    assert!(s.dead_letters(&r, None, 10).await.unwrap().items.is_empty());
    assert_eq!(s.stats(&r).await.unwrap()[0].dead, 0);
    assert!(!s.purge("r", "x").await.unwrap(), "nothing dead left");
    assert_eq!(
        state_of(s, "r", "x").await,
        Some(State::Delivered),
        "the delivered copy stays"
    );
}

/// Two dead copies of an ID (the older moved aside by Redis), and a third copy pending: a
/// bulk purge (the listing's dead letters by copy, then those the listing does not show) takes
/// exactly the copies its filter takes, on both stores.
async fn a_bulk_purge_takes_every_dead_copy_its_filter_takes(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let ttl = Duration::from_millis(200);
    let past = ttl + Duration::from_millis(200);
    accept(s, "r", "x", ttl).await;
    finish(s, "r", "x", dead("old")).await;
    tokio::time::sleep(past).await;
    let mid = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    accept(s, "r", "x", ttl).await;
    finish(s, "r", "x", dead("new")).await;
    let r = routes(&["r"]);
    let errors = async || -> Vec<String> {
        let page = s.dead_letters(&r, None, 10).await.unwrap();
        let mut e: Vec<String> = page
            .items
            .into_iter()
            .filter_map(|v| v.last_error)
            .collect();
        e.sort();
        e
    };
    assert_eq!(errors().await, ["new", "old"]);
    let purge = async |f: &EventFilter| -> u64 {
        let mut n = 0;
        for v in s.list(f, None, 100).await.unwrap().items {
            n += u64::from(s.purge_listed(&v).await.unwrap());
        }
        let mut after = None;
        loop {
            let b = s
                .aside_batch(DeadAct::Purge, f, after.as_deref(), 1)
                .await
                .unwrap();
            n += b.acted;
            match b.next {
                Some(c) => after = Some(c),
                None => return n,
            }
        }
    };
    let dead_until_mid = EventFilter {
        states: vec![StateClass::Dead],
        until_ms: Some(mid),
        ..all(&["r"])
    };
    assert_eq!(purge(&dead_until_mid).await, 1);
    assert_eq!(errors().await, ["new"], "the copy the filter took");
    // A dead copy is purged by ID while a newer copy of its ID waits.
    tokio::time::sleep(past).await;
    assert_eq!(accept(s, "r", "x", HOUR).await, Accepted::New);
    assert!(s.purge("r", "x").await.unwrap());
    assert!(errors().await.is_empty());
    assert_eq!(state_of(s, "r", "x").await, Some(State::Pending));
    assert_eq!(purge(&all(&["r"])).await, 0, "pending is not purged");
}

contract!(
    a_bulk_purge_takes_every_dead_copy_its_filter_takes,
    list_filters_and_cursor,
    detail_and_attempt_history,
    cancel_and_purge,
    listing_forgets_expired_events,
    a_dead_copy_of_an_id_accepted_again_is_purged,
);
