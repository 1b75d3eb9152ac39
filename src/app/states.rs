//! Route states in effect: the config's `state`, overridden by pauses and resumes made through
//! the admin API (kept in the store, so they survive restarts and reach every replica).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::routing::{Route, RouteState};
use crate::store::{StateOverride, Store, StoreError};

/// This process's copy of the overrides; refreshed from the store every second or so.
#[derive(Default)]
pub struct RouteStates {
    overrides: ArcSwap<HashMap<String, StateOverride>>,
}

impl RouteStates {
    pub fn effective(&self, route: &Route) -> RouteState {
        StateOverride::effective(self.overrides.load().get(&route.name), route.state)
    }

    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        let all = store.route_states().await?;
        self.overrides.store(Arc::new(all));
        Ok(())
    }

    /// Pauses or resumes `route` over what its config says now.
    pub async fn set(
        &self,
        store: &dyn Store,
        route: &Route,
        state: RouteState,
    ) -> Result<(), StoreError> {
        let over = StateOverride {
            state,
            configured: route.state,
        };
        store.set_route_state(&route.name, over).await?;
        self.refresh(store).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_hold_until_the_config_changes() {
        let paused = StateOverride {
            state: RouteState::Paused,
            configured: RouteState::Active,
        };
        assert_eq!(
            StateOverride::effective(Some(&paused), RouteState::Active),
            RouteState::Paused
        );
        // The config was edited since the pause: the config wins.
        assert_eq!(
            StateOverride::effective(Some(&paused), RouteState::Disabled),
            RouteState::Disabled
        );
        assert_eq!(
            StateOverride::effective(None, RouteState::Paused),
            RouteState::Paused
        );
        assert_eq!(StateOverride::decode(&paused.encode()), Some(paused));
        assert_eq!(StateOverride::decode("paused"), None);
    }
}
