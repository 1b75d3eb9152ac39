//! `store.shards` is fixed for a keyspace: an event's shard is its ID's hash modulo the count,
//! so a replica with another count looks for an ID's dedup sets in another shard (duplicates
//! pass) and, with fewer, never reads the shards past its own (acked events never delivered).
//! The count is kept in `prefix:shards`, written by the first replica that reaches Redis; a
//! replica with another count accepts nothing and stops at its first contact, saying why (a
//! rollout that changes it stalls on its first new replica, as with any config error), and a
//! running one stops when the key changes (looked at every few seconds). To change the count
//! on purpose an operator writes the new one to the key (README, "Changing `shards`").

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::conn::Timed;
use super::keys;

/// This replica's count, and whether Redis agreed with it yet.
#[derive(Clone)]
pub(super) struct ShardCount {
    prefix: Arc<str>,
    shards: u16,
    agreed: Arc<OnceCell<()>>,
}

impl ShardCount {
    pub(super) fn new(prefix: &str, shards: u16) -> ShardCount {
        ShardCount {
            prefix: prefix.into(),
            shards,
            agreed: Arc::new(OnceCell::new()),
        }
    }

    /// Ok once Redis agreed (asked at the first call only); an error when Redis did not
    /// answer.
    pub(super) async fn agreed(&self, con: &Timed) -> Result<(), String> {
        self.agreed
            .get_or_try_init(|| self.check(con))
            .await
            .map(|_| ())
    }

    /// Asks Redis now: an error when it did not answer; another count stops the process (an
    /// operator wrote a new one: this replica's config is the old).
    pub(super) async fn check(&self, con: &Timed) -> Result<(), String> {
        match self.theirs(con).await.map_err(|e| format!("redis: {e}"))? {
            None => {
                // Intake need not ask again (the health watch asks before the first request).
                let _ = self.agreed.set(());
                Ok(())
            }
            Some(theirs) => self.stop(&theirs),
        }
    }

    /// Another count than ours, if Redis holds one: `prefix:shards`, or failing it the most
    /// `prefix:routes` remembers.
    async fn theirs(&self, con: &Timed) -> redis::RedisResult<Option<String>> {
        let mut con = con.clone();
        let key = keys::shard_count(&self.prefix);
        let ours = self.shards.to_string();
        let have: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut con).await?;
        if let Some(have) = have {
            return Ok((have != ours).then_some(have));
        }
        // Not written yet: a new keyspace, or one of a version before this key. Housekeeping
        // remembered each route's count there; a larger one than ours holds shards we would
        // never read. Only before this process agreed: housekeeping keeps the largest count
        // for a dedup window after an operator lowered it, and a key lost since (a failover)
        // must not stop a fleet that agreed; it is written again.
        if self.agreed.get().is_none() {
            let seen: Vec<String> = redis::cmd("HVALS")
                .arg(keys::known_routes(&self.prefix))
                .query_async(&mut con)
                .await?;
            if let Some(most) = seen.iter().filter_map(|v| v.parse::<u16>().ok()).max()
                && most > self.shards
            {
                return Ok(Some(most.to_string()));
            }
        }
        // The first replica's count holds; another may have written its own meanwhile.
        let _: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&ours)
            .arg("NX")
            .query_async(&mut con)
            .await?;
        let have: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut con).await?;
        Ok(have.filter(|h| *h != ours))
    }

    fn stop(&self, theirs: &str) -> ! {
        tracing::error!(
            key = %keys::shard_count(&self.prefix),
            "store.shards = {} but this Redis holds the fleet's events in {theirs} shard(s) per route: with another count duplicates pass and, with fewer, events are never delivered. Set store.shards = {theirs}; to change it, drain the queue first, then write the new count to the key",
            self.shards
        );
        super::exit_for_config()
    }
}
