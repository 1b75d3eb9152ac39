//! Taking events in: one script accepts (dedup key, event hash, `XADD`) in one round trip.
//! Dedup entries are fixed-width members of per-span sets (`scripts::ACCEPT`); the keys
//! earlier versions wrote are checked too, so a fleet upgraded replica by replica forgets no ID.

use async_trait::async_trait;

use super::fields::encode_headers;
use super::scripts::ACCEPT;
use super::{RedisStore, unavailable};
use crate::event::NewEvent;
use crate::store::{Accepted, Intake, StoreError};

#[async_trait]
impl Intake for RedisStore {
    async fn accept(&self, ev: NewEvent) -> Result<Accepted, StoreError> {
        let sh = self.home(&ev);
        let mut invocation = ACCEPT.key(sh.legacy_dedup(&ev.event_id));
        invocation
            .key(sh.event(&ev.event_id))
            .key(sh.stream())
            .key(sh.pending())
            .key(sh.dead())
            .key(sh.archived())
            .key(sh.archive_counter())
            .key(sh.archives_of(&ev.event_id))
            .key(sh.listing())
            .key(sh.done());
        if let Some(k) = &ev.order_key {
            invocation.key(sh.line(k));
        }
        invocation
            .arg(ev.dedup_ttl.as_millis() as u64)
            .arg(&ev.event_id)
            .arg(ev.received_at_ms)
            .arg(ev.client_ip.to_string())
            .arg(&ev.target)
            .arg(encode_headers(&ev.headers))
            .arg(ev.body.as_ref())
            .arg(self.max_per_shard)
            .arg(ev.order_key.as_deref().unwrap_or_default())
            .arg(sh.archive_prefix())
            .arg(&ev.verification)
            .arg(sh.dedup_prefix())
            .arg(sh.dedup_member(&ev.event_id));
        let r: i64 = invocation
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        match r {
            1 => {
                self.work.notify_one();
                Ok(Accepted::New)
            }
            0 => Ok(Accepted::Duplicate),
            _ => Err(StoreError::Full(
                self.max_per_shard * u64::from(self.shards),
            )),
        }
    }
}
