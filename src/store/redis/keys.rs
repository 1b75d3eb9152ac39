//! Key layout. Every key of one route shard starts `prefix:{route:shard}` (the hash tag is the
//! braced part: `CLUSTER KEYSLOT` of `route:shard` names its slot), so the
//! scripts that touch several of them run on one Redis Cluster node, while different routes
//! and shards spread over the cluster.
//!
//! | key | type | |
//! |---|---|---|
//! | `{tag}:v` | stream, group `hookgate` | events without an order key at their first attempt, each carried whole by its entry (`i` the ID, `m` the rest packed, `hdr`, `body`): no record while they wait (`lean`) |
//! | `{tag}:i` | hash | those events: event ID → entry ID (pending, the bound, the listing, a cancel) |
//! | `{tag}:c` | stream, group `hookgate` | the other events due now: an entry written at intake (an order line's first) carries the event (ID, body, headers, received time, client IP, target, order key), one written later (a retry, the next of an order line, a replay) only its ID |
//! | `{tag}:s` | stream, group `hookgate` | the stream of earlier versions (entries hold the event ID): still read and drained, no longer written |
//! | `{tag}:z` | sorted set, score = due ms | scheduled retries |
//! | `{tag}:o` | sorted set, score = received ms | every undelivered event with a record (queue depth, oldest; with `i`) |
//! | `{tag}:x` | sorted set, score = dead ms | the dead-letter queue |
//! | `{tag}:t` | sorted set, score = received ms | every event's ID while its hash lives (the events listing; entries of expired hashes are swept) |
//! | `{tag}:k:<w>:<n>` | set, unlinked by housekeeping at the end of its span + the dedup TTL (its expiry a fallback 10 minutes later) | dedup: the IDs accepted during the `n`th span of `w` ms, each as 12 bytes (SHA-256 of the tag and the event ID, cut to 96 bits) |
//! | `{tag}:ks` | sorted set, score = end ms | the shard's dedup sets by the end of their window (what housekeeping unlinks) |
//! | `{tag}:d:<event id>` | string, PX = dedup TTL | the dedup key of earlier versions: still honoured, no longer written |
//! | `{tag}:f` | sorted set, score = expiry ms | delivered events whose record expires then (to drop them from `t`) |
//! | `{tag}:e:<event id>` | hash | the event once it has one: state, attempts, last error, order key, body length; body and headers while its stream entry does not carry them (`se`: the entry that does); once delivered, without body and headers, for `record_ttl` |
//! | `{tag}:r:<event id>` | string, PXAT | the record of an event of `v` delivered at its first attempt, packed (what its entry carried but body and headers, and the attempt), for `record_ttl` |
//! | `{tag}:q:<order key>` | list | undelivered event IDs of one order key, in arrival order; only the first is in the stream |
//! | `{tag}:a:<event id>` | string, PX | a sync route's answer (empty while the upstream is being called) |
//! | `{tag}:g:<n>` | hash | a dead letter whose ID was accepted again after its dedup window (as `e:`) |
//! | `{tag}:y` | sorted set, score = dead ms | those dead letters, by number `n` |
//! | `{tag}:w:<event id>` | set | their numbers, by event ID (to replay one by ID) |
//! | `{tag}:n` | counter | the last number given |
//! | `prefix:route-states` | hash | routes paused or resumed through the admin API |
//! | `prefix:consumer:<name>` | string, `PX claim_after` | the live process that holds a consumer name (`consumer_name`): host, pid, start |
//! | `prefix:claim-afters` | sorted set | the live replicas' `claim_after`s (ms), each scored with when its last replica stops counting: a takeover waits for the longest |
//! | `prefix:shards` | string | `store.shards` of the fleet, written by the first replica; one with another count stops |
//! | `prefix:live-routes` | sorted set, score = when it lapses (ms) | `<consumer>\n<route>`: the routes each live replica configures (`live_routes`), so that a route another replica configures is not stranded to one that does not (a rollout adding it) |
//! | `prefix:routes` | hash | route → shard count: every route housekeeping saw configured; whose dedup sets it unlinks, and whose events a replica that does not configure it reports stranded; a removed route stays until it has neither |
//!
//! An event with an order key lives in the shard of its order key (so that its line, its
//! dedup key and itself share a node); other events in the shard of their ID.

use sha2::{Digest, Sha256};

/// FNV-1a: stable across builds and replicas (unlike std's hasher), to pick an event's shard.
pub fn shard_of(event_id: &str, shards: u16) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in event_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(shards.max(1))) as u16
}

/// Which of a shard's streams a `Shard` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stream {
    /// `c`: order lines, retries, replays, and whatever earlier releases of this layout wrote.
    Current,
    /// `s`: the earlier versions' stream (entries carry only the event ID): drained, never
    /// written.
    Earlier,
    /// `v`: events whose entry is their only state until their first outcome.
    Lean,
}

/// A shard's keys, seen through one of its streams (`stream()`); every other key is shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shard {
    tag: String,
    stream: Stream,
}

impl Shard {
    pub fn new(prefix: &str, route: &str, shard: u16) -> Shard {
        Shard {
            // `prefix:{route:shard}`, made per accept (`format!` costs ~4 times this).
            tag: [
                prefix,
                ":{",
                route,
                ":",
                itoa::Buffer::new().format(shard),
                "}",
            ]
            .concat(),
            stream: Stream::Current,
        }
    }

    fn through(&self, stream: Stream) -> Shard {
        Shard {
            tag: self.tag.clone(),
            stream,
        }
    }

    /// The same shard, reading the earlier versions' stream.
    pub fn earlier(&self) -> Shard {
        self.through(Stream::Earlier)
    }

    /// The same shard, reading the stream of events kept only as their entry.
    pub fn lean(&self) -> Shard {
        self.through(Stream::Lean)
    }

    pub fn is_earlier(&self) -> bool {
        self.stream == Stream::Earlier
    }

    pub fn is_lean(&self) -> bool {
        self.stream == Stream::Lean
    }

    /// The same keys (any stream).
    pub fn same_keys(&self, other: &Shard) -> bool {
        self.tag == other.tag
    }

    /// `{tag}:` and `parts`. Keys are made per call and per event: without `format!`'s
    /// machinery, each is one allocation and a few copies.
    fn key(&self, parts: &[&str]) -> String {
        let len = self.tag.len() + 1 + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut k = String::with_capacity(len);
        k.push_str(&self.tag);
        k.push(':');
        parts.iter().for_each(|p| k.push_str(p));
        k
    }

    /// The delivery stream: `c`, `s` (earlier versions') or `v` (lean). Replicas of earlier
    /// versions read only `s`, or `s` and `c`: none reads an entry it cannot deliver.
    pub fn stream(&self) -> String {
        let s = match self.stream {
            Stream::Current => "c",
            Stream::Earlier => "s",
            Stream::Lean => "v",
        };
        self.key(&[s])
    }

    /// Pending events of the lean stream: event ID → entry ID.
    pub fn index(&self) -> String {
        self.key(&["i"])
    }

    /// The record of an event delivered at its first attempt from the lean stream: one string,
    /// packed (`fields::pack`).
    pub fn packed(&self, event_id: &str) -> String {
        self.key(&["r:", event_id])
    }

    pub fn retries(&self) -> String {
        self.key(&["z"])
    }

    pub fn pending(&self) -> String {
        self.key(&["o"])
    }

    pub fn dead(&self) -> String {
        self.key(&["x"])
    }

    pub fn listing(&self) -> String {
        self.key(&["t"])
    }

    /// What every key of the shard starts with (`scripts::ACCEPT` derives its per-event
    /// keys from it: `e:`, `d:`, `k:`, `q:`, `g:`, `w:`).
    pub fn key_prefix(&self) -> String {
        self.key(&[])
    }

    /// An ID as its dedup set holds it: fixed width, so the window costs the same for any ID
    /// length. 96 bits: a false duplicate (a lost event) needs two IDs of one shard colliding
    /// within the window, about n²/2^97: 4e-13 at 260 million.
    pub fn dedup_member(&self, event_id: &str) -> Vec<u8> {
        let digest = Sha256::new()
            .chain_update(self.tag.as_bytes())
            .chain_update([0])
            .chain_update(event_id.as_bytes())
            .finalize();
        digest.iter().take(12).copied().collect()
    }

    /// The dedup key earlier versions wrote (the whole ID): honoured until it expires, so a
    /// rolling upgrade forgets nothing.
    pub fn legacy_dedup(&self, event_id: &str) -> String {
        self.key(&["d:", event_id])
    }

    /// The shard's dedup sets (`k:<w>:<span>`), each scored with the end of its window: what
    /// housekeeping unlinks once it is over.
    pub fn dedup_sets(&self) -> String {
        self.key(&["ks"])
    }

    /// Delivered events by the expiry of their record.
    pub fn done(&self) -> String {
        self.key(&["f"])
    }

    pub fn event_prefix(&self) -> String {
        self.key(&["e:"])
    }

    pub fn event(&self, event_id: &str) -> String {
        self.key(&["e:", event_id])
    }

    pub fn line_prefix(&self) -> String {
        self.key(&["q:"])
    }

    /// Written by an intake call that found only duplicates, so that `WAIT` has a write of
    /// its own to confirm (`replicas`).
    pub fn ack_marker(&self) -> String {
        self.key(&["ack"])
    }

    /// Dead letters moved aside when their ID was accepted again after its dedup window.
    pub fn archived(&self) -> String {
        self.key(&["y"])
    }

    pub fn archive_prefix(&self) -> String {
        self.key(&["g:"])
    }

    pub fn archive(&self, n: &str) -> String {
        self.key(&["g:", n])
    }

    pub fn archives_of(&self, event_id: &str) -> String {
        self.key(&["w:", event_id])
    }

    pub fn archive_counter(&self) -> String {
        self.key(&["n"])
    }

    pub fn answer(&self, event_id: &str) -> String {
        self.key(&["a:", event_id])
    }
}

pub fn route_states(prefix: &str) -> String {
    format!("{prefix}:route-states")
}

/// The fleet's `claim_after`s, each scored with when its last replica stops counting
/// (`heartbeat::TakeoverAfter`).
pub fn claim_afters(prefix: &str) -> String {
    format!("{prefix}:claim-afters")
}

/// The shard count the keyspace's events are spread by (`shard_count`).
pub fn shard_count(prefix: &str) -> String {
    format!("{prefix}:shards")
}

/// Every route a replica's housekeeping saw configured → the largest shard count it had: the
/// fleet's memory of its routes. Whose dedup sets housekeeping unlinks, and whose events a
/// replica reports stranded when it does not configure the route (removed before it started);
/// a route no replica configures stays until it has neither sets nor events.
pub fn known_routes(prefix: &str) -> String {
    format!("{prefix}:routes")
}

/// The routes the live replicas configure (`live_routes`): `<consumer>\n<route>`, scored with
/// when each lapses.
pub fn live_routes(prefix: &str) -> String {
    format!("{prefix}:live-routes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_sharding() {
        let s = Shard::new("hookgate", "limai", 3);
        assert_eq!(s.stream(), "hookgate:{limai:3}:c");
        assert_eq!(s.earlier().stream(), "hookgate:{limai:3}:s");
        assert!(s.same_keys(&s.earlier()) && s != s.earlier());
        assert_eq!(s.lean().stream(), "hookgate:{limai:3}:v");
        assert!(s.lean().is_lean() && s.same_keys(&s.lean()) && s != s.lean());
        assert_eq!(s.event("evt_1"), "hookgate:{limai:3}:e:evt_1");
        assert_eq!(shard_of("evt_1", 1), 0);
        // Fixed width, distinct per ID and per route.
        assert_eq!(s.dedup_member(&"x".repeat(500)).len(), 12);
        assert_ne!(s.dedup_member("evt_1"), s.dedup_member("evt_2"));
        assert_ne!(
            s.dedup_member("evt_1"),
            Shard::new("hookgate", "other", 3).dedup_member("evt_1")
        );
        // Stable: the same ID always lands on the same shard, and IDs spread.
        assert_eq!(shard_of("evt_1", 16), shard_of("evt_1", 16));
        let used: std::collections::HashSet<u16> =
            (0..200).map(|i| shard_of(&format!("evt_{i}"), 8)).collect();
        assert_eq!(used.len(), 8);
    }
}
