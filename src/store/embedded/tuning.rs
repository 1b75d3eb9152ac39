//! fjall's settings per keyspace, chosen for what each keyspace is used for (measured with
//! the load bench's fill mode; docs/performance.md, "As the embedded store fills").
//!
//! fjall records a keyspace's settings when it creates it and uses those from then on: a store
//! made by an older hookgate keeps fjall's defaults (it opens and works the same, it only does
//! more work as it fills). Nothing here changes what is stored.

use std::sync::Arc;

use fjall::KeyspaceCreateOptions;
use fjall::compaction::Leveled;
use fjall::config::{
    BloomConstructionPolicy, FilterPolicy, FilterPolicyEntry, PartitioningPolicy, PinningPolicy,
};

/// fjall's own rotation point, recorded with each keyspace when it is created; the writer
/// rotates at `store.memtable_size` (smaller), which so also holds for stores made before.
const MEMTABLE: u64 = 16 << 20;

/// Two background threads, so that a flush never waits behind a compaction (with one, sealed
/// write buffers waited up to 0.9 s, close to fjall's write halt at 4 of them). fjall 3.1.13's
/// first worker spun while another compacted (13 % of the process's CPU); the vendored fjall
/// (`vendor/README.md`) fixes that.
pub const WORKERS: usize = 2;

/// Table size at which compaction cuts its output. fjall's 64 MiB (with its 4 tables in the
/// first level) keeps a store of up to 256 MiB per keyspace in a single level, which every
/// compaction then rewrites where its keys fall: all of it for the randomly placed dedup
/// keys. Smaller tables make leveling start early, so a compaction rewrites a bounded part.
const TABLE: u64 = 8 << 20;

pub fn options(name: &str) -> KeyspaceCreateOptions {
    let base = KeyspaceCreateOptions::default()
        .max_memtable_size(MEMTABLE)
        .compaction_strategy(Arc::new(Leveled::default().with_table_target_size(TABLE)));
    match name {
        // Looked up by ID, mostly IDs never seen (every new event): the filters answer those,
        // so they stay in memory on every level (about 1.25 bytes per key), as does the index,
        // instead of being read back through the block cache (and checksummed) per lookup.
        "dedup" | "answers" => base
            .filter_block_partitioning_policy(PartitioningPolicy::all(false))
            .index_block_partitioning_policy(PartitioningPolicy::all(false))
            .filter_block_pinning_policy(PinningPolicy::all(true))
            .index_block_pinning_policy(PinningPolicy::all(true)),
        // Read by seq, always a key that exists, but not always in the first table whose key
        // range holds it: a table of newer records (retried events') spans the seqs between
        // them. A filter on every level (read through the block cache past the first level)
        // spares that table's block: a read without it failed when the block was damaged, and
        // a healthy event was lost with the damaged ones. A false positive loads the block
        // all the same, so the filter is wide: 20 bits per key (2.5 bytes beside records of
        // ~1-4 KiB) answer "maybe" for ~1 in 15,000 keys a table does not hold, against
        // ~1 in 120 at 10 bits, which lost a neighbour in about 1 salvage of 6.
        // Each delivery past the hot hand-off reads its record back: the index stays in
        // memory (~20 bytes per 4 KiB block), so that a read loads one block.
        "events" => base
            .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::BitsPerKey(20.0),
            )))
            .index_block_partitioning_policy(PartitioningPolicy::all(false))
            .index_block_pinning_policy(PinningPolicy::all(true)),
        // Only scanned in order.
        "expiry" | "queue" | "dead" | "answer_expiry" => {
            base.filter_policy(FilterPolicy::all(FilterPolicyEntry::None))
        }
        _ => base,
    }
}

#[cfg(test)]
#[path = "tuning_tests.rs"]
mod tests;
