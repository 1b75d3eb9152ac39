//! The one handle the services share: the running config and everything that lives as long
//! as the process (store, route states, limiters, lifecycle). Built once in `server::run`.

mod states;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::lifecycle::Lifecycle;
use crate::limits::memory::BodyMemory;
use crate::limits::rate::RateLimits;
use crate::limits::rate::shared::SharedRates;
use crate::store::Store;
use crate::upstream::UpstreamLimits;
use crate::verify::fetch::KeyBook;

pub use states::RouteStates;

pub struct App {
    /// Swapped whole on reload; read once per request or per turn.
    pub config: Arc<ArcSwap<Config>>,
    pub store: Arc<dyn Store>,
    /// The config's route states with the admin API's pauses and resumes over them.
    pub states: RouteStates,
    /// Per-IP and per-route request rates (public listener; inspected on the admin API).
    pub rate_limits: RateLimits,
    /// The Redis-kept buckets of routes with `rate_limit.shared` (Redis store only).
    pub shared_rates: Option<SharedRates>,
    /// One concurrency limit per upstream for deliveries and sync calls alike.
    pub upstream_limits: UpstreamLimits,
    /// The request bodies held in memory, bounded by `server.max_body_memory`.
    pub body_memory: BodyMemory,
    pub life: Lifecycle,
    /// The key documents that verified genuine messages, handed to each config's fetchers.
    pub key_book: Arc<KeyBook>,
}

impl App {
    pub fn new(config: Config, store: Arc<dyn Store>) -> App {
        App {
            config: Arc::new(ArcSwap::from_pointee(config)),
            store,
            states: RouteStates::default(),
            rate_limits: RateLimits::new(),
            shared_rates: None,
            upstream_limits: UpstreamLimits::default(),
            body_memory: BodyMemory::default(),
            life: Lifecycle::default(),
            key_book: Arc::new(KeyBook::memory()),
        }
    }
}
