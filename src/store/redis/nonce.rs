//! Single-use values of verification schemes (Mailgun's `token`, PayPal's transmission id),
//! shared by every replica: `prefix:{nonce:<scope>:<nonce>}` holds the binding (a digest of the
//! request) with `PX` = ttl (a hash tag of its own: nonces spread over a cluster's slots). The
//! scope names the signing key (or PayPal's webhook), not the route, so routes sharing a key share
//! the claims.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::{RedisStore, replicas, unavailable};
use crate::store::{Nonces, StoreError};

/// KEYS: the nonce. ARGV: binding, ttl_ms. Returns 2 when the nonce is new (now recorded), 1
/// when held with this binding, 0 when held with another. One atomic step, so two replicas
/// cannot both take a nonce for different requests.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local held = redis.call('GET', KEYS[1])
if held then
  if held == ARGV[1] then return 1 end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
"#,
    )
});

#[async_trait]
impl Nonces for RedisStore {
    async fn claim_nonce(
        &self,
        scope: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = format!("{}:{{nonce:{scope}:{nonce}}}", self.prefix);
        let con = self.con();
        let r: i64 = CLAIM
            .key(&key)
            .arg(binding)
            .arg((ttl.as_millis() as u64).max(1))
            .invoke_async(&mut con.clone())
            .await
            .map_err(unavailable)?;
        // The claim's slot is its own (in a cluster, often another master than the event's):
        // with `replica_acks`, its replicas must have it before the request is let on, or a
        // failover could forget it and let the nonce carry another body.
        if r != 0 && self.replica_acks > 0 {
            replicas::confirm_at(&con, &format!("{key}:ack"), r == 2, self.replica_acks)
                .await
                .map_err(StoreError::Unavailable)?;
        }
        Ok(r != 0)
    }
}
