//! Route states set through the admin API: one hash, route → `StateOverride::encode`.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::{RedisStore, keys, replicas, unavailable};
use crate::store::{RouteOverrides, StateOverride, StoreError};

/// KEYS: the overrides. ARGV: route, state. The route's earlier state is dropped first: `HDEL`
/// is not flagged DENYOOM, and Redis refuses a script's first DENYOOM write (the `HSET`) while
/// over maxmemory, never a later one. A full Redis drains only if its routes can be resumed.
static SET_STATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
"#,
    )
});

#[async_trait]
impl RouteOverrides for RedisStore {
    async fn route_states(&self) -> Result<HashMap<String, StateOverride>, StoreError> {
        let all: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(keys::route_states(&self.prefix))
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        Ok(all
            .into_iter()
            .filter_map(|(route, v)| Some((route, StateOverride::decode(&v)?)))
            .collect())
    }

    async fn set_route_state(&self, route: &str, state: StateOverride) -> Result<(), StoreError> {
        let key = keys::route_states(&self.prefix);
        let con = self.con();
        SET_STATE
            .key(&key)
            .arg(route)
            .arg(state.encode())
            .invoke_async::<()>(&mut con.clone())
            .await
            .map_err(unavailable)?;
        // Confirmed as a cancel is: a pause only the master had, lost in a failover, let the
        // route deliver again. Not confirmed: `503` (it may stand).
        if self.replica_acks > 0 {
            replicas::confirm_at(&con, &key, true, self.replica_acks)
                .await
                .map_err(StoreError::Unavailable)?;
        }
        Ok(())
    }

    async fn routes_elsewhere(&self, configured: &[String]) -> Result<Vec<String>, StoreError> {
        self.say_routes(configured).await
    }
}
