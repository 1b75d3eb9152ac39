//! Per-route request rate limits: `rate_limit = { per_ip = "300/5m", per_route = "5000/1s" }`.
//!
//! Checked before the body is read, after the real client address has been resolved.
//!
//! # Model
//!
//! Every rate is a token bucket (governor's GCRA): `count` tokens, refilled evenly, one every
//! `per / count`. `"300/5m"` therefore allows a burst of 300 and then one request a second.
//!
//! * **Order.** The client's own bucket is checked first, so an abusive address is refused
//!   without draining the route's shared bucket. A request the route bucket then refuses has
//!   still spent one of its address's tokens (governor cannot give tokens back).
//! * **Keys.** IPv4 clients are keyed by address, IPv6 clients by their /64 (one host usually
//!   owns a whole /64 and could rotate through it); IPv4-mapped IPv6 counts as IPv4.
//! * **Headers.** Those of the more restrictive bucket (fewer tokens left; on a tie, the one that
//!   takes longer to refill); when refused, those of the bucket that refused.
//!   `RateLimit-Reset` is, when allowed, the seconds until the bucket is full again (an upper
//!   bound: `(limit - remaining) * per / count`, rounded up, because governor reports remaining
//!   tokens but not the fraction of the next one); when refused, the seconds until the next
//!   token, the same figure as `Retry-After`. `RateLimit-Policy` is `"{count};w={per}"` with `per`
//!   in whole seconds, rounded up.
//! * **Retry-After** is the wait for the next token: for `300/5m`, about 1 s. It is never more
//!   than `per`, and the header value is at least 1 second.
//! * **Reloads.** Limiters live here, not in the config, keyed by route name. Each bucket keeps
//!   the [`Rate`] it was made for and is replaced only when that rate changes, so a reload that
//!   leaves a route's `per_ip` (or `per_route`) alone keeps its state. (Requests already under
//!   way with the old config when a reload lands can flip a changed bucket back and forth for a
//!   moment; each flip resets it, no worse than the change itself.) Routes no longer configured
//!   are dropped by [`RateLimits::housekeeping`].
//! * **Shared** (`shared = true`): the same buckets in Redis, exact across replicas, with these
//!   buckets as the fallback when Redis does not answer in time ([`shared`]).
//!
//! # Bounded memory
//!
//! Each route holds at most [`MAX_KEYS_PER_ROUTE`] per-address buckets. When an address that has
//! no bucket arrives and the route is full, idle buckets are swept (`retain_recent` and
//! `shrink_to_fit`, at most once per [`SWEEP_INTERVAL`] so a flood of new addresses cannot make
//! every request pay for an O(n) sweep). If the route is still full, the request is charged to
//! the route's single **overflow bucket** instead of a bucket of its own. Refusing such requests
//! outright would let an attacker lock out every new client by filling the table; sharing one
//! bucket keeps memory bounded and the limit still biting. The overflow bucket has the per-IP
//! rate times [`OVERFLOW_FACTOR`] (10): honest clients that arrive during a flood still get
//! through now and then, and an attacker rotating through addresses gains at most ten addresses'
//! worth of requests. Addresses that already have a bucket keep using it. The cap is exact for a
//! single thread; concurrent admissions racing a sweep can exceed it by at most one key per
//! thread, until the next sweep.

mod refusals;
pub mod shared;

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{NotUntil, Quota, RateLimiter};

pub use crate::routing::{Rate, RateSpec};

/// Per-address buckets a route may hold before new addresses share its overflow bucket.
pub const MAX_KEYS_PER_ROUTE: usize = 100_000;
/// The overflow bucket allows this many times the per-IP rate (see the module docs).
pub const OVERFLOW_FACTOR: u32 = 10;
/// Minimum time between two sweeps triggered by a full route (housekeeping sweeps regardless).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The outcome of [`RateLimits::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The route has no rate limit: send no headers.
    Unlimited,
    Allowed(Headers),
    /// Answer 429 with `Retry-After` ([`Decision::retry_after_secs`]) and these headers.
    Limited {
        retry_after: Duration,
        headers: Headers,
    },
}

impl Decision {
    /// The `Retry-After` value: whole seconds, rounded up, at least 1. `None` unless limited.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Decision::Limited { retry_after, .. } => Some(ceil_secs(*retry_after).max(1)),
            _ => None,
        }
    }

    /// The headers to send, if any.
    #[cfg(test)]
    pub fn headers(&self) -> Option<&Headers> {
        match self {
            Decision::Unlimited => None,
            Decision::Allowed(h) | Decision::Limited { headers: h, .. } => Some(h),
        }
    }
}

/// The IETF `RateLimit-*` header values of one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    /// `"300;w=300"`.
    pub policy: Arc<str>,
}

impl Headers {
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            ("RateLimit-Limit", self.limit.to_string()),
            ("RateLimit-Remaining", self.remaining.to_string()),
            ("RateLimit-Reset", self.reset_secs.to_string()),
            ("RateLimit-Policy", self.policy.to_string()),
        ]
    }
}

/// All routes' limiters, shared by every request and kept across config reloads.
pub struct RateLimits<C: Clock = DefaultClock> {
    /// Read on every request without locking; replaced whole (rarely: a route's first request,
    /// a changed rate, housekeeping).
    routes: ArcSwap<HashMap<String, Arc<RouteLimiter<C>>>>,
    /// Serialises replacements of `routes`, so concurrent ones cannot lose each other's edits.
    write: Mutex<()>,
    clock: C,
    key_cap: usize,
}

impl RateLimits {
    pub fn new() -> RateLimits {
        RateLimits::with_clock(DefaultClock::default())
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new()
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// With another clock (tests use governor's `FakeRelativeClock`).
    pub fn with_clock(clock: C) -> RateLimits<C> {
        RateLimits {
            routes: ArcSwap::from_pointee(HashMap::new()),
            write: Mutex::new(()),
            clock,
            key_cap: MAX_KEYS_PER_ROUTE,
        }
    }

    /// Checks (and on success consumes) one request of `route` from `ip` against `spec`.
    pub fn check(&self, route: &str, spec: &RateSpec, ip: IpAddr) -> Decision {
        if spec.per_ip.is_none() && spec.per_route.is_none() {
            return Decision::Unlimited;
        }
        let limiter = self.route(route, spec);
        let by_ip = match &limiter.per_ip {
            Some(buckets) => buckets.check(ip_key(ip), self.key_cap),
            None => Decision::Unlimited,
        };
        if matches!(by_ip, Decision::Limited { .. }) {
            // Refused by its own bucket: leave the shared one untouched.
            return by_ip;
        }
        let by_route = match &limiter.per_route {
            Some(bucket) => bucket.check(),
            None => Decision::Unlimited,
        };
        combine(by_ip, by_route)
    }

    /// Forgets idle per-IP state and the limiters of routes no longer configured. (Limiters
    /// whose rate changed are replaced on the route's next request.) `routes` = names currently
    /// configured.
    pub fn housekeeping(&self, routes: &[&str]) {
        let kept: Vec<Arc<RouteLimiter<C>>> = {
            let _write = crate::lock::lock(&self.write);
            let current = self.routes.load_full();
            if current.keys().any(|name| !routes.contains(&name.as_str())) {
                let next: HashMap<_, _> = current
                    .iter()
                    .filter(|(name, _)| routes.contains(&name.as_str()))
                    .map(|(name, limiter)| (name.clone(), Arc::clone(limiter)))
                    .collect();
                self.routes.store(Arc::new(next));
            }
            self.routes.load().values().cloned().collect()
        };
        // Sweep outside the lock: it is O(keys) and a route's first request may be waiting.
        for limiter in kept {
            if let Some(buckets) = &limiter.per_ip {
                buckets.sweep();
            }
        }
    }

    /// Number of per-IP keys held (all routes).
    pub fn tracked_keys(&self) -> usize {
        self.routes
            .load()
            .values()
            .filter_map(|limiter| limiter.per_ip.as_ref())
            .map(|buckets| buckets.store.len())
            .sum()
    }

    /// The route's limiter for `spec`: found without locking unless it is new or its rate changed.
    fn route(&self, route: &str, spec: &RateSpec) -> Arc<RouteLimiter<C>> {
        if let Some(limiter) = self.routes.load().get(route).filter(|l| l.is_for(spec)) {
            return Arc::clone(limiter);
        }
        let _write = crate::lock::lock(&self.write);
        let current = self.routes.load_full();
        let old = current.get(route);
        if let Some(limiter) = old.filter(|l| l.is_for(spec)) {
            return Arc::clone(limiter); // Another request installed it meanwhile.
        }
        let limiter = Arc::new(RouteLimiter::new(old.map(Arc::as_ref), spec, &self.clock));
        let mut next = HashMap::clone(&current);
        next.insert(route.to_owned(), Arc::clone(&limiter));
        self.routes.store(Arc::new(next));
        limiter
    }
}

/// Both decisions allowed: report the tighter bucket. Either refused: that refusal.
fn combine(a: Decision, b: Decision) -> Decision {
    match (a, b) {
        (limited @ Decision::Limited { .. }, _) | (_, limited @ Decision::Limited { .. }) => {
            limited
        }
        (Decision::Allowed(x), Decision::Allowed(y)) => Decision::Allowed(tighter(x, y)),
        (Decision::Allowed(h), Decision::Unlimited)
        | (Decision::Unlimited, Decision::Allowed(h)) => Decision::Allowed(h),
        (Decision::Unlimited, Decision::Unlimited) => Decision::Unlimited,
    }
}

fn tighter(a: Headers, b: Headers) -> Headers {
    if (b.remaining, std::cmp::Reverse(b.reset_secs))
        < (a.remaining, std::cmp::Reverse(a.reset_secs))
    {
        b
    } else {
        a
    }
}

/// One route's buckets. Each half is kept across reloads while its rate is unchanged.
struct RouteLimiter<C: Clock> {
    per_ip: Option<Arc<IpBuckets<C>>>,
    per_route: Option<Arc<Bucket<C>>>,
}

impl<C: Clock + Clone> RouteLimiter<C> {
    /// For `spec`, reusing the buckets of `old` whose rate is unchanged.
    fn new(old: Option<&RouteLimiter<C>>, spec: &RateSpec, clock: &C) -> RouteLimiter<C> {
        let per_ip = spec.per_ip.map(|rate| {
            old.and_then(|o| o.per_ip.clone())
                .filter(|b| b.shape.rate == rate)
                .unwrap_or_else(|| Arc::new(IpBuckets::new(rate, clock.clone())))
        });
        let per_route = spec.per_route.map(|rate| {
            old.and_then(|o| o.per_route.clone())
                .filter(|b| b.shape.rate == rate)
                .unwrap_or_else(|| Arc::new(Bucket::new(Shape::new(rate), clock.clone())))
        });
        RouteLimiter { per_ip, per_route }
    }

    fn is_for(&self, spec: &RateSpec) -> bool {
        self.per_ip.as_ref().map(|b| b.shape.rate) == spec.per_ip
            && self.per_route.as_ref().map(|b| b.shape.rate) == spec.per_route
    }
}

/// A bucket's rate, and what its headers say.
#[derive(Debug, Clone)]
struct Shape {
    /// As configured: compared on reloads.
    rate: Rate,
    /// The bucket size, `rate.count` (config validation makes that at least 1).
    limit: u32,
    /// Time to earn one token: `per / count`.
    interval: Duration,
    /// `RateLimit-Policy`, `"{count};w={per}"`: the same on every answer.
    policy: Arc<str>,
}

impl Shape {
    fn new(rate: Rate) -> Shape {
        let limit = rate.count.max(1);
        let interval = (rate.per / limit).max(Duration::from_nanos(1));
        Shape {
            rate,
            limit,
            interval,
            policy: format!("{limit};w={}", ceil_secs(rate.per).max(1)).into(),
        }
    }

    fn quota(&self) -> Quota {
        let burst = NonZeroU32::new(self.limit).unwrap_or(NonZeroU32::MIN);
        // `with_period` fails only for a zero period, which `interval` never is.
        Quota::with_period(self.interval)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }

    fn decide<P: Reference>(&self, result: Result<StateSnapshot, NotUntil<P>>, now: P) -> Decision {
        match result {
            Ok(state) => Decision::Allowed(self.allowed(state.remaining_burst_capacity())),
            Err(not_until) => self.refused(not_until.wait_time_from(now)),
        }
    }

    /// Refused until the next token, `wait` from now.
    fn refused(&self, wait: Duration) -> Decision {
        // Never zero, never beyond the window.
        let retry_after = wait.clamp(Duration::from_nanos(1), self.rate.per);
        Decision::Limited {
            retry_after,
            headers: self.headers(0, retry_after),
        }
    }

    fn allowed(&self, remaining: u32) -> Headers {
        let remaining = remaining.min(self.limit);
        // Until full again: at most one interval per missing token (see the module docs).
        let missing = self.limit - remaining;
        let until_full = self
            .interval
            .checked_mul(missing)
            .map_or(self.rate.per, |d| d.min(self.rate.per));
        self.headers(remaining, until_full)
    }

    fn headers(&self, remaining: u32, reset: Duration) -> Headers {
        Headers {
            limit: self.limit,
            remaining,
            reset_secs: ceil_secs(reset),
            policy: self.policy.clone(),
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

type DirectLimiter<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;
type KeyedLimiter<C> = RateLimiter<IpKey, SharedStore, C, StateInformationMiddleware>;

/// One unkeyed bucket: a route's shared one, or a route's per-IP overflow bucket.
struct Bucket<C: Clock> {
    shape: Shape,
    limiter: DirectLimiter<C>,
}

impl<C: Clock> Bucket<C> {
    fn new(shape: Shape, clock: C) -> Bucket<C> {
        let limiter = RateLimiter::direct_with_clock(shape.quota(), clock)
            .with_middleware::<StateInformationMiddleware>();
        Bucket { shape, limiter }
    }

    fn check(&self) -> Decision {
        let result = self.limiter.check();
        self.shape.decide(result, self.limiter.clock().now())
    }
}

/// What a client is counted as: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6(u64),
}

fn ip_key(ip: IpAddr) -> IpKey {
    match ip {
        IpAddr::V4(v4) => IpKey::V4(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpKey::V4(u32::from(v4)),
            None => IpKey::V6((u128::from(v6) >> 64) as u64),
        },
    }
}

/// governor's dashmap store, also reachable from outside the limiter: governor offers no
/// "is this key known" query, and the key cap needs one.
#[derive(Clone, Default)]
struct SharedStore(Arc<DashMapStateStore<IpKey>>);

impl StateStore for SharedStore {
    type Key = IpKey;

    fn measure_and_replace<T, F, E>(&self, key: &IpKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<IpKey> for SharedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.0);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&*self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&*self.0)
    }
}

/// A route's per-address buckets, capped, with the overflow bucket (see the module docs).
struct IpBuckets<C: Clock> {
    shape: Shape,
    store: SharedStore,
    limiter: KeyedLimiter<C>,
    overflow: Bucket<C>,
    /// Keys held: counted at the last sweep, plus those admitted since. A cheap stand-in for
    /// `store.len()`, which locks every shard.
    admitted: AtomicUsize,
    /// Nanoseconds after `epoch` before which a full route may not sweep again.
    next_sweep: AtomicU64,
    epoch: C::Instant,
}

impl<C: Clock + Clone> IpBuckets<C> {
    fn new(rate: Rate, clock: C) -> IpBuckets<C> {
        let shape = Shape::new(rate);
        let overflow = Shape::new(Rate {
            count: shape.limit.saturating_mul(OVERFLOW_FACTOR),
            per: rate.per,
        });
        let store = SharedStore::default();
        let limiter: KeyedLimiter<C> =
            RateLimiter::new(shape.quota(), store.clone(), clock.clone());
        IpBuckets {
            shape,
            store,
            limiter,
            overflow: Bucket::new(overflow, clock.clone()),
            admitted: AtomicUsize::new(0),
            next_sweep: AtomicU64::new(0),
            epoch: clock.now(),
        }
    }

    fn check(&self, key: IpKey, cap: usize) -> Decision {
        if self.store.0.contains_key(&key) || self.admit(cap) {
            let result = self.limiter.check_key(&key);
            self.shape.decide(result, self.limiter.clock().now())
        } else {
            self.overflow.check()
        }
    }

    /// Makes room for a new key if the cap allows, sweeping first (rate-limited) when full.
    fn admit(&self, cap: usize) -> bool {
        self.reserve(cap) || (self.sweep_due() && self.reserve(cap))
    }

    fn reserve(&self, cap: usize) -> bool {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_ok()
    }

    /// Sweeps if none has in the last `SWEEP_INTERVAL`; true if this call swept.
    fn sweep_due(&self) -> bool {
        let now = self
            .limiter
            .clock()
            .now()
            .duration_since(self.epoch)
            .as_u64();
        let due = self.next_sweep.load(Ordering::Acquire);
        let next = now.saturating_add(Nanos::from(SWEEP_INTERVAL).as_u64());
        let won = now >= due
            && self
                .next_sweep
                .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        if won {
            self.sweep();
        }
        won
    }

    /// Drops buckets that have been full for a while (they hold nothing a new one would not).
    fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.admitted.store(self.store.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
