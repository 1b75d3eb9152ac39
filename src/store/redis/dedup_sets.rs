//! The dedup sets' end. A set is unlinked once its window ended (`ACCEPT` keeps each set's
//! end in its shard's `ks`; `UNLINK_SETS`), not left to expire: Redis frees a key that expires
//! on its main thread, every client waiting. For the configured routes and for routes removed
//! since whose sets are still there: every route housekeeping saw is remembered with its shard
//! count (`prefix:routes`) until none of its shards has a set left and it holds no events
//! (a replica reports those of a route it does not configure: `Inspect::stats`).

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::Script;

use super::keys::{Shard, known_routes};
use super::scripts::UNLINK_SETS;
use super::{RedisStore, unavailable};
use crate::store::StoreError;

/// KEYS: the remembered routes. ARGV: route, shard count. Keeps the larger count: replicas
/// configured with different `shards` (during a change of it) forget none of the shards. The
/// smaller count is dropped before the larger is written: `HDEL` is not flagged DENYOOM, and
/// Redis refuses a script's first DENYOOM write (the `HSET`) while over maxmemory, never a
/// later one; housekeeping, which frees memory, must not stop at this on a full Redis.
static REMEMBER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n < tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
"#,
    )
});

impl RedisStore {
    /// Unlinks the sets whose window ended, of `routes` (the configured ones) and of routes
    /// removed since; returns how many.
    pub(super) async fn unlink_dedup_sets(&self, routes: &[String]) -> Result<u64, StoreError> {
        let known = known_routes(&self.prefix);
        let mut remembered: HashMap<String, u16> = redis::cmd("HGETALL")
            .arg(&known)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        for route in routes {
            if remembered.get(route).is_none_or(|n| *n < self.shards) {
                let () = REMEMBER
                    .key(&known)
                    .arg(route)
                    .arg(self.shards)
                    .invoke_async(&mut self.con())
                    .await
                    .map_err(unavailable)?;
                remembered.insert(route.clone(), self.shards);
            }
        }
        let mut unlinked = 0;
        for (route, shards) in &remembered {
            let mut left = 0;
            for i in 0..*shards {
                let (n, rest): (u64, u64) = UNLINK_SETS
                    .key(Shard::new(&self.prefix, route, i).dedup_sets())
                    .invoke_async(&mut self.con())
                    .await
                    .map_err(unavailable)?;
                unlinked += n;
                left += rest;
            }
            if left == 0 && !routes.contains(route) && !self.holds_events(route).await? {
                let () = redis::cmd("HDEL")
                    .arg(&known)
                    .arg(route)
                    .query_async(&mut self.con())
                    .await
                    .map_err(unavailable)?;
            }
        }
        Ok(unlinked)
    }
}
