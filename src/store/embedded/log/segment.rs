//! Segment files: the log's on-disk format, appending, and reading back after a restart.
//!
//! A segment starts with `MAGIC`, then entries back to back:
//! `len u32 | crc32 u32 | kind u8 | seq u64 | expires_ms u64 | payload (len bytes)`, integers
//! little-endian, the CRC over everything after it. In the newest segment a torn or corrupt
//! entry ends it: what follows was never answered 2xx (appends are synced in order), so it is
//! cut off. An older segment was synced whole before the next one began, so bytes there that
//! do not read are damage, not a torn write: they are skipped, said, and the entries after them
//! read (a bad sector costs the events in it, not every one after it). Where such an entry
//! starts was found by a search, which a payload shaped like an entry could mislead: its event
//! is held for an operator (`recover`), not delivered.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::spare;
use crate::metrics::METRICS;
use crate::store::embedded::forget_cached;

const MAGIC: &[u8; 8] = b"HGLOG001";
pub const HEADER: usize = 25;

/// What an entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new event: the payload is its record as the `events` keyspace would hold it.
    Event = 1,
    /// The event `seq` was delivered (its tombstone and dedup key went to fjall): no payload.
    Done = 2,
}

/// One entry as read back.
pub struct Entry {
    pub kind: Kind,
    pub seq: u64,
    pub expires_ms: u64,
    /// Where the payload starts in the file, and its length.
    pub at: u64,
    pub len: u32,
    /// Read past damage in its segment (`read`): it reads whole, but where it starts was
    /// found by a search.
    pub after_damage: bool,
}

/// Starts an entry in `buf`: its payload is what is appended to `buf` before `end`. Returns
/// where the entry starts.
pub fn begin(buf: &mut Vec<u8>, kind: Kind, seq: u64, expires_ms: u64) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; 8]);
    buf.push(kind as u8);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&expires_ms.to_le_bytes());
    start
}

/// Ends the entry begun at `start`; returns where its payload is in `buf`, and its length.
pub fn end(buf: &mut [u8], start: usize) -> (usize, u32) {
    let len = u32::try_from(buf.len() - start - HEADER).unwrap_or(u32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    (start + HEADER, len)
}

/// Appends one whole entry to `buf`; returns where its payload starts in `buf`.
pub fn encode(buf: &mut Vec<u8>, kind: Kind, seq: u64, expires_ms: u64, payload: &[u8]) -> usize {
    let start = begin(buf, kind, seq, expires_ms);
    buf.extend_from_slice(payload);
    end(buf, start).0
}

pub fn name(id: u32) -> String {
    format!("{id:010}.log")
}

/// The segments in `dir`, oldest first.
pub fn list(dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse().ok());
        if let Some(id) = id {
            out.push((id, path));
        }
    }
    out.sort_unstable_by_key(|(id, _)| *id);
    Ok(out)
}

/// Reads a segment back from the disk (not from the page cache: after a failed write, Linux
/// keeps pages it could not write marked clean); returns the end of its last entry too (zeros
/// after it are a spare's, never written). A torn tail of the `newest` segment is cut off;
/// damage in an older one is skipped (the module's doc). Opened to be read only (a segment
/// read back is never appended to): one that cannot be written, or deleted, still reads.
pub fn read(path: &Path, newest: bool) -> io::Result<(File, Vec<Entry>, u64)> {
    let file = File::open(path)?;
    forget_cached(&file);
    let bytes = std::fs::read(path)?;
    let mut entries = Vec::new();
    let mut at = MAGIC.len();
    if bytes.get(..MAGIC.len()) != Some(MAGIC) {
        // Created but its first write never made it: an empty segment.
        at = 0;
    }
    let mut damaged = false;
    loop {
        while let Some(mut e) = parse(&bytes, at) {
            at = e.at as usize + e.len as usize;
            e.after_damage = damaged;
            entries.push(e);
        }
        if at >= bytes.len() || bytes[at..].iter().all(|b| *b == 0) {
            break;
        }
        if newest {
            tracing::warn!(
                segment = %path.display(),
                valid = at,
                size = bytes.len(),
                "cutting off a torn tail of the event log (never answered 2xx)"
            );
            // Best effort: the tail is not read either way, and the segment is not appended
            // to (a start begins a new one); one that cannot be written still opens.
            let cut = OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(at as u64).and_then(|()| f.sync_data()));
            if let Err(error) = cut {
                tracing::warn!(segment = %path.display(), %error, "cannot cut the torn tail");
            }
            break;
        }
        // New events' seqs rise through a segment: an entry that reads but breaks that is
        // not one (a payload that happens to look like an entry).
        match resync(&bytes, at, last_event(&entries)) {
            Some(next) => {
                tracing::error!(
                    segment = %path.display(),
                    from = at,
                    bytes = next - at,
                    "event log segment damaged: unreadable bytes skipped, the events in them are \
                     lost (those after them are read, and held as dead letters)"
                );
                METRICS.store_log_damaged.inc();
                at = next;
                damaged = true;
            }
            None => {
                tracing::error!(
                    segment = %path.display(),
                    from = at,
                    bytes = bytes.len() - at,
                    "event log segment damaged from here to its end: the events there are lost \
                     (the file is left as it is)"
                );
                METRICS.store_log_damaged.inc();
                break;
            }
        }
    }
    // Where the last entry read ends: any break leaves `at` there.
    Ok((file, entries, at as u64))
}

/// The highest seq of a new event among `entries` (0: none).
pub fn last_event(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.kind == Kind::Event)
        .map(|e| e.seq)
        .max()
        .unwrap_or(0)
}

/// The first offset after `from` where an entry reads (its kind byte 1 or 2 first: a cheap
/// test, so that a long damaged or zeroed stretch is crossed quickly), a new event's seq past
/// `after`.
fn resync(bytes: &[u8], from: usize, after: u64) -> Option<usize> {
    (from + 1..bytes.len().saturating_sub(HEADER))
        .filter(|o| matches!(bytes[o + 8], 1 | 2))
        .find(|o| parse(bytes, *o).is_some_and(|e| e.kind == Kind::Done || e.seq > after))
}

fn parse(bytes: &[u8], at: usize) -> Option<Entry> {
    let head = bytes.get(at..at + HEADER)?;
    let u32_at = |i: usize| head[i..i + 4].try_into().ok().map(u32::from_le_bytes);
    let u64_at = |i: usize| head[i..i + 8].try_into().ok().map(u64::from_le_bytes);
    let len = u32_at(0)?;
    let crc = u32_at(4)?;
    let end = at + HEADER + len as usize;
    let checked = bytes.get(at + 8..end)?;
    if crc32fast::hash(checked) != crc {
        return None;
    }
    let kind = match head[8] {
        1 => Kind::Event,
        2 => Kind::Done,
        _ => return None,
    };
    Some(Entry {
        kind,
        seq: u64_at(9)?,
        expires_ms: u64_at(17)?,
        at: (at + HEADER) as u64,
        len,
        after_damage: false,
    })
}

/// The segment being appended to.
pub struct Appender {
    pub id: u32,
    pub file: Arc<File>,
    pub len: u64,
}

impl Appender {
    /// Creates segment `id` in `dir` (and makes its name durable), from the spare if there
    /// is one of `size` bytes.
    pub fn create(dir: &Path, id: u32, size: u64) -> io::Result<Appender> {
        let path = dir.join(name(id));
        let file = match spare::take(dir, &path, size)? {
            Some(file) => file,
            None => OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?,
        };
        file.write_all_at(MAGIC, 0)?;
        file.sync_data()?;
        sync_dir(dir)?;
        Ok(Appender {
            id,
            file: Arc::new(file),
            len: MAGIC.len() as u64,
        })
    }

    /// Writes `buf` at the end, durably if `sync`; returns where it starts. On an error the
    /// segment is cut back to where it was (best effort: the writer reopens everything next).
    pub fn append(&mut self, buf: &[u8], sync: bool) -> io::Result<u64> {
        let at = self.len;
        let written = self
            .file
            .write_all_at(buf, at)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(at)
            }
            Err(e) => {
                let _ = self.file.set_len(at);
                Err(e)
            }
        }
    }
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads a payload (a record) back.
pub fn read_at(file: &File, at: u64, len: u32) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, at)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Appender::create(dir.path(), 7, 1 << 20).unwrap();
        let mut buf = Vec::new();
        let a = encode(&mut buf, Kind::Event, 1, 99, b"first record");
        encode(&mut buf, Kind::Done, 1, 99, b"");
        let base = seg.append(&buf, true).unwrap();
        // A second group torn halfway.
        let mut torn = Vec::new();
        encode(&mut torn, Kind::Event, 2, 99, b"second record");
        seg.append(&torn[..torn.len() - 3], true).unwrap();
        let path = dir.path().join(name(7));
        let (file, entries, valid) = read(&path, true).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kind, Kind::Event);
        assert_eq!(entries[0].at, base + a as u64);
        assert_eq!(
            read_at(&file, entries[0].at, entries[0].len).unwrap(),
            b"first record"
        );
        assert_eq!((entries[1].kind, entries[1].seq), (Kind::Done, 1));
        assert_eq!(file.metadata().unwrap().len(), base + buf.len() as u64);
        assert_eq!(valid, base + buf.len() as u64);
        assert_eq!(list(dir.path()).unwrap(), vec![(7, path)]);
    }

    #[test]
    fn a_flipped_bit_ends_the_newest_segment_and_is_skipped_in_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Appender::create(dir.path(), 1, 1 << 20).unwrap();
        let mut buf = Vec::new();
        encode(&mut buf, Kind::Event, 1, 5, b"one");
        let second = buf.len();
        encode(&mut buf, Kind::Event, 2, 5, b"two");
        encode(&mut buf, Kind::Done, 1, 5, b"");
        encode(&mut buf, Kind::Event, 3, 5, b"three");
        let at = seg.append(&buf, true).unwrap();
        let flip = at + second as u64 + HEADER as u64;
        seg.file.write_all_at(b"X", flip).unwrap();
        let path = dir.path().join(name(1));
        let seqs = |entries: Vec<Entry>| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
        let (_, entries, end) = read(&path, false).unwrap();
        assert_eq!(seqs(entries), [1, 1, 3]);
        assert_eq!(end, at + buf.len() as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), end, "not cut");
        let (_, entries, end) = read(&path, true).unwrap();
        assert_eq!(seqs(entries), [1]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), end, "cut");
    }

    #[test]
    fn a_damaged_stretch_to_the_end_and_a_payload_like_an_entry_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Appender::create(dir.path(), 1, 1 << 20).unwrap();
        let mut buf = Vec::new();
        encode(&mut buf, Kind::Event, 5, 9, b"five");
        // An event whose payload holds what reads as an entry of an older seq.
        let mut inner = Vec::new();
        encode(&mut inner, Kind::Event, 4, 9, b"forged");
        let second = buf.len();
        encode(&mut buf, Kind::Event, 6, 9, &inner);
        let at = seg.append(&buf, true).unwrap();
        // The second entry's length damaged: its payload is all that follows.
        seg.file.write_all_at(&[0xff], at + second as u64).unwrap();
        let (_, entries, _) = read(&dir.path().join(name(1)), false).unwrap();
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [5]);
    }
}
