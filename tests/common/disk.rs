//! The embedded store's files as a test damages them: the event log's segments, the
//! database's journals (read with the formats' own layouts) and its tables.

use std::path::PathBuf;

/// The event log's segment files in the embedded store at `store`, oldest first.
pub fn log_segments(store: &std::path::Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(store.join("log"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.extension().is_some_and(|x| x == "log"));
    out.sort();
    out
}

/// Flips one byte inside event `id`'s record in the event log segment `path` (in its body, 200
/// bytes past its `"eventId":"…"`), as a bad sector would, and one in each of the next `marks`
/// group marks after it (`log_marks`); returns those of `ids` whose records then follow the
/// damage before an intact mark: found by a search, so held for an operator.
pub fn damage_segment(
    path: &std::path::Path,
    id: &str,
    ids: &[String],
    marks: usize,
) -> Vec<String> {
    let mut bytes = std::fs::read(path).expect("read the segment");
    let find = |bytes: &[u8], id: &str| {
        let needle = format!(r#""eventId":"{id}""#);
        bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
    };
    let at = find(&bytes, id).expect("the event is in the segment");
    let after: Vec<usize> = log_marks(&bytes).into_iter().filter(|m| *m > at).collect();
    let intact = after.get(marks).copied().unwrap_or(bytes.len());
    bytes[at + 200] ^= 0x20;
    for m in after.iter().take(marks) {
        bytes[m + 30] ^= 0x20;
    }
    std::fs::write(path, &bytes).expect("write the segment");
    ids.iter()
        .filter(|other| find(&bytes, other).is_some_and(|p| p > at && p < intact))
        .cloned()
        .collect()
}

/// Where the group marks of an undamaged event log segment start: entries
/// (`len u32 | crc u32 | kind u8 | seq u64 | expires u64 | payload`) read in order after the
/// 8-byte magic, a mark being one of kind 2 (`Done`) and seq 0.
pub fn log_marks(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 8;
    while let Some(head) = bytes.get(at..at + 25) {
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        if len == 0 && head[8] == 0 {
            break;
        }
        if head[8] == 2 && head[9..17] == [0; 8] {
            out.push(at);
        }
        at += 25 + len;
    }
    out
}

/// The embedded store's newest database journal (fjall's `<id>.jnl`).
pub fn newest_journal(store: &std::path::Path) -> PathBuf {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(store)
        .expect("the store")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((name.strip_suffix(".jnl")?.parse().ok()?, e.path()))
        })
        .collect();
    out.sort();
    out.pop().expect("a journal").1
}

/// The batches of a database journal, in order: where each starts and ends. Entries
/// (vendored fjall, `journal/entry.rs`): Start `1 | count u32 | seqno u64`; Item `2 | value
/// type u8 | compression u8 | keyspace u64 | key len u16 | value len u32 | stored len u32 |
/// key | value`; End `3 | checksum u64 | magic [4]`; Clear `4 | keyspace u64`. Zeros end it.
pub fn journal_batches(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut at, mut start) = (0, 0);
    while let Some(tag) = bytes.get(at) {
        at += match tag {
            1 => {
                start = at;
                13
            }
            2 => {
                let head = &bytes[at..at + 21];
                let key = u16::from_le_bytes([head[11], head[12]]) as usize;
                let stored = u32::from_le_bytes(head[17..21].try_into().expect("4")) as usize;
                21 + key + stored
            }
            3 => {
                out.push((start, at + 13));
                13
            }
            4 => 9,
            _ => break,
        };
    }
    out
}

/// The embedded store's database tables (fjall's `keyspaces/<id>/tables/<n>`).
fn database_tables(store: &std::path::Path) -> Vec<PathBuf> {
    let mut tables = Vec::new();
    for ks in std::fs::read_dir(store.join("keyspaces")).expect("the keyspaces") {
        if let Ok(dir) = std::fs::read_dir(ks.expect("a keyspace").path().join("tables")) {
            tables.extend(dir.flatten().map(|t| t.path()));
        }
    }
    tables
}

/// hookgate's keyspaces by fjall's ID for each: given in the order the store creates them
/// (`open_handles`), from 1.
pub const QUEUE_KEYSPACE: u32 = 5;

/// Flips one byte a third of the way into each table of the keyspace with fjall's ID `id`, as
/// a bad sector would; how many tables it has.
pub fn damage_keyspace_tables(store: &std::path::Path, id: u32) -> usize {
    let dir = store.join("keyspaces").join(id.to_string()).join("tables");
    let tables: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|t| t.path()).collect())
        .unwrap_or_default();
    for table in &tables {
        let mut bytes = std::fs::read(table).expect("read a table");
        let at = bytes.len() / 3;
        bytes[at] ^= 0x55;
        std::fs::write(table, &bytes).expect("write a table");
    }
    tables.len()
}

/// Damages the records of up to `n` of `ids` in the database's tables, as a bad sector would:
/// one byte of each copy of the record, where the bytes `mark(id)` are (a stretch of its body
/// that no compression can shorten: found as they are in any copy), in every table that holds
/// one. Events with a copy in the event log (read from there first) are not picked. One
/// whose newest copy was in the database's memory at a kill is read back from its journal at
/// the start, and is not damaged. Returns the IDs picked.
pub fn damage_table_records(
    store: &std::path::Path,
    ids: &[String],
    n: usize,
    mark: impl Fn(&str) -> Vec<u8>,
) -> Vec<String> {
    use std::collections::{HashMap, HashSet};
    let marks: Vec<Vec<u8>> = ids.iter().map(|id| mark(id)).collect();
    let by_head: HashMap<&[u8], usize> = marks
        .iter()
        .enumerate()
        .map(|(i, m)| (&m[..8], i))
        .collect();
    // Where each mark is in the file at `path`: (its ID's index, position). One pass.
    let found = |path: &PathBuf| -> Vec<(usize, usize)> {
        let bytes = std::fs::read(path).expect("read");
        bytes
            .windows(8)
            .enumerate()
            .filter_map(|(at, w)| {
                let i = *by_head.get(w)?;
                bytes[at..].starts_with(&marks[i]).then_some((i, at))
            })
            .collect()
    };
    let elsewhere: HashSet<usize> = log_segments(store)
        .iter()
        .flat_map(found)
        .map(|(i, _)| i)
        .collect();
    let tables: Vec<(PathBuf, Vec<(usize, usize)>)> = database_tables(store)
        .into_iter()
        .map(|p| {
            let hits = found(&p);
            (p, hits)
        })
        .collect();
    let picked: Vec<usize> = (0..ids.len())
        .filter(|i| !elsewhere.contains(i))
        .filter(|i| {
            tables
                .iter()
                .any(|(_, hits)| hits.iter().any(|(j, _)| j == i))
        })
        .take(n)
        .collect();
    for (p, hits) in &tables {
        let mine: Vec<&(usize, usize)> = hits.iter().filter(|(i, _)| picked.contains(i)).collect();
        if mine.is_empty() {
            continue;
        }
        let mut bytes = std::fs::read(p).expect("read a table");
        for (i, at) in mine {
            bytes[at + marks[*i].len() / 2] ^= 0x55;
        }
        std::fs::write(p, &bytes).expect("write a table");
    }
    picked.into_iter().map(|i| ids[i].clone()).collect()
}

/// `chars` random characters of U+0100–U+D7FF from `seed`: text in which LZ4 (the journal's,
/// the tables') finds nothing to match, so that it is stored as it is and any stretch of it
/// is found as it is in every copy.
pub fn incompressible(seed: &str, chars: usize) -> String {
    let mut x = seed.bytes().fold(0x9E37_79B9_7F4A_7C15_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    (0..chars)
        .filter_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_u32(0x100 + (x % 0xD700) as u32)
        })
        .collect()
}
