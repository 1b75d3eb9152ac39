//! What in Redis' own configuration breaks the 2xx promise, looked at when the store first
//! reaches Redis and every minute after (a `CONFIG SET` changes it live), on every master:
//!
//! - `eviction`: a `maxmemory` with a policy other than `noeviction` lets Redis drop keys when
//!   full (the events' streams, records and dedup sets among them), so acked events can vanish
//!   and duplicates pass. With `noeviction` a full Redis refuses writes instead: the store
//!   answers 503 (or spills), and nothing acked is lost.
//! - `no_aof`: without the append-only file a Redis restart loses what was written since its
//!   last snapshot.
//!
//! - `unknown`: Redis refuses `INFO` (in ACL category `@dangerous`, which a hardened user
//!   often lacks): neither of the above can be seen, so neither can be ruled out. Before, the
//!   check returned without a word and both gauges read 0, "no risk".
//!
//! Each is logged once when it appears (with the node's setting) and shown by
//! `hookgate_redis_config_risk{risk}`; nothing is refused (which Redis to run is the
//! operator's call, but not a silent one).

use std::collections::BTreeMap;
use std::sync::Arc;

use redis::Value;

use super::conn::Timed;
use super::health::Health;
use super::probe::is_refusal;
use crate::metrics::METRICS;
use crate::metrics::redis::REDIS_RISKS;

/// The risks found, each with what the node said (`maxmemory-policy allkeys-lru`, ...).
pub(super) type Found = BTreeMap<&'static str, String>;

/// The risks of one node's `INFO memory persistence` text.
fn of_node(info: &str, found: &mut Found) {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let limit = field("maxmemory").and_then(|v| v.parse::<u64>().ok());
    if let (Some(limit), Some(policy)) = (limit, field("maxmemory_policy"))
        && limit > 0
        && policy != "noeviction"
    {
        found.insert(
            "eviction",
            format!("maxmemory {limit} bytes, maxmemory-policy {policy}"),
        );
    }
    if field("aof_enabled") == Some("0") {
        found.insert("no_aof", "appendonly no".into());
    }
}

/// Every node's `INFO` text in a reply: one string, or (a cluster) one per master.
fn texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::VerbatimString { text, .. } | Value::SimpleString(text) => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|i| texts(i, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(_, i)| texts(i, out)),
        _ => {}
    }
}

/// The risks in a reply to `INFO memory persistence`.
pub(super) fn parse(reply: &Value) -> Found {
    let mut all = Vec::new();
    texts(reply, &mut all);
    let mut found = Found::new();
    for text in &all {
        of_node(text, &mut found);
    }
    found
}

/// Looks, sets the gauge, and logs each risk that was not there at the last look (`last`);
/// a look that gets no answer changes nothing.
pub(super) async fn check(conn: &Timed, last: &mut Option<Found>) {
    // INFO is hookgate's own look, not a command events need: its refusal must not make the
    // store not ready (`Health::saw_answer`), so it goes past the store's health.
    let mut quiet = Timed {
        health: Arc::new(Health::new()),
        ..conn.clone()
    };
    let reply = redis::cmd("INFO")
        .arg("memory")
        .arg("persistence")
        .query_async::<Value>(&mut quiet)
        .await;
    let found = match reply {
        Ok(reply) => parse(&reply),
        Err(e) if is_refusal(e.code(), &e.to_string()) => {
            Found::from([("unknown", format!("INFO refused: {e}"))])
        }
        Err(_) => return,
    };
    for risk in REDIS_RISKS {
        let on = found.contains_key(risk);
        METRICS
            .redis
            .config_risk
            .with_label_values(&[risk])
            .set(i64::from(on));
        let new = last.as_ref().is_none_or(|l| !l.contains_key(risk));
        match (found.get(risk), risk) {
            (Some(what), "eviction") if new => tracing::warn!(
                setting = %what,
                "redis may evict keys when full: acked events can be lost and duplicates pass; set maxmemory-policy noeviction"
            ),
            (Some(what), "unknown") if new => tracing::warn!(
                error = %what,
                "cannot read redis' INFO: whether it may evict keys when full or runs without its append-only file is unknown; allow INFO to hookgate's redis user (+info), or check maxmemory-policy noeviction and appendonly yes by hand"
            ),
            (Some(what), _) if new => tracing::warn!(
                setting = %what,
                "redis runs without its append-only file: a restart loses the events it took since its last snapshot; set appendonly yes"
            ),
            _ => {}
        }
    }
    *last = Some(found);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(s: &str) -> Value {
        Value::BulkString(s.replace(' ', "\r\n").into_bytes())
    }

    #[test]
    fn eviction_needs_a_limit_and_a_policy_that_evicts() {
        let risks = |s: &str| parse(&info(s)).into_keys().collect::<Vec<_>>();
        assert!(risks("maxmemory:0 maxmemory_policy:allkeys-lru aof_enabled:1").is_empty());
        assert!(risks("maxmemory:1000 maxmemory_policy:noeviction aof_enabled:1").is_empty());
        assert_eq!(
            risks("maxmemory:1000 maxmemory_policy:volatile-lru aof_enabled:1"),
            ["eviction"]
        );
        assert_eq!(
            risks("maxmemory:1000 maxmemory_policy:allkeys-lru aof_enabled:0"),
            ["eviction", "no_aof"]
        );
        // What a field's name starts with is not it (`maxmemory_human`).
        assert!(risks("maxmemory_human:1K maxmemory:0 aof_enabled:1").is_empty());
    }

    #[test]
    fn a_cluster_reply_is_read_node_by_node() {
        let reply = Value::Map(vec![
            (
                Value::SimpleString("a:7000".into()),
                info("maxmemory:0 maxmemory_policy:noeviction aof_enabled:1"),
            ),
            (
                Value::SimpleString("b:7001".into()),
                info("maxmemory:10 maxmemory_policy:allkeys-random aof_enabled:1"),
            ),
        ]);
        let found = parse(&reply);
        assert_eq!(
            found.get("eviction").map(String::as_str),
            Some("maxmemory 10 bytes, maxmemory-policy allkeys-random")
        );
    }
}
