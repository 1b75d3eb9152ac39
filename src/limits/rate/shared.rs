//! Shared rate limits: `rate_limit = { per_ip = "...", per_route = "...", shared = true }`, exact
//! across every replica on one Redis.
//!
//! # Model
//!
//! The same buckets as the local ones (the parent module: GCRA, client bucket first, IPv6 by
//! /64, IPv4-mapped as IPv4, the same headers), kept in Redis by one script call per request
//! (`shared.lua`): it reads Redis' clock (`TIME`, so replicas' clocks do not matter), tests the
//! client's bucket and then the route's, and writes both only if both allow. Differences from
//! the local buckets, both because a script can do what governor cannot:
//!
//! * a request the route's bucket refuses does not spend its client's token;
//! * `RateLimit-Reset` when allowed is exact (the time until the bucket is full again), not an
//!   upper bound.
//!
//! Times are microseconds: rates above 1,000,000 per second are rounded to one token per µs.
//!
//! A refusal stands until the refused bucket's next token, so each replica remembers Redis'
//! refusals that long and answers a client that keeps sending without asking again
//! (`refusals`): exact, and a flood after a `429` costs Redis next to nothing.
//!
//! # Keys
//!
//! `prefix:{route:rl}:` then `r:<count>/<per ms>` (the route's bucket), `i:<count>/<per
//! ms>:<client>` (a client's: `203.0.113.7`, `2001:db8:1:2::/64`), `v:<count>/<per ms>` (the
//! overflow bucket) and `l:<count>/<per ms>` (the live client buckets: a sorted set of their keys
//! by expiry). One hash tag per route: every key of a call is in one cluster slot (a route's
//! limits live on one node). A bucket's key holds one integer and expires once the bucket is
//! full again (at most `per` after its last request), so memory is bounded by the clients seen
//! in the last `per`. Clients are capped as locally: while [`MAX_KEYS_PER_ROUTE`] client buckets
//! are live, a client without one shares the overflow bucket (`OVERFLOW_FACTOR` × the per-IP
//! rate) until some expire (not until a window ends: a burst of addresses would otherwise lock
//! new clients out for the rest of it). The rate is part of the key: a reload that keeps a rate
//! keeps its state (in Redis, so a restart keeps it too); a changed rate starts a fresh bucket,
//! as locally, and the old keys expire.
//!
//! # When Redis does not answer in time
//!
//! Each check has a deadline (`store.rate_limit_timeout`, 100 ms by default). Past it, or on any
//! error, the request is checked against this replica's local buckets for the route instead
//! (the limit then holds per replica, as without `shared`), and
//! `hookgate_rate_limit_shared_fallbacks_total` counts it. Its exchanges do not touch the
//! store's health: a rate check given up after 100 ms says nothing about storing events. Failing
//! closed would let anyone who can slow Redis down refuse every sender; failing open would let
//! them lift the limit altogether. After a timeout or a lost connection, Redis is left alone for
//! [`BACKOFF`]: then one request probes it while the others stay local, so a slow Redis costs
//! one request's deadline per second, not every request's. At most [`MAX_IN_FLIGHT`] checks wait
//! on Redis at once; more are local. A check that timed out may still be counted by Redis once
//! it catches up (the request itself was decided locally).

use std::net::IpAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::{IntCounterVec, Opts};
use tokio::sync::Semaphore;
use tracing::Level;

use super::refusals::Refusals;
use super::{
    Decision, IpKey, MAX_KEYS_PER_ROUTE, OVERFLOW_FACTOR, Rate, RateLimits, RateSpec, Shape,
    combine, ip_key,
};
use crate::logs::Site;
use crate::metrics::METRICS;
use crate::store::redis::{Handle, is_outage};

/// After a timeout or a lost connection, how long requests decide locally before one probes.
pub const BACKOFF: Duration = Duration::from_secs(1);
/// Checks waiting on Redis at once; beyond this, requests decide locally.
pub const MAX_IN_FLIGHT: usize = 1024;

static SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("shared.lua")));

static FALLBACKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = IntCounterVec::new(
        Opts::new(
            "hookgate_rate_limit_shared_fallbacks_total",
            "Requests of shared rate limits checked against the replica's local buckets \
             instead of Redis, by reason: timeout, unreachable, error, backoff, busy.",
        ),
        &["route", "reason"],
    )
    .unwrap_or_else(|e| panic!("metric definition: {e}"));
    METRICS.register(Box::new(c.clone()));
    c
});

static FELL_BACK: Site = Site::new(
    Level::WARN,
    "shared rate limit: redis did not answer in time; using this replica's buckets",
);
static SCRIPT_FAILED: Site = Site::new(
    Level::WARN,
    "shared rate limit: script failed; using this replica's buckets",
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    Timeout,
    Unreachable,
    /// An error answer (a script error, out of memory): Redis is there, not used this time.
    Error,
    /// Within `BACKOFF` of a timeout or lost connection.
    Backoff,
    /// `MAX_IN_FLIGHT` checks already waiting.
    Busy,
}

impl Fallback {
    fn label(self) -> &'static str {
        match self {
            Fallback::Timeout => "timeout",
            Fallback::Unreachable => "unreachable",
            Fallback::Error => "error",
            Fallback::Backoff => "backoff",
            Fallback::Busy => "busy",
        }
    }
}

/// The shared buckets of every route that asks for them.
pub struct SharedRates {
    conn: Handle,
    prefix: String,
    /// How long a request waits for Redis' verdict before its replica decides alone.
    deadline: Duration,
    in_flight: Semaphore,
    /// Milliseconds after `epoch` before which Redis is not asked; 0 = ask.
    ask_after: AtomicU64,
    epoch: Instant,
    refusals: Refusals,
}

impl SharedRates {
    /// On the store's connection; keys under the store's `prefix`.
    pub fn new(conn: Handle, prefix: &str, deadline: Duration) -> SharedRates {
        LazyLock::force(&FALLBACKS);
        SharedRates {
            conn,
            prefix: prefix.to_owned(),
            deadline,
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            ask_after: AtomicU64::new(0),
            epoch: Instant::now(),
            refusals: Refusals::new(),
        }
    }

    /// Checks (and on success consumes) one request of `route` from `ip` in Redis; when Redis
    /// does not answer in time, in `local` (see the module docs).
    pub async fn check(
        &self,
        local: &RateLimits,
        route: &str,
        spec: &RateSpec,
        ip: IpAddr,
    ) -> Decision {
        if spec.per_ip.is_none() && spec.per_route.is_none() {
            return Decision::Unlimited;
        }
        match self.ask(route, spec, ip).await {
            Ok(decision) => decision,
            Err(why) => {
                FALLBACKS.with_label_values(&[route, why.label()]).inc();
                local.check(route, spec, ip)
            }
        }
    }

    async fn ask(&self, route: &str, spec: &RateSpec, ip: IpAddr) -> Result<Decision, Fallback> {
        let call = Call::new(&self.prefix, route, spec, ip);
        let sent = Instant::now();
        // A refusal Redis gave stands until that bucket's next token (see `refusals`); the
        // client's bucket first, as Redis checks them.
        let standing = (spec.per_ip.map(|_| &call.keys[0]).into_iter())
            .chain(spec.per_route.map(|_| &call.keys[1]))
            .find_map(|key| self.refusals.standing(key, sent));
        if let Some(refused) = standing {
            return Ok(refused);
        }
        if !self.may_ask() {
            return Err(Fallback::Backoff);
        }
        let _permit = self.in_flight.try_acquire().map_err(|_| Fallback::Busy)?;
        let mut invocation = SCRIPT.prepare_invoke();
        for key in &call.keys {
            invocation.key(key.as_str());
        }
        for arg in call.args {
            invocation.arg(arg);
        }
        invocation.arg(call.client_name.as_str());
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(
            self.deadline,
            invocation.invoke_async::<Vec<i64>>(&mut conn),
        );
        match answer.await {
            Ok(Ok(reply)) => {
                self.answered();
                let decision = call.decide(&reply).ok_or_else(|| {
                    self.script_failed(route, &format!("unexpected reply {reply:?}"));
                    Fallback::Error
                })?;
                if let Some(key) = call.refused_key(&reply) {
                    self.refusals.remember(key, sent, &decision);
                }
                Ok(decision)
            }
            Ok(Err(e)) if !is_outage(&e) => {
                self.script_failed(route, &e.to_string());
                Err(Fallback::Error)
            }
            Ok(Err(e)) => Err(self.back_off(route, Fallback::Unreachable, &e.to_string())),
            Err(_) => Err(self.back_off(route, Fallback::Timeout, "no answer in time")),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// True unless backing off; when a backoff ends, true for one caller (the probe), which
    /// starts the next backoff should it fail too.
    fn may_ask(&self) -> bool {
        let after = self.ask_after.load(Ordering::Acquire);
        if after == 0 {
            return true;
        }
        let now = self.now_ms();
        now >= after
            && self
                .ask_after
                .compare_exchange(after, backoff_end(now), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn answered(&self) {
        if self.ask_after.load(Ordering::Acquire) != 0 {
            self.ask_after.store(0, Ordering::Release);
            tracing::info!("shared rate limits: redis answers again");
        }
    }

    fn back_off(&self, route: &str, why: Fallback, error: &str) -> Fallback {
        self.ask_after
            .store(backoff_end(self.now_ms()), Ordering::Release);
        if FELL_BACK.hit(route, || error.to_owned()) {
            tracing::warn!(route, error, reason = why.label(), "{}", FELL_BACK.message);
        }
        why
    }

    fn script_failed(&self, route: &str, error: &str) {
        if SCRIPT_FAILED.hit(route, || error.to_owned()) {
            tracing::warn!(route, error, "{}", SCRIPT_FAILED.message);
        }
    }
}

/// Never 0 (which means "ask").
fn backoff_end(now_ms: u64) -> u64 {
    now_ms.saturating_add(u64::try_from(BACKOFF.as_millis()).unwrap_or(1000))
}

/// One bucket as the script sees it: microseconds per token, and tolerance.
#[derive(Debug, Clone, Copy, Default)]
struct Gcra {
    t_us: u64,
    tau_us: u64,
}

impl Gcra {
    fn of(shape: &Shape) -> Gcra {
        // Rounded up: a bucket never earns tokens faster than its rate.
        let t_us = u64::try_from(shape.interval.as_nanos().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1);
        Gcra {
            t_us,
            tau_us: t_us.saturating_mul(u64::from(shape.limit - 1)),
        }
    }
}

/// The script's keys and arguments for one request, and the shapes to read its reply with.
struct Call {
    keys: [String; 4],
    args: [u64; 8],
    /// The client as its bucket's key names it (the script's last argument).
    client_name: String,
    client: Option<(Shape, Shape)>,
    route: Option<Shape>,
}

/// `300/300000`: a bucket's rate in its keys.
fn rate_tag(rate: Rate) -> String {
    format!("{}/{}", rate.count, rate.per.as_millis())
}

/// How a client is named in its key: the IPv4 address, or the IPv6 /64.
pub(super) fn client_name(key: IpKey) -> String {
    match key {
        IpKey::V4(v4) => std::net::Ipv4Addr::from(v4).to_string(),
        IpKey::V6(net) => format!("{}/64", std::net::Ipv6Addr::from(u128::from(net) << 64)),
    }
}

impl Call {
    fn new(prefix: &str, route: &str, spec: &RateSpec, ip: IpAddr) -> Call {
        let tag = format!("{prefix}:{{{route}:rl}}");
        let client = spec.per_ip.map(|rate| {
            let overflow = Rate {
                count: rate.count.saturating_mul(OVERFLOW_FACTOR),
                per: rate.per,
            };
            (Shape::new(rate), Shape::new(overflow))
        });
        let route_shape = spec.per_route.map(Shape::new);
        let (c, o) = client
            .as_ref()
            .map_or((Gcra::default(), Gcra::default()), |(c, o)| {
                (Gcra::of(c), Gcra::of(o))
            });
        let r = route_shape.as_ref().map(Gcra::of).unwrap_or_default();
        let (ip_rate, window_ms) = spec.per_ip.map_or((String::new(), 1), |rate| {
            let ms = u64::try_from(rate.per.as_millis()).unwrap_or(u64::MAX);
            (rate_tag(rate), ms.max(1))
        });
        let route_rate = spec.per_route.map(rate_tag).unwrap_or_default();
        let name = client_name(ip_key(ip));
        Call {
            keys: [
                format!("{tag}:i:{ip_rate}:{name}"),
                format!("{tag}:r:{route_rate}"),
                format!("{tag}:l:{ip_rate}"),
                format!("{tag}:v:{ip_rate}"),
            ],
            args: [
                c.t_us,
                c.tau_us,
                r.t_us,
                r.tau_us,
                o.t_us,
                o.tau_us,
                MAX_KEYS_PER_ROUTE as u64,
                window_ms,
            ],
            client_name: name,
            client,
            route: route_shape,
        }
    }

    /// The key of the bucket that refused, if one did (not the overflow bucket: a client there
    /// may get a bucket of its own when the window ends, before the overflow's next token).
    fn refused_key(&self, reply: &[i64]) -> Option<&str> {
        match *reply {
            [0, _, _, _, 0] => Some(&self.keys[0]),
            [1 | -1, _, 0, _, _] => Some(&self.keys[1]),
            _ => None,
        }
    }

    /// The decision the script's reply says; `None` for a reply it never gives.
    fn decide(&self, reply: &[i64]) -> Option<Decision> {
        let [c_status, c_us, r_status, r_us, overflow] = *reply else {
            return None;
        };
        let client = match &self.client {
            Some((own, shared)) => {
                let shape = if overflow == 1 { shared } else { own };
                bucket(shape, c_status, c_us)?
            }
            None => Decision::Unlimited,
        };
        if matches!(client, Decision::Limited { .. }) {
            return Some(client);
        }
        let route = match &self.route {
            Some(shape) => bucket(shape, r_status, r_us)?,
            None => Decision::Unlimited,
        };
        Some(combine(client, route))
    }
}

/// One bucket's verdict: `status` 1 allowed (`us` until full again), 0 refused (`us` until its
/// next token).
fn bucket(shape: &Shape, status: i64, us: i64) -> Option<Decision> {
    let us = u64::try_from(us).ok()?;
    match status {
        1 => {
            let t_us = Gcra::of(shape).t_us;
            let full = t_us.saturating_mul(u64::from(shape.limit));
            let remaining = u32::try_from(full.saturating_sub(us) / t_us).unwrap_or(0);
            let until_full = Duration::from_micros(us).min(shape.rate.per);
            Some(Decision::Allowed(
                shape.headers(remaining.min(shape.limit), until_full),
            ))
        }
        0 => Some(shape.refused(Duration::from_micros(us))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u32, secs: u64) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(secs),
        }
    }

    /// `300/5m` per client, `10/1m` per route.
    fn spec() -> RateSpec {
        RateSpec {
            per_ip: Some(rate(300, 300)),
            per_route: Some(rate(10, 60)),
            shared: true,
        }
    }

    /// A token's time in whole µs, rounded up: a shared bucket never earns faster than its
    /// rate (`150000/1s` is 6.67 µs per token: 7, not 6, which would allow 166 666/s).
    #[test]
    fn a_token_interval_is_rounded_up_to_whole_microseconds() {
        let spec = RateSpec {
            per_ip: None,
            per_route: Some(Rate {
                count: 150_000,
                per: Duration::from_secs(1),
            }),
            shared: true,
        };
        let call = Call::new("hookgate", "r", &spec, "203.0.113.7".parse().unwrap());
        assert_eq!(call.args[2], 7);
    }

    #[test]
    fn keys_share_one_hash_tag_and_name_the_client() {
        let spec = spec();
        let call = Call::new(
            "hookgate",
            "limai",
            &spec,
            "::ffff:203.0.113.7".parse().unwrap(),
        );
        assert_eq!(
            call.keys,
            [
                "hookgate:{limai:rl}:i:300/300000:203.0.113.7",
                "hookgate:{limai:rl}:r:10/60000",
                "hookgate:{limai:rl}:l:300/300000",
                "hookgate:{limai:rl}:v:300/300000",
            ]
        );
        // 1 s per token, 299 more as a burst; the route: 6 s per token.
        assert_eq!(
            call.args[..4],
            [1_000_000, 299_000_000, 6_000_000, 54_000_000]
        );
        let v6 = Call::new("p", "r", &spec, "2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(v6.keys[0], "p:{r:rl}:i:300/300000:2001:db8:1:2::/64");
    }

    #[test]
    fn replies_read_as_the_local_buckets_answer() {
        let spec = spec();
        let call = Call::new("p", "r", &spec, "203.0.113.7".parse().unwrap());
        // Both allowed: the route's bucket (9 left of 10, full in 6 s) is the tighter.
        let Some(Decision::Allowed(h)) = call.decide(&[1, 1_000_000, 1, 6_000_000, 0]) else {
            panic!("allowed")
        };
        assert_eq!((h.limit, h.remaining, h.reset_secs), (10, 9, 6));
        assert_eq!(&*h.policy, "10;w=60");
        // Refused by the route: its wait is the Retry-After.
        let d = call.decide(&[1, 1_000_000, 0, 2_500_000, 0]).unwrap();
        assert_eq!(d.retry_after_secs(), Some(3));
        assert_eq!(d.headers().map(|h| (h.limit, h.remaining)), Some((10, 0)));
        // Refused by the client's bucket; the overflow bucket's shape when it was used.
        let d = call.decide(&[0, 100, -1, 0, 1]).unwrap();
        assert_eq!(d.retry_after_secs(), Some(1));
        assert_eq!(d.headers().map(|h| h.limit), Some(3000));
        assert!(call.decide(&[1, 2]).is_none());
        assert!(call.decide(&[7, 0, -1, 0, 0]).is_none());
    }
}
