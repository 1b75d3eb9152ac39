//! The routes the fleet's live replicas configure. During a rollout that adds a route, the
//! replicas still on the old config do not configure it: to them its events looked stranded
//! (the warning, `hookgate_stranded_events`, and with `server.stranded_dead_after` their dead
//! letters, though the new replicas were delivering them). So each replica says which routes
//! it configures — at each look for stranded events (every 10 s, and at once after a reload),
//! and again with every heartbeat — and hears which the others do: a route another live
//! replica configures is not stranded. A replica's word lasts `claim_after` (Redis' clock), as
//! its consumer name's hold: a replica that died stops counting within that; a clean stop
//! takes it back at once.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use redis::Script;

use super::conn::Timed;
use super::{RedisStore, keys, lock, unavailable};
use crate::store::StoreError;

/// KEYS: the fleet's routes (`prefix:live-routes`: members `<consumer>\n<route>`, each scored
/// with when it lapses). ARGV: this consumer, the hold (ms), its routes. Notes them for the
/// hold (Redis' clock: the same for all), forgets members that lapsed an hour ago, and returns
/// the routes other consumers' live members name.
static SAY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- The forgetting first: it is not flagged DENYOOM, and Redis refuses a script's first DENYOOM
-- write (the ZADD) while over maxmemory, never a later one.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - 3600000))
local me = ARGV[1] .. '\n'
local untl = string.format('%d', now + tonumber(ARGV[2]))
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], untl, me .. ARGV[i]) end
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], '(' .. string.format('%d', now), '+inf',
    'BYSCORE')) do
  -- Route names have no line break; a consumer name may.
  local who, route = string.match(m, '^(.*\n)([^\n]*)$')
  if who and who ~= me then out[#out + 1] = route end
end
return out
"#,
    )
});

/// The routes this replica said it configures last: said again with each heartbeat, taken
/// back at a clean stop.
#[derive(Default)]
pub(super) struct Said(Mutex<Vec<String>>);

impl Said {
    fn routes(&self) -> Vec<String> {
        lock(&self.0).clone()
    }
}

/// Says `routes` for `hold`; returns the routes other live consumers configure.
async fn say(
    con: &Timed,
    prefix: &str,
    consumer: &str,
    routes: &[String],
    hold: Duration,
) -> redis::RedisResult<Vec<String>> {
    let mut call = SAY.key(keys::live_routes(prefix));
    call.arg(consumer).arg(hold.as_millis() as u64);
    for r in routes {
        call.arg(r);
    }
    call.invoke_async(&mut con.clone()).await
}

/// With each heartbeat: what this replica said last, said again (nothing before its first
/// look for stranded events).
pub(super) async fn say_again(
    con: &Timed,
    prefix: &str,
    consumer: &str,
    said: &Arc<Said>,
    hold: Duration,
) {
    let routes = said.routes();
    if routes.is_empty() {
        return;
    }
    if let Err(e) = say(con, prefix, consumer, &routes, hold).await {
        tracing::debug!(error = %e, "saying this replica's routes failed");
    }
}

impl RedisStore {
    /// Says that this replica configures `configured`; returns the routes other live replicas
    /// configure (`RouteOverrides::routes_elsewhere`).
    pub(super) async fn say_routes(
        &self,
        configured: &[String],
    ) -> Result<Vec<String>, StoreError> {
        *lock(&self.said.0) = configured.to_vec();
        let mut elsewhere = say(
            &self.con(),
            &self.prefix,
            &self.consumer,
            configured,
            self.claim_after,
        )
        .await
        .map_err(unavailable)?;
        elsewhere.sort();
        elsewhere.dedup();
        Ok(elsewhere)
    }

    /// Takes back what this replica said (a clean stop): its routes no longer count as
    /// configured once it is gone.
    pub(super) async fn unsay_routes(&self) {
        let said = std::mem::take(&mut *lock(&self.said.0));
        if said.is_empty() {
            return;
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(keys::live_routes(&self.prefix));
        for r in &said {
            cmd.arg(format!("{}\n{r}", self.consumer));
        }
        if let Err(e) = cmd.query_async::<i64>(&mut self.con()).await {
            tracing::debug!(error = %e, "taking back this replica's routes failed");
        }
    }
}
