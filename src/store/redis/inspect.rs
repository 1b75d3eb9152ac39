//! What the admin API reads, and periodic upkeep (forgetting replicas gone for good).

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::fields::Fields;
use super::scripts::{FORGET_CONSUMER, INDEX_PIN, READ};
use super::take::first_fields;
use super::{GROUP, RedisStore, Shard, keys, lock, unavailable};
use crate::event::now_ms;
use crate::store::{
    EventDetail, EventFilter, EventView, Inspect, Page, RouteStats, State, StoreError, Upkeep,
};

/// Consumers (replicas) gone this long with nothing pending are removed from the group.
const FORGET_CONSUMER_AFTER: Duration = Duration::from_secs(3600);

/// A lean entry's fields as a pending record's.
fn as_pending(mut f: Fields) -> Fields {
    f.insert("st", &b"p"[..]);
    if let Some(id) = f.remove("i") {
        f.insert("id", id);
    }
    f
}

impl RedisStore {
    pub(super) fn view(
        &self,
        shard: &Shard,
        route: &str,
        event_id: &str,
        f: &Fields,
        now: u64,
    ) -> EventView {
        // Leased and not handed back (held still, but waiting to be handed out again).
        let in_flight = lock(&self.leases)
            .values()
            .any(|l| l.event_id == event_id && l.shard.same_keys(shard))
            && !self.is_handed_back(route, event_id);
        // Not stored until the first retry: until then it is the received time.
        let due = f.num("due").or_else(|| f.num("rcv"));
        let state = match f.text("st").as_deref() {
            Some("d") => State::Delivered,
            Some("x") => State::Dead,
            _ if in_flight => State::InFlight,
            _ if due.is_some_and(|d| d > now) => State::Scheduled,
            _ => State::Pending,
        };
        EventView {
            route: route.to_string(),
            event_id: event_id.to_string(),
            state,
            attempts: f.num("att").unwrap_or(0) as u32,
            replays: f.num("rep").unwrap_or(0) as u32,
            last_error: f.text("err"),
            last_status: f.num("sts").map(|s| s as u16),
            received_at_ms: f.num("rcv").unwrap_or(0),
            next_attempt_at_ms: (state != State::Delivered && state != State::Dead)
                .then(|| due.unwrap_or(0)),
            finished_at_ms: f.num("fin"),
            // A pending event's body may be in its stream entry: its length is in the record.
            body_bytes: match f.get("body") {
                Some(b) => b.len(),
                None if state != State::Delivered => f.num("bl").unwrap_or(0) as usize,
                None => 0,
            },
            copy: None,
        }
    }

    /// A pending event's body and headers from its stream entry, where the entry carries
    /// them (`se` in the record) rather than the record.
    pub(super) async fn carried_body(&self, sh: &Shard, f: &mut Fields) -> Result<(), StoreError> {
        let Some(entry) = f.text("se") else {
            return Ok(());
        };
        if f.text("st").as_deref() != Some("p") || f.contains("body") {
            return Ok(());
        }
        let v: Value = redis::cmd("XRANGE")
            .arg(sh.stream())
            .arg(&entry)
            .arg(&entry)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        if let Some(mut carried) = first_fields(v) {
            for k in ["body", "hdr"] {
                if let Some(v) = carried.remove(k) {
                    f.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// An event's record; for one waiting in the lean stream, what its entry carries; for one
    /// delivered from it at its first attempt, its packed record. Read at once (`READ`): an
    /// outcome recorded meanwhile moves the event from one to another.
    pub(super) async fn event_fields(
        &self,
        sh: &Shard,
        event_id: &str,
    ) -> Result<Fields, StoreError> {
        let found: Vec<Value> = READ
            .key(sh.event(event_id))
            .key(sh.index())
            .key(sh.packed(event_id))
            .key(sh.lean().stream())
            .arg(event_id)
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let mut found = found.into_iter();
        let (Some(record), Some(entry), Some(packed)) = (found.next(), found.next(), found.next())
        else {
            return Ok(Fields::default());
        };
        if let Value::Array(_) = entry {
            return Ok(as_pending(Fields::from_value(entry)));
        }
        Ok(match redis::from_redis_value::<Option<Vec<u8>>>(packed) {
            Ok(Some(z)) => Fields::from_packed(&z),
            _ => Fields::from_value(record),
        })
    }

    /// What lean entries carry, as the fields of a pending record (`None`: the entry is gone).
    pub(super) async fn lean_fields(
        &self,
        entries: &[(Shard, String)],
    ) -> Result<Vec<Option<Fields>>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (sh, e) in entries {
            pipe.cmd("XRANGE").arg(sh.lean().stream()).arg(e).arg(e);
        }
        let found: Vec<Value> = pipe
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        Ok(found
            .into_iter()
            .map(|v| first_fields(v).map(as_pending))
            .collect())
    }
}

#[async_trait]
impl Inspect for RedisStore {
    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError> {
        let now = now_ms();
        let mut out = Vec::new();
        for route in routes {
            for sh in self.candidates(route, event_id) {
                let f = self.event_fields(&sh, event_id).await?;
                if !f.is_empty() {
                    out.push(self.view(&sh, route, event_id, &f, now));
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Also the routes the fleet remembers (`prefix:routes`) that hold events: a route removed
    /// before this process started (a rollout dropped it, the replicas that had it are gone)
    /// is reported stranded here too, not forgotten.
    async fn stats(&self, routes: &[String]) -> Result<Vec<RouteStats>, StoreError> {
        let known: Vec<String> = redis::cmd("HKEYS")
            .arg(keys::known_routes(&self.prefix))
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let others = known.iter().filter(|r| !routes.contains(r));
        let mut all = self.route_stats(routes.iter().chain(others)).await?;
        all.retain(|s| routes.contains(&s.route) || holds(s));
        Ok(all)
    }

    async fn list(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.list_page(filter, after, limit).await
    }

    async fn detail(
        &self,
        routes: &[String],
        event_id: &str,
    ) -> Result<Vec<EventDetail>, StoreError> {
        self.details(routes, event_id).await
    }

    fn ready(&self) -> bool {
        self.health.ready(crate::event::now_ms())
    }
}

fn holds(s: &RouteStats) -> bool {
    s.pending > 0 || s.dead > 0
}

impl RedisStore {
    /// Whether `route` holds events: waiting ones or dead letters.
    pub(super) async fn holds_events(&self, route: &String) -> Result<bool, StoreError> {
        Ok(self
            .route_stats(std::iter::once(route))
            .await?
            .first()
            .is_some_and(holds))
    }

    /// The figures of `routes`, in their order.
    async fn route_stats<'a>(
        &self,
        routes: impl Iterator<Item = &'a String> + Clone,
    ) -> Result<Vec<RouteStats>, StoreError> {
        let mut pipe = redis::pipe();
        for route in routes.clone() {
            for (_, sh) in self.shards_of(route) {
                pipe.zcard(sh.pending())
                    .cmd("ZRANGE")
                    .arg(sh.pending())
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES")
                    .zcard(sh.dead())
                    .zcard(sh.archived())
                    .hlen(sh.index())
                    .hexists(sh.index(), INDEX_PIN)
                    .cmd("XRANGE")
                    .arg(sh.lean().stream())
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(1);
            }
        }
        let values: Vec<Value> = pipe
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let mut it = values.into_iter();
        let mut out = Vec::new();
        for route in routes {
            let mut st = RouteStats {
                route: route.clone(),
                ..RouteStats::default()
            };
            for _ in 0..self.shards {
                let (
                    Some(pending),
                    Some(oldest),
                    Some(dead),
                    Some(archived),
                    Some(lean),
                    Some(pin),
                    Some(first),
                ) = (
                    it.next(),
                    it.next(),
                    it.next(),
                    it.next(),
                    it.next(),
                    it.next(),
                    it.next(),
                )
                else {
                    break;
                };
                // The index's fields, but for its pin (`scripts::INDEX_PIN`).
                let indexed = redis::from_redis_value::<u64>(lean)
                    .unwrap_or(0)
                    .saturating_sub(redis::from_redis_value::<u64>(pin).unwrap_or(0));
                st.pending += redis::from_redis_value::<u64>(pending).unwrap_or(0) + indexed;
                // The lean stream's first entry is its oldest waiting event (entries before
                // the oldest one pending are trimmed as outcomes are recorded).
                if let Some(t) = first_fields(first).and_then(|f| f.num("rcv")) {
                    st.oldest_received_ms = Some(st.oldest_received_ms.map_or(t, |o| o.min(t)));
                }
                st.dead += redis::from_redis_value::<u64>(dead).unwrap_or(0)
                    + redis::from_redis_value::<u64>(archived).unwrap_or(0);
                let oldest: Vec<(String, u64)> =
                    redis::from_redis_value(oldest).unwrap_or_default();
                if let Some((_, t)) = oldest.first() {
                    st.oldest_received_ms = Some(st.oldest_received_ms.map_or(*t, |o| o.min(*t)));
                }
            }
            out.push(st);
        }
        Ok(out)
    }
}

#[async_trait]
impl Upkeep for RedisStore {
    async fn housekeeping(&self, routes: &[String], _now: u64) -> Result<u64, StoreError> {
        // Dedup sets past their window unlinked (not left to expire: see `ACCEPT`), the
        // listing swept, replicas gone for good forgotten.
        let mut removed = self.unlink_dedup_sets(routes).await?;
        for route in routes {
            let shards = self.shards_of(route).map(|(_, sh)| sh);
            for sh in shards.flat_map(|sh| [sh.earlier(), sh.lean(), sh]) {
                if !sh.is_earlier() && !sh.is_lean() {
                    self.sweep_listing(&sh).await?;
                }
                let consumers: Value = match redis::cmd("XINFO")
                    .arg("CONSUMERS")
                    .arg(sh.stream())
                    .arg(GROUP)
                    .query_async(&mut self.con())
                    .await
                {
                    Ok(v) => v,
                    Err(e)
                        if e.to_string().contains("NOGROUP")
                            || e.to_string().contains("no such key") =>
                    {
                        continue;
                    }
                    Err(e) => return Err(unavailable(e)),
                };
                let Value::Array(list) = consumers else {
                    continue;
                };
                for c in list {
                    let f = Fields::from_value(c);
                    let (Some(name), Some(pending), Some(idle)) =
                        (f.text("name"), f.num("pending"), f.num("idle"))
                    else {
                        continue;
                    };
                    if name != self.consumer
                        && pending == 0
                        && idle > FORGET_CONSUMER_AFTER.as_millis() as u64
                    {
                        // Checked again and removed in one step: it may have read since.
                        let forgotten: i64 = FORGET_CONSUMER
                            .key(sh.stream())
                            .arg(GROUP)
                            .arg(&name)
                            .invoke_async(&mut self.con())
                            .await
                            .map_err(unavailable)?;
                        removed += forgotten as u64;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Lets go of the consumer name (a restart of this replica resumes its deliveries at
    /// once) and takes back its routes (`live_routes`).
    async fn close(&self) {
        self.unsay_routes().await;
        self.name.let_go(&self.con()).await;
    }
}
