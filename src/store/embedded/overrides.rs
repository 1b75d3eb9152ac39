//! Route states set through the admin API: `meta` keys under `keys::ROUTE_STATE`.

use std::collections::HashMap;

use async_trait::async_trait;

use super::writer::Op;
use super::{Embedded, keys, unavailable};
use crate::store::{RouteOverrides, StateOverride, StoreError};

#[async_trait]
impl RouteOverrides for Embedded {
    async fn route_states(&self) -> Result<HashMap<String, StateOverride>, StoreError> {
        let h = self.shared.handles()?;
        let mut out = HashMap::new();
        for entry in h.meta.prefix(keys::ROUTE_STATE) {
            let (k, v) = entry.into_inner().map_err(unavailable)?;
            let route = String::from_utf8_lossy(&k[keys::ROUTE_STATE.len()..]).into_owned();
            if let Some(o) = std::str::from_utf8(&v).ok().and_then(StateOverride::decode) {
                out.insert(route, o);
            }
        }
        Ok(out)
    }

    async fn set_route_state(&self, route: &str, state: StateOverride) -> Result<(), StoreError> {
        self.call(|tx| Op::SetState(route.to_string(), state, tx))
            .await
    }

    /// One process holds the store: no route is configured anywhere else.
    async fn routes_elsewhere(&self, _configured: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}
