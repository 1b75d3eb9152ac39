//! Where else a route's events may be. An event lives in its order key's shard, else in its
//! ID's (`RedisStore::home`), and each shard's intake script dedups only its own events. Two
//! things put a sender's copy of an event in another shard than the one that took it:
//!
//! - The route has an order key. The key is the sender's (a `header:` one is not even signed):
//!   a copy sent again under another key, or without it, lands in another shard. So every
//!   group of such a route asks the route's other shards (`scripts::KNOWN`) before it is
//!   accepted in its own.
//! - A reload or restart added, dropped or changed the route's `order_key`: its events move.
//!   So the fleet keeps each route's order-key setting in Redis (`prefix:order-keys`: route →
//!   how long its last change still matters, and the setting). A replica whose setting differs
//!   notes the change; until the dedup window of the events accepted before it has passed,
//!   every replica asks the route's other shards too.
//!
//! The question and the accept are two steps (in a Redis Cluster the shards are on other
//! masters: no one script sees them all), so two copies taken at the same time in two shards
//! may both be new: `in_flight` has the copies of one replica take turns; between replicas
//! the window remains (a lookup and an accept, about two round trips).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use redis::Script;

use super::conn::Timed;
use super::keys::Shard;
use super::lock;
use super::scripts::KNOWN;
use crate::event::NewEvent;
use crate::routing::UNORDERED;

/// How long a replica trusts what it last read of a route's setting: another replica's change
/// is seen within this (copies arriving at this replica meanwhile are looked up in their new
/// shard only).
const REREAD: Duration = Duration::from_secs(5);

/// KEYS: `prefix:order-keys`. ARGV: the route, this replica's setting (`""`: not known, read
/// only), the window in ms. Notes a setting that differs from the fleet's, with the time its
/// change stops mattering (Redis' clock, the same for all); returns the ms it still matters
/// (≤ 0: not) and the fleet's setting.
static NOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HGET', KEYS[1], ARGV[1])
local till, was = 0, nil
if v then
  local a, b = string.match(v, '^(%d+)\n(.*)$')
  till, was = tonumber(a) or 0, b
end
local mine = ARGV[2]
if mine ~= '' and was ~= mine then
  -- A route seen for the first time has moved nothing.
  if was then till = math.max(till, now + tonumber(ARGV[3])) end
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', till) .. '\n' .. mine)
  was = mine
end
return {string.format('%d', till - now), was or ''}
"#,
    )
});

struct Seen {
    setting: String,
    until: Instant,
    read: Instant,
}

pub(super) struct Rehome {
    key: String,
    prefix: String,
    shards: u16,
    seen: Mutex<HashMap<String, Seen>>,
}

impl Rehome {
    pub(super) fn new(prefix: &str, shards: u16) -> Rehome {
        Rehome {
            key: format!("{prefix}:order-keys"),
            prefix: prefix.to_string(),
            shards,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a group of `route`'s events (the first, `ev`) must be looked up in the route's
    /// other shards too: the route has an order key (as `ev` says, else as the fleet last
    /// noted; not known: looked up), or its setting changed within the dedup window (`ttl_ms`).
    async fn elsewhere(&self, con: &Timed, ev: &NewEvent, ttl_ms: u64) -> Result<bool, String> {
        if self.shards <= 1 {
            return Ok(false);
        }
        let mine = ev.order_config.as_deref().unwrap_or("");
        if let Some(s) = lock(&self.seen).get(&ev.route)
            && s.read.elapsed() < REREAD
            && (mine.is_empty() || s.setting == mine)
        {
            return Ok(s.setting != UNORDERED || s.until > Instant::now());
        }
        // IDs accepted just before the change stay in their sets for the window and one set's
        // span more (under a quarter of it).
        let (left_ms, setting): (String, String) = NOTE
            .key(&self.key)
            .arg(&ev.route)
            .arg(mine)
            .arg(ttl_ms + ttl_ms / 4)
            .invoke_async(&mut con.clone())
            .await
            .map_err(|e| format!("redis: {e}"))?;
        let left = left_ms.parse::<i64>().unwrap_or(0).max(0) as u64;
        let now = Instant::now();
        let ordered = setting != UNORDERED;
        lock(&self.seen).insert(
            ev.route.clone(),
            Seen {
                setting,
                until: now + Duration::from_millis(left),
                read: now,
            },
        );
        Ok(ordered || left > 0)
    }

    /// Which of `events` (all of `home`'s route, under one dedup TTL) another shard of the route
    /// knows: accepted there (under another order key, or before the route's order-key setting
    /// changed), within its window or still pending. Nothing for a route without an order key
    /// whose setting has not changed: its events are all in their IDs' shards.
    pub(super) async fn known_elsewhere(
        &self,
        con: &Timed,
        home: &Shard,
        events: &[&NewEvent],
        ttl_ms: u64,
    ) -> Result<Vec<bool>, String> {
        let mut known = vec![false; events.len()];
        let Some(first) = events.first() else {
            return Ok(known);
        };
        // The setting is read (and noted) whatever the events carry: a later change must
        // know it.
        let elsewhere = self.elsewhere(con, first, ttl_ms).await?;
        if !elsewhere && events.iter().all(|ev| ev.order_key.is_none()) {
            return Ok(known);
        }
        let others = (0..self.shards)
            .map(|i| Shard::new(&self.prefix, &first.route, i))
            .filter(|sh| !sh.same_keys(home))
            .map(|sh| async move {
                let mut ask = KNOWN.key(sh.listing());
                ask.key(sh.index()).arg(sh.key_prefix()).arg(ttl_ms);
                for ev in events {
                    ask.arg(&ev.event_id);
                }
                for ev in events {
                    ask.arg(sh.dedup_member(&ev.event_id));
                }
                ask.invoke_async::<Vec<i64>>(&mut con.clone()).await
            });
        for answer in futures_util::future::join_all(others).await {
            let answer = answer.map_err(|e| format!("redis: {e}"))?;
            for (k, a) in known.iter_mut().zip(answer) {
                *k |= a == 1;
            }
        }
        Ok(known)
    }
}
