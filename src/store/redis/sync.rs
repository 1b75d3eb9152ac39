//! Sync routes' claims and answers: `{tag}:a:<event id>`, a string holding a
//! `store::sync_record` (the request's digest, and the answer once there is one), with `PX`.

use std::time::Duration;

use async_trait::async_trait;

use super::{RedisStore, unavailable};
use crate::store::{RequestDigest, StoreError, SyncAnswer, SyncAnswers, SyncSlot, sync_record};

#[async_trait]
impl SyncAnswers for RedisStore {
    async fn sync_claim(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        ttl: Duration,
    ) -> Result<SyncSlot, StoreError> {
        let sh = self.shard(route, event_id);
        let key = sh.answer(event_id);
        let claimed: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(sync_record::claim(digest))
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        if claimed.is_some() {
            // Lost in a failover, the claim would let a duplicate call the upstream again.
            if let Err(e) = self.confirm_change(&sh).await {
                // Not acted on: given back, so that the sender's retry claims it afresh
                // instead of waiting for an answer that will not come (else it expires).
                let _ = redis::cmd("DEL")
                    .arg(&key)
                    .query_async::<()>(&mut self.con())
                    .await;
                return Err(e);
            }
            return Ok(SyncSlot::New);
        }
        let held: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        // Gone in between (expired, given up): the caller looks again and claims it then.
        Ok(held
            .as_deref()
            .and_then(|h| sync_record::slot(h, digest))
            .unwrap_or(SyncSlot::InProgress))
    }

    async fn sync_finish(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        answer: Option<SyncAnswer>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let sh = self.shard(route, event_id);
        let key = sh.answer(event_id);
        let cmd = match answer {
            Some(a) => {
                let mut c = redis::cmd("SET");
                c.arg(&key)
                    .arg(sync_record::answer(digest, &a))
                    .arg("PX")
                    .arg(ttl.as_millis() as u64);
                c
            }
            None => {
                let mut c = redis::cmd("DEL");
                c.arg(&key);
                c
            }
        };
        cmd.query_async::<()>(&mut self.con())
            .await
            .map_err(unavailable)?;
        // Lost in a failover, the stored answer would let a duplicate call the upstream again.
        self.confirm_change(&sh).await
    }
}
