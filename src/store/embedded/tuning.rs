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
        // them. A filter on every level (about 1.25 bytes per key, read through the block
        // cache past the first level) spares that table's block: a read without it failed
        // when the block was damaged, and a healthy event was lost with the damaged ones.
        // Each delivery past the hot hand-off reads its record back: the index stays in
        // memory (~20 bytes per 4 KiB block), so that a read loads one block.
        "events" => base
            .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::BitsPerKey(10.0),
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
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    use fjall::Database;
    use fjall::compaction::Leveled;

    /// A value of ~4.5 KiB (a block of its own) that no compression shortens, with `key` and
    /// `version` in its middle (`mark`), where a damaged byte is looked for.
    fn value(key: u64, version: u8) -> Vec<u8> {
        let mut x = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(version) ^ 1;
        let mut v: Vec<u8> = (0..4500)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        v[2000..2009].copy_from_slice(&mark(key, version));
        v
    }

    fn mark(key: u64, version: u8) -> [u8; 9] {
        let mut m = [version; 9];
        m[..8].copy_from_slice(&key.to_be_bytes());
        m
    }

    /// The table files of the database at `dir`, each with its bytes.
    fn tables(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for ks in std::fs::read_dir(dir.join("keyspaces")).unwrap() {
            if let Ok(tables) = std::fs::read_dir(ks.unwrap().path().join("tables")) {
                for t in tables {
                    let path = t.unwrap().path();
                    let bytes = std::fs::read(&path).unwrap();
                    out.push((path, bytes));
                }
            }
        }
        out
    }

    /// Where each copy of a value is (its `mark`): the table's index in `files`, the offset.
    fn copies(files: &[(PathBuf, Vec<u8>)]) -> HashMap<[u8; 9], (usize, usize)> {
        let mut at = HashMap::new();
        for (t, (_, bytes)) in files.iter().enumerate() {
            for (i, w) in bytes.windows(9).enumerate() {
                let m: [u8; 9] = w.try_into().unwrap_or_default();
                if m[8] <= 1 && m[..5] == [0; 5] {
                    at.insert(m, (t, i));
                }
            }
        }
        at
    }

    /// A damaged block of a newer table costs only the records it held, not a record that
    /// lives in an older table and whose key merely falls in the block's key range. Without a
    /// filter past the first level (as before), a point read of such a key (an event whose
    /// neighbours were retried since) loaded the damaged block, failed, and lost a healthy
    /// event.
    #[test]
    fn a_damaged_block_fails_only_the_reads_of_keys_it_holds() {
        const KEYS: u64 = 600;
        let dir = tempfile::tempdir().unwrap();
        // The events keyspace's settings, with tables small enough that a few MiB fill levels.
        let open = || {
            let db = Database::builder(dir.path()).open().unwrap();
            let ks = db
                .keyspace("events", || {
                    super::options("events").compaction_strategy(Arc::new(
                        Leveled::default().with_table_target_size(64 << 10),
                    ))
                })
                .unwrap();
            (db, ks)
        };
        {
            let (_db, ks) = open();
            // Every key, flushed in parts (tables of the first level that do not overlap, moved
            // down as they are, to the last level).
            for part in (0..KEYS).step_by(40) {
                for k in part..part + 40 {
                    ks.insert(k.to_be_bytes(), value(k, 0)).unwrap();
                }
                ks.rotate_memtable_and_wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(500));
            // Newer copies of the even keys in four tables that overlap, which compaction
            // merges into tables of a level above the last (written with that level's
            // settings): their key ranges cover the odd keys, which they do not hold.
            for part in 0..4 {
                for k in (0..KEYS).filter(|k| k % 8 == part * 2) {
                    ks.insert(k.to_be_bytes(), value(k, 1)).unwrap();
                }
                ks.rotate_memtable_and_wait().unwrap();
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while ks.l0_table_count() > 0 {
                assert!(std::time::Instant::now() < deadline, "not compacted");
                std::thread::sleep(Duration::from_millis(50));
            }
            // The scene: merged tables between the first level and the last.
            use fjall::AbstractTree;
            let v = ks.tree.current_version();
            let middle = v.iter_levels().skip(1).take(5);
            assert!(middle.flat_map(|l| l.iter()).count() > 0, "no merged table");
        }
        // Even keys whose newer copy shares a table with the even key before it, but whose odd
        // neighbour in between is only in another table: one byte of each such copy flipped,
        // as a bad sector would.
        let mut files = tables(dir.path());
        let at = copies(&files);
        let table = |k: u64, version: u8| at.get(&mark(k, version)).map(|(t, _)| *t);
        let mut damaged = Vec::new();
        for k in (2..KEYS).step_by(2) {
            let newer = table(k, 1);
            if newer.is_some()
                && newer == table(k - 2, 1)
                && newer != table(k - 1, 0)
                && !damaged.contains(&(k - 2))
            {
                damaged.push(k);
            }
        }
        for k in &damaged {
            let (t, i) = at[&mark(*k, 1)];
            files[t].1[i + 4] ^= 0x55;
        }
        for (path, bytes) in &files {
            std::fs::write(path, bytes).unwrap();
        }
        assert!(
            damaged.len() >= 50,
            "{damaged:?}: too few newer copies apart"
        );

        let (_db, ks) = open();
        let mut failed = Vec::new();
        for k in &damaged {
            assert!(ks.get(k.to_be_bytes()).is_err(), "key {k} is damaged");
            let between = k - 1;
            match ks.get(between.to_be_bytes()) {
                Ok(Some(v)) => assert!(*v == *value(between, 0), "key {between}: another copy"),
                Ok(None) => panic!("key {between} is gone"),
                Err(_) => failed.push(between),
            }
        }
        // A filter answers "maybe" for ~1 % of the keys a table does not hold.
        assert!(
            failed.len() * 20 <= damaged.len(),
            "{} of {} reads beside a damaged block failed: {failed:?}",
            failed.len(),
            damaged.len()
        );
    }
}
