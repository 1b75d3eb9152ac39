//! Unit tests of the rate limiter (a fake clock).

use super::*;
use governor::clock::FakeRelativeClock;

fn rate(count: u32, secs: u64) -> Rate {
    Rate {
        count,
        per: Duration::from_secs(secs),
    }
}

fn per_ip(r: Rate) -> RateSpec {
    RateSpec {
        shared: false,
        per_ip: Some(r),
        per_route: None,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(n.into())
}

fn limits() -> (RateLimits<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (RateLimits::with_clock(clock.clone()), clock)
}

fn allowed(d: &Decision) -> bool {
    matches!(d, Decision::Allowed(_))
}

fn count_allowed(l: &RateLimits<FakeRelativeClock>, spec: &RateSpec, ips: &[IpAddr]) -> usize {
    ips.iter()
        .filter(|a| allowed(&l.check("r", spec, **a)))
        .count()
}

#[test]
fn locoia_300_per_5m() {
    let (l, _clock) = limits();
    let spec = per_ip(rate(300, 300));
    let a = ip("203.0.113.7");
    for _ in 0..300 {
        assert!(allowed(&l.check("r", &spec, a)));
    }
    let d = l.check("r", &spec, a);
    let Decision::Limited {
        retry_after,
        headers,
    } = &d
    else {
        panic!("301st not limited: {d:?}");
    };
    assert!(*retry_after >= Duration::from_secs(1) && *retry_after <= Duration::from_secs(300));
    assert_eq!(*retry_after, Duration::from_secs(1)); // one token a second
    assert_eq!(d.retry_after_secs(), Some(1));
    assert_eq!(headers.remaining, 0);
    assert_eq!(headers.reset_secs, 1);
    assert!(allowed(&l.check("r", &spec, ip("203.0.113.8"))));
}

#[test]
fn tokens_refill() {
    let (l, clock) = limits();
    let spec = per_ip(rate(300, 300));
    let a = ip("198.51.100.1");
    assert_eq!(count_allowed(&l, &spec, &[a; 301]), 300);
    clock.advance(Duration::from_millis(999));
    assert!(!allowed(&l.check("r", &spec, a)));
    clock.advance(Duration::from_millis(1));
    assert!(allowed(&l.check("r", &spec, a)));
    assert!(!allowed(&l.check("r", &spec, a)));
    clock.advance(Duration::from_secs(300));
    assert_eq!(count_allowed(&l, &spec, &[a; 301]), 300);
}

#[test]
fn retry_after_bounds() {
    let (l, _clock) = limits();
    // One token per 10 s: the wait is the whole window, not more.
    let spec = per_ip(rate(1, 10));
    assert!(allowed(&l.check("r", &spec, v4(1))));
    let d = l.check("r", &spec, v4(1));
    assert_eq!(d.retry_after_secs(), Some(10));
    // 5000/1s: 200 µs to wait, sent as 1 s, never 0.
    let spec = per_ip(rate(5000, 1));
    assert_eq!(count_allowed(&l, &spec, &vec![v4(2); 5001]), 5000);
    let d = l.check("r", &spec, v4(2));
    let Decision::Limited { retry_after, .. } = d else {
        panic!("not limited: {d:?}");
    };
    assert_eq!(retry_after, Duration::from_micros(200));
    assert_eq!(d.retry_after_secs(), Some(1));
    assert_eq!(Decision::Unlimited.retry_after_secs(), None);
}

#[test]
fn per_route_caps_all_ips_together() {
    let (l, _clock) = limits();
    let spec = RateSpec {
        shared: false,
        per_ip: None,
        per_route: Some(rate(5, 1)),
    };
    let ips: Vec<IpAddr> = (1..=10).map(v4).collect();
    assert_eq!(count_allowed(&l, &spec, &ips), 5);
    assert_eq!(l.tracked_keys(), 0);
}

#[test]
fn abusive_ip_does_not_drain_route_bucket() {
    let (l, _clock) = limits();
    let spec = RateSpec {
        shared: false,
        per_ip: Some(rate(2, 60)),
        per_route: Some(rate(5, 60)),
    };
    assert_eq!(count_allowed(&l, &spec, &[v4(1); 10]), 2);
    let others: Vec<IpAddr> = (2..=10).map(v4).collect();
    assert_eq!(count_allowed(&l, &spec, &others), 3);
    // Refused by the route bucket: its headers.
    let d = l.check("r", &spec, v4(11));
    assert_eq!(d.headers().map(|h| h.limit), Some(5));
    assert_eq!(d.retry_after_secs(), Some(12));
}

#[test]
fn headers_count_down() {
    let (l, _clock) = limits();
    let spec = per_ip(rate(300, 300));
    for n in 1..=300u32 {
        let d = l.check("r", &spec, v4(1));
        let Decision::Allowed(h) = d else {
            panic!("request {n} refused");
        };
        assert_eq!(h.limit, 300);
        assert_eq!(h.remaining, 300 - n);
        assert_eq!(h.reset_secs, u64::from(n)); // full again after n seconds
        assert_eq!(&*h.policy, "300;w=300");
    }
    let Decision::Allowed(h) = l.check("r", &per_ip(rate(10, 60)), v4(1)) else {
        panic!("refused");
    };
    assert_eq!(
        h.pairs(),
        [
            ("RateLimit-Limit", "10".to_owned()),
            ("RateLimit-Remaining", "9".to_owned()),
            ("RateLimit-Reset", "6".to_owned()),
            ("RateLimit-Policy", "10;w=60".to_owned()),
        ]
    );
}

#[test]
fn headers_of_tighter_bucket() {
    let (l, _clock) = limits();
    let spec = RateSpec {
        shared: false,
        per_ip: Some(rate(300, 300)),
        per_route: Some(rate(5, 1)),
    };
    let d = l.check("r", &spec, v4(1));
    let h = d.headers().unwrap();
    assert_eq!((h.limit, h.remaining, &*h.policy), (5, 4, "5;w=1"));
    let spec = RateSpec {
        shared: false,
        per_ip: Some(rate(3, 60)),
        per_route: Some(rate(5000, 1)),
    };
    let d = l.check("s", &spec, v4(1));
    let h = d.headers().unwrap();
    assert_eq!((h.limit, h.remaining, &*h.policy), (3, 2, "3;w=60"));
}

#[test]
fn ipv6_keyed_by_slash_64() {
    let (l, _clock) = limits();
    let spec = per_ip(rate(2, 60));
    let same = [
        ip("2001:db8:1:2::1"),
        ip("2001:db8:1:2:ffff:ffff:ffff:ffff"),
    ];
    assert_eq!(count_allowed(&l, &spec, &same), 2);
    assert!(!allowed(&l.check("r", &spec, ip("2001:db8:1:2::99"))));
    assert!(allowed(&l.check("r", &spec, ip("2001:db8:1:3::1"))));
    assert_eq!(l.tracked_keys(), 2);
}

#[test]
fn mapped_ipv4_is_ipv4() {
    let (l, _clock) = limits();
    let spec = per_ip(rate(2, 60));
    assert!(allowed(&l.check("r", &spec, ip("192.0.2.1"))));
    assert!(allowed(&l.check("r", &spec, ip("::ffff:192.0.2.1"))));
    assert!(!allowed(&l.check("r", &spec, ip("192.0.2.1"))));
    assert_eq!(l.tracked_keys(), 1);
    assert_eq!(ip_key(ip("::ffff:192.0.2.1")), ip_key(ip("192.0.2.1")));
    assert_ne!(ip_key(ip("::192.0.2.1")), ip_key(ip("192.0.2.1")));
}

#[test]
fn reload_keeps_unchanged_and_resets_changed() {
    let (l, _clock) = limits();
    let old = RateSpec {
        shared: false,
        per_ip: Some(rate(2, 60)),
        per_route: Some(rate(100, 60)),
    };
    assert_eq!(count_allowed(&l, &old, &[v4(1); 3]), 2);
    // Unchanged spec (e.g. another route edited): still exhausted.
    assert!(!allowed(&l.check("r", &old, v4(1))));
    // Only per_route changed: the per-IP buckets survive.
    let route_changed = RateSpec {
        per_route: Some(rate(200, 60)),
        ..old
    };
    assert!(!allowed(&l.check("r", &route_changed, v4(1))));
    // per_ip changed: fresh buckets.
    let ip_changed = RateSpec {
        shared: false,
        per_ip: Some(rate(3, 60)),
        ..route_changed
    };
    assert_eq!(count_allowed(&l, &ip_changed, &[v4(1); 4]), 3);
    // The (new, 200/60s) route bucket was kept through that per-IP change: it has counted
    // the 3 requests above, the next one, and this test's own check.
    let d = l.check("r", &ip_changed, v4(2));
    assert_eq!(d.headers().map(|h| h.limit), Some(3));
    let Some(limiter) = l.routes.load().get("r").cloned() else {
        panic!("route gone");
    };
    let Some(route_bucket) = &limiter.per_route else {
        panic!("no route bucket");
    };
    let Decision::Allowed(h) = route_bucket.check() else {
        panic!("route bucket refused");
    };
    assert_eq!(h.remaining, 200 - 5);
}

#[test]
fn housekeeping_drops_idle_keys_and_removed_routes() {
    let (l, clock) = limits();
    let spec = per_ip(rate(300, 300));
    let ips: Vec<IpAddr> = (1..=10).map(v4).collect();
    assert_eq!(count_allowed(&l, &spec, &ips), 10);
    assert!(allowed(&l.check("gone", &spec, v4(1))));
    assert!(allowed(&l.check("slow", &per_ip(rate(1, 60)), v4(1))));
    assert_eq!(l.tracked_keys(), 12);
    l.housekeeping(&["r", "slow"]);
    assert_eq!(l.tracked_keys(), 11, "a removed route's keys go with it");
    assert!(!l.routes.load().contains_key("gone"));
    // Idle once the bucket has been full again for one token interval.
    clock.advance(Duration::from_secs(3));
    l.housekeeping(&["r", "slow"]);
    assert_eq!(l.tracked_keys(), 1, "1/60s: refilled only after a minute");
    clock.advance(Duration::from_secs(120));
    l.housekeeping(&["r", "slow"]);
    assert_eq!(l.tracked_keys(), 0);
    l.housekeeping(&[]);
    assert!(l.routes.load().is_empty());
}

#[test]
fn removed_route_starts_fresh() {
    let (l, _clock) = limits();
    let spec = per_ip(rate(1, 3600));
    assert_eq!(count_allowed(&l, &spec, &[v4(1); 2]), 1);
    l.housekeeping(&["other"]);
    assert!(allowed(&l.check("r", &spec, v4(1))));
}

#[test]
fn key_cap_overflows_into_shared_bucket() {
    let (mut l, _clock) = limits();
    l.key_cap = 4;
    let spec = per_ip(rate(2, 60));
    let flood: Vec<IpAddr> = (1..=100).map(v4).collect();
    // 4 own buckets, then the shared overflow bucket: 2 × 10 requests.
    assert_eq!(count_allowed(&l, &spec, &flood), 4 + 20);
    assert!(l.tracked_keys() <= 4);
    let d = l.check("r", &spec, v4(1000));
    assert_eq!(d.headers().map(|h| h.limit), Some(20));
    assert_eq!(d.retry_after_secs(), Some(3)); // 20 per 60 s
    // Addresses that have a bucket keep it.
    let d = l.check("r", &spec, v4(1));
    let Decision::Allowed(h) = d else {
        panic!("known address refused: {d:?}");
    };
    assert_eq!((h.limit, h.remaining), (2, 0));
}

#[test]
fn key_cap_sweeps_at_most_once_per_interval() {
    let (mut l, clock) = limits();
    l.key_cap = 4;
    let spec = per_ip(Rate {
        count: 2,
        per: Duration::from_millis(100), // one token per 50 ms
    });
    assert_eq!(
        count_allowed(&l, &spec, &(1..=4).map(v4).collect::<Vec<_>>()),
        4
    );
    // Full: sweeps (nothing idle yet) and overflows.
    assert!(allowed(&l.check("r", &spec, v4(5))));
    assert_eq!(l.tracked_keys(), 4);
    // Everything idle now, but the last sweep was too recent: still overflowing.
    clock.advance(Duration::from_millis(200));
    assert!(allowed(&l.check("r", &spec, v4(6))));
    assert_eq!(l.tracked_keys(), 4);
    clock.advance(Duration::from_millis(800));
    assert!(allowed(&l.check("r", &spec, v4(7))));
    assert_eq!(l.tracked_keys(), 1, "swept, then admitted");
}

#[test]
fn unlimited_without_spec() {
    let (l, _clock) = limits();
    let d = l.check("r", &RateSpec::default(), v4(1));
    assert_eq!(d, Decision::Unlimited);
    assert_eq!(d.headers(), None);
    assert_eq!(l.tracked_keys(), 0);
    assert!(l.routes.load().is_empty());
}

#[test]
fn concurrent_checks_share_one_bucket() {
    let (l, _clock) = limits();
    let l = Arc::new(l);
    let spec = RateSpec {
        shared: false,
        per_ip: Some(rate(300, 300)),
        per_route: Some(rate(1000, 300)),
    };
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let l = Arc::clone(&l);
            std::thread::spawn(move || {
                (0..100)
                    .filter(|_| allowed(&l.check("r", &spec, v4(1))))
                    .count()
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 300);
}

#[test]
fn real_clock_registry_is_send_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RateLimits>();
    let l = RateLimits::default();
    assert!(allowed(&l.check("r", &per_ip(rate(1, 1)), v4(1))));
    assert!(!allowed(&l.check("r", &per_ip(rate(1, 1)), v4(1))));
}
