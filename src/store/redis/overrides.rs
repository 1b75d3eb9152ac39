//! Route states set through the admin API: one hash, route → `StateOverride::encode`.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{RedisStore, keys, unavailable};
use crate::store::{RouteOverrides, StateOverride, StoreError};

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
        redis::cmd("HSET")
            .arg(keys::route_states(&self.prefix))
            .arg(route)
            .arg(state.encode())
            .query_async::<()>(&mut self.con())
            .await
            .map_err(unavailable)
    }
}
