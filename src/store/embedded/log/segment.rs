//! Segment files: the log's on-disk format, appending, and reading back after a restart.
//!
//! A segment starts with `MAGIC`, then entries back to back:
//! `len u32 | crc32 u32 | kind u8 | seq u64 | expires_ms u64 | payload (len bytes)`, integers
//! little-endian, the CRC over everything after it. Each append (a group) starts with a *mark*
//! (`MARK`): the segment's nonce, and how far the segment had been synced when the group was
//! written; so does the segment, right after `MAGIC`.
//!
//! In the newest segment, bytes that do not read are either a torn last write (never answered
//! 2xx: appends are synced in order, and a crash can leave any of the last write's pages
//! unwritten) or damage to what was synced. A mark read further on that says the segment was
//! synced past them tells damage: read on as in an older segment. Without one they are a torn
//! tail and cut off, as are the last group's own bytes when they are damaged (nothing tells
//! those apart from a tear). An older segment was synced whole before the next one began, so
//! bytes there that do not read are damage: they are skipped, said, and the entries after them
//! read (a bad sector costs the events in it, not every one after it). Where such an entry
//! starts was found by a search, which a payload shaped like an entry could mislead: its event
//! is held for an operator (`recover`), not delivered. A payload cannot pass for a mark: the
//! nonce is random per segment, written nowhere else, and learned only from marks read in
//! order from the segment's start.

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
/// A mark's length: an entry of kind `Done` and seq 0, which no event has, so that a build
/// from before marks reads it as nothing (a new kind would read as damage there, and cut a
/// newest segment at its first group); its payload, the nonce and the synced length.
const MARK: usize = HEADER + 16;
/// Where a new segment's first group goes: after the magic and a mark of its own.
pub const START: u64 = (MAGIC.len() + MARK) as u64;

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
/// where the entry starts. A group's first entry comes after room for its mark, which
/// `Appender::append` fills in.
pub fn begin(buf: &mut Vec<u8>, kind: Kind, seq: u64, expires_ms: u64) -> usize {
    if buf.is_empty() {
        buf.resize(MARK, 0);
    }
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
    // This segment's marks' nonce: from the first one read in order, before any damage.
    let mut nonce = None;
    // Where a mark read last starts, if no entry followed it: a torn tail is cut from there.
    let mut bare_mark = None;
    loop {
        while let Some(mut e) = parse(&bytes, at) {
            let start = at;
            at = e.at as usize + e.len as usize;
            if let Some((n, _)) = mark_of(&bytes, &e) {
                match nonce {
                    None if !damaged => nonce = Some(n),
                    // This segment's mark: a group starts here, read in order as before the
                    // damage (a payload cannot hold one, so a search cannot have led here).
                    Some(k) if k == n => damaged = false,
                    _ => {}
                }
                bare_mark = Some(start);
                continue;
            }
            bare_mark = None;
            e.after_damage = damaged;
            entries.push(e);
        }
        if at >= bytes.len() || bytes[at..].iter().all(|b| *b == 0) {
            break;
        }
        if newest && !nonce.is_some_and(|n| synced_past(&bytes, at, n)) {
            at = bare_mark.unwrap_or(at);
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
                     lost (those after them up to the next group are read, and held as dead \
                     letters)"
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

/// Writes a mark at the start of `buf` (room for it left there).
fn mark(buf: &mut [u8], nonce: u64, synced: u64) {
    // Seq and expiry 0; `end` writes the length and the CRC.
    buf[8] = Kind::Done as u8;
    buf[HEADER..HEADER + 8].copy_from_slice(&nonce.to_le_bytes());
    buf[HEADER + 8..MARK].copy_from_slice(&synced.to_le_bytes());
    end(&mut buf[..MARK], 0);
}

/// The nonce and the synced length that entry `e` holds, if it is a mark.
fn mark_of(bytes: &[u8], e: &Entry) -> Option<(u64, u64)> {
    if e.kind != Kind::Done || e.seq != 0 || e.len != 16 {
        return None;
    }
    let p = bytes.get(e.at as usize..e.at as usize + 16)?;
    let nonce = u64::from_le_bytes(p[..8].try_into().ok()?);
    let synced = u64::from_le_bytes(p[8..].try_into().ok()?);
    Some((nonce, synced))
}

/// Whether a mark of this segment (`nonce`) after `from` says the segment was synced past
/// `from`: the bytes there were answered for, and unreadable means damaged, not torn.
fn synced_past(bytes: &[u8], from: usize, nonce: u64) -> bool {
    let marks = (from + 1..bytes.len().saturating_sub(MARK - 1)).filter(|o| {
        // Cheap tests first (length 16, kind `Done`, seq 0), the CRC only then.
        bytes[o + 8] == Kind::Done as u8
            && bytes[*o..o + 4] == 16u32.to_le_bytes()
            && bytes[o + 9..o + 17] == [0; 8]
    });
    marks
        .filter_map(|o| parse(bytes, o))
        .filter_map(|e| mark_of(bytes, &e))
        .any(|(n, synced)| n == nonce && synced > from as u64)
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

/// How far past its entries a segment made from the spare is written out as zeros. The
/// spare's blocks are allocated but unwritten (`spare`), and a sync that writes into such
/// blocks also writes the file's block map (+50 % of its CPU: docs/performance.md, "The spare
/// segment allocated, not written"). Written ahead in steps of this size, the block map is
/// written at about one group's sync in 12, and the zeros reach the disk a step at a time
/// (1 MiB steps made 2 % of the syncs slow; 32 MiB at once, as the spare's thread wrote them
/// until then, held up every group commit behind them).
pub const ZERO_AHEAD: u64 = 256 << 10;
static ZEROS: [u8; ZERO_AHEAD as usize] = [0; ZERO_AHEAD as usize];

/// The segment being appended to.
pub struct Appender {
    pub id: u32,
    pub file: Arc<File>,
    pub len: u64,
    /// What its marks carry: its nonce, and how far it is synced.
    nonce: u64,
    synced: u64,
    /// Where its allocated blocks end (0: created empty, nothing allocated ahead), and how
    /// far they are written (entries, then zeros: `ZERO_AHEAD`).
    allocated: u64,
    written: u64,
}

impl Appender {
    /// Creates segment `id` in `dir` (and makes its name durable), from the spare if there
    /// is one of `size` bytes.
    pub fn create(dir: &Path, id: u32, size: u64) -> io::Result<Appender> {
        let path = dir.join(name(id));
        let (file, allocated) = match spare::take(dir, &path, size)? {
            Some(file) => (file, size),
            None => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                (file, 0)
            }
        };
        let mut nonce = [0; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| io::Error::other("no random nonce for a log segment"))?;
        let nonce = u64::from_le_bytes(nonce);
        // The first mark beside the magic: the nonce is then lost only with the segment's
        // first bytes, not with its first group.
        let mut head = MAGIC.to_vec();
        head.resize(START as usize, 0);
        mark(&mut head[MAGIC.len()..], nonce, MAGIC.len() as u64);
        file.write_all_at(&head, 0)?;
        file.sync_data()?;
        sync_dir(dir)?;
        Ok(Appender {
            id,
            file: Arc::new(file),
            len: START,
            nonce,
            synced: START,
            allocated,
            written: START,
        })
    }

    /// Syncs the segment whole, then writes a mark that says so, synced too: at a clean stop,
    /// so that the last group's damage is told from a tear at the next start.
    pub fn end_synced(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.synced = self.len;
        self.append(&mut [0; MARK], true).map(|_| ())
    }

    /// How far the file is written (entries, then zeros), for tests.
    #[cfg(test)]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes `buf` (entries made with `begin` or `encode`: room for the mark first) at the
    /// end, durably if `sync`; returns where it starts. On an error the segment is cut back to
    /// where it was (best effort: the writer reopens everything next).
    pub fn append(&mut self, buf: &mut [u8], sync: bool) -> io::Result<u64> {
        let at = self.len;
        if buf.len() >= MARK && buf[..MARK].iter().all(|b| *b == 0) {
            mark(buf, self.nonce, self.synced);
        }
        let end = at + buf.len() as u64;
        let ahead = if end > self.written {
            self.allocated.saturating_sub(end).min(ZERO_AHEAD)
        } else {
            0
        };
        let written = self
            .file
            .write_all_at(buf, at)
            .and_then(|()| match ahead {
                0 => Ok(()),
                n => self.file.write_all_at(&ZEROS[..n as usize], end),
            })
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                self.len = end;
                self.written = self.written.max(end + ahead);
                if sync {
                    self.synced = self.len;
                }
                Ok(at)
            }
            Err(e) => {
                let _ = self.file.set_len(at);
                (self.allocated, self.written) = (0, at);
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

/// Appends one group of events (seq, payload), synced, for tests: where it starts and ends,
/// and where each event's payload is.
#[cfg(test)]
pub fn append_group(seg: &mut Appender, events: &[(u64, &[u8])]) -> (u64, u64, Vec<u64>) {
    let mut buf = Vec::new();
    let at: Vec<usize> = events
        .iter()
        .map(|(seq, p)| encode(&mut buf, Kind::Event, *seq, 5, p))
        .collect();
    let base = seg
        .append(&mut buf, true)
        .unwrap_or_else(|e| panic!("append: {e}"));
    let payloads = at.into_iter().map(|a| base + a as u64).collect();
    (base, base + buf.len() as u64, payloads)
}

/// Each entry read back as (seq, read past damage), for tests.
#[cfg(test)]
pub fn read_back(entries: &[Entry]) -> Vec<(u64, bool)> {
    entries.iter().map(|e| (e.seq, e.after_damage)).collect()
}

/// Where the marks of an undamaged segment start, in order: for tests that damage them.
#[cfg(test)]
pub fn marks(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = MAGIC.len();
    while let Some(e) = parse(bytes, at) {
        if mark_of(bytes, &e).is_some() {
            out.push(at);
        }
        at = e.at as usize + e.len as usize;
    }
    out
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
        let base = seg.append(&mut buf, true).unwrap();
        // A second group torn halfway.
        let mut torn = Vec::new();
        encode(&mut torn, Kind::Event, 2, 99, b"second record");
        let len = torn.len();
        seg.append(&mut torn[..len - 3], true).unwrap();
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
        let at = seg.append(&mut buf, true).unwrap();
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
        let at = seg.append(&mut buf, true).unwrap();
        // The second entry's length damaged: its payload is all that follows.
        seg.file.write_all_at(&[0xff], at + second as u64).unwrap();
        let (_, entries, _) = read(&dir.path().join(name(1)), false).unwrap();
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [5]);
    }

    use super::read_back as seqs;

    /// One group per call, synced: `(where it starts, where each event's payload starts)`.
    fn group(seg: &mut Appender, events: &[(u64, &[u8])]) -> (u64, Vec<u64>) {
        let (start, _, payloads) = append_group(seg, events);
        (start, payloads)
    }

    /// One byte of `seg` flipped at `at`, then read back as the newest segment or not: what
    /// was read, after checking that nothing was cut off.
    fn flipped(dir: &Path, seg: &Appender, at: u64, newest: bool) -> Vec<(u64, bool)> {
        // XOR, not a fixed byte: one that was already there (a nonce's, a checksum's, once in
        // 256) would change nothing.
        let mut byte = [0u8];
        seg.file.read_exact_at(&mut byte, at).unwrap();
        seg.file.write_all_at(&[byte[0] ^ 0x20], at).unwrap();
        let path = dir.join(name(seg.id));
        let (_, entries, end) = read(&path, newest).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!((end, size), (seg.len, seg.len), "cut off");
        seqs(&entries)
    }

    /// Damage costs the events in it; the rest of its group was found by a search, so is held
    /// (`after_damage`); the groups after it start with this segment's marks, so are read as
    /// usual. In the newest segment as in an older one: a later group says it was synced.
    #[test]
    fn damage_costs_its_event_holds_the_rest_of_its_group_and_reads_later_groups() {
        for newest in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut seg = Appender::create(dir.path(), 1, 1 << 20).unwrap();
            let (_, first) = group(&mut seg, &[(1, b"one"), (2, b"two"), (3, b"three")]);
            group(&mut seg, &[(4, b"four")]);
            group(&mut seg, &[(5, b"five"), (6, b"six")]);
            // A bad sector in the first group, synced and answered long before the last.
            let read_back = [(1, false), (3, true), (4, false), (5, false), (6, false)];
            let got = flipped(dir.path(), &seg, first[1], newest);
            assert_eq!(got, read_back, "newest: {newest}");
        }
    }

    /// After a clean stop's mark (`end_synced`) the last group is known synced: its damage is
    /// damage, not a tear, and nothing is cut.
    #[test]
    fn a_segment_ended_synced_tells_damage_in_its_last_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Appender::create(dir.path(), 1, 1 << 20).unwrap();
        group(&mut seg, &[(1, b"one")]);
        let (_, last) = group(&mut seg, &[(2, b"two"), (3, b"three")]);
        seg.end_synced().unwrap();
        assert_eq!(
            flipped(dir.path(), &seg, last[0], true),
            [(1, false), (3, true)]
        );
    }

    #[test]
    fn a_torn_last_group_is_cut_even_where_its_later_pages_reached_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Appender::create(dir.path(), 1, 1 << 20).unwrap();
        group(&mut seg, &[(1, b"one")]);
        let (last, _) = group(&mut seg, &[(2, &[7; 300]), (3, b"three"), (4, b"four")]);
        // Its first page never written (a spare's zeros), its later ones were.
        seg.file.write_all_at(&[0; 200], last).unwrap();
        let path = dir.path().join(name(1));
        let (_, entries, end) = read(&path, true).unwrap();
        assert_eq!(seqs(&entries), [(1, false)]);
        assert_eq!((end, std::fs::metadata(&path).unwrap().len()), (last, last));
        // Read as an older segment instead, the same bytes are damage.
        let (_, entries, _) = read(&path, false).unwrap();
        assert_eq!(seqs(&entries), [(1, false)], "cut already");
    }

    #[test]
    fn a_payload_shaped_like_a_mark_cannot_make_a_torn_tail_pass_for_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Appender::create(dir.path(), 1, 1 << 20).unwrap();
        group(&mut seg, &[(1, b"one")]);
        // A sender's body holding a mark that says "synced past everything".
        let mut forged = vec![0; MARK];
        mark(&mut forged, 42, u64::MAX);
        let (last, at) = group(&mut seg, &[(2, b"two"), (3, &forged)]);
        // Torn: the first event's bytes did not reach the disk.
        seg.file.write_all_at(b"XXXX", at[0]).unwrap();
        let path = dir.path().join(name(1));
        let (_, entries, end) = read(&path, true).unwrap();
        assert_eq!(seqs(&entries), [(1, false)]);
        assert_eq!(end, last);
    }

    #[test]
    fn damage_in_a_newest_segment_without_marks_is_cut_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let seg = Appender::create(dir.path(), 1, 1 << 20).unwrap();
        // As a build from before marks wrote it: entries alone.
        let mut buf = Vec::new();
        encode(&mut buf, Kind::Event, 1, 5, b"one");
        let second = buf.len() - MARK;
        encode(&mut buf, Kind::Event, 2, 5, b"two");
        encode(&mut buf, Kind::Event, 3, 5, b"three");
        seg.file.write_all_at(&buf[MARK..], seg.len).unwrap();
        seg.file
            .write_all_at(b"X", seg.len + (second + HEADER) as u64)
            .unwrap();
        let path = dir.path().join(name(1));
        let (_, entries, end) = read(&path, true).unwrap();
        assert_eq!(seqs(&entries), [(1, false)]);
        assert_eq!(end, seg.len + second as u64);
    }
}
