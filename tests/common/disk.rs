//! The embedded store's files as a test damages them: the event log's segments and the
//! database's journals, read with the formats' own layouts.

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
