//! The map of the events that wait only in the log: where each one's entry is, and its dedup
//! key. One entry per waiting event, so its size is what a backlog costs in memory (`log_size`
//! bounds it): ~60–90 bytes per event, where a seq → location B-tree and a table of the keys
//! themselves took 150–230 (`a_waiting_event_costs_the_map_under_100_bytes`).
//!
//! - **Locations** by segment, in seq order (segments hold ascending seqs, and so do the
//!   segments one after another): an array per segment, an entry gone only marked, the array
//!   dropped when the segment has none left. Found by two binary searches.
//! - **Dedup keys** as a 128-bit keyed hash (SipHash-1-3 twice, two domains, keys from the
//!   OS's randomness for each map): two different keys share one with a chance of 2⁻¹²⁸, and
//!   a sender, who does not know the keys, cannot aim for one (a collision would take a new
//!   event for a duplicate).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use super::Loc;

/// A dedup key's 128-bit keyed hash.
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeyHash(u64, u64);

impl Hash for KeyHash {
    /// Already a keyed hash: the table takes its first word as it is (`FirstWord`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// The hasher of a table whose keys are hashes already.
#[derive(Default)]
struct FirstWord(u64);

impl Hasher for FirstWord {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `KeyHash`; correct for anything else.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Where an event's entry is in its segment; `len` 0: the event left.
#[derive(Clone, Copy)]
struct Slot {
    seq: u64,
    at: u64,
    expires_ms: u64,
    len: u32,
}

/// One segment's waiting events.
struct Segment {
    id: u32,
    file: Arc<File>,
    slots: Vec<Slot>,
    live: usize,
}

impl Segment {
    fn find(&self, seq: u64) -> Option<usize> {
        let i = self.slots.binary_search_by_key(&seq, |s| s.seq).ok()?;
        (self.slots[i].len > 0).then_some(i)
    }

    /// Adds `slot` in seq order (at the end, as a rule); one there already is replaced.
    fn put(&mut self, slot: Slot) {
        if self.slots.last().is_none_or(|l| l.seq < slot.seq) {
            self.slots.push(slot);
            self.live += 1;
            return;
        }
        let i = self.slots.partition_point(|l| l.seq < slot.seq);
        let added = match self.slots.get_mut(i) {
            Some(l) if l.seq == slot.seq => {
                let was = l.len > 0;
                *l = slot;
                !was
            }
            _ => {
                self.slots.insert(i, slot);
                true
            }
        };
        self.live += usize::from(added);
    }

    fn loc(&self, s: &Slot) -> Loc {
        Loc {
            segment: self.id,
            file: self.file.clone(),
            at: s.at,
            len: s.len,
            expires_ms: s.expires_ms,
        }
    }
}

/// The events that are only in the log: shared by the writer (which changes it after each
/// commit) and readers.
pub struct Logged {
    hash: RandomState,
    dedup: HashMap<KeyHash, u64, BuildHasherDefault<FirstWord>>,
    /// Oldest first; ascending seqs within each and from one to the next.
    segments: VecDeque<Segment>,
}

impl Default for Logged {
    fn default() -> Self {
        Logged {
            hash: RandomState::new(),
            dedup: HashMap::default(),
            segments: VecDeque::new(),
        }
    }
}

impl Logged {
    fn key_hash(&self, key: &[u8]) -> KeyHash {
        let word = |domain: u8| {
            let mut h = self.hash.build_hasher();
            h.write_u8(domain);
            h.write(key);
            h.finish()
        };
        KeyHash(word(0), word(1))
    }

    /// The segment that holds `seq`, if any does.
    fn segment_of(&self, seq: u64) -> Option<usize> {
        let i = self
            .segments
            .partition_point(|s| s.slots.first().is_some_and(|f| f.seq <= seq));
        i.checked_sub(1)
    }

    /// How many events wait (a sum over the live segments: a few dozen at most).
    pub fn waiting(&self) -> usize {
        self.segments.iter().map(|s| s.live).sum()
    }

    /// Waiting event `seq`'s segment and slot.
    fn slot(&self, seq: u64) -> Option<(&Segment, &Slot)> {
        let seg = &self.segments[self.segment_of(seq)?];
        Some((seg, &seg.slots[seg.find(seq)?]))
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.slot(seq).is_some()
    }

    pub fn loc(&self, seq: u64) -> Option<Loc> {
        self.slot(seq).map(|(seg, s)| seg.loc(s))
    }

    /// The waiting event whose dedup key is `key`: its seq and window end.
    pub fn owner(&self, key: &[u8]) -> Option<(u64, u64)> {
        let seq = *self.dedup.get(&self.key_hash(key))?;
        Some((seq, self.slot(seq)?.1.expires_ms))
    }

    /// Adds a waiting event. Seqs come in ascending order (a group's after the one before,
    /// a start's in order), each in its segment or a newer one: the common case is a push.
    pub fn insert(&mut self, seq: u64, key: &[u8], loc: Loc) {
        let hash = self.key_hash(key);
        self.dedup.insert(hash, seq);
        let slot = Slot {
            seq,
            at: loc.at,
            expires_ms: loc.expires_ms,
            len: loc.len.max(1),
        };
        let i = self.segments.partition_point(|s| s.id < loc.segment);
        match self.segments.get_mut(i) {
            Some(s) if s.id == loc.segment => {
                s.put(slot);
            }
            _ => {
                // A new segment: the one before it is full, and its array will not grow.
                if i == self.segments.len()
                    && let Some(s) = self.segments.back_mut()
                {
                    s.slots.shrink_to_fit();
                }
                let seg = Segment {
                    id: loc.segment,
                    file: loc.file,
                    slots: vec![slot],
                    live: 1,
                };
                self.segments.insert(i, seg);
            }
        }
    }

    /// Takes event `seq` out (its dedup key too, while it is this event's); returns where it
    /// was.
    pub fn remove(&mut self, seq: u64, key: &[u8]) -> Option<Loc> {
        let hash = self.key_hash(key);
        if self.dedup.get(&hash) == Some(&seq) {
            self.dedup.remove(&hash);
            // A burst leaves the table at its peak size; give it back once mostly empty.
            if self.dedup.capacity() > 1024 && self.dedup.len() < self.dedup.capacity() / 8 {
                self.dedup.shrink_to(self.dedup.len() * 2);
            }
        }
        let i = self.segment_of(seq)?;
        let seg = &mut self.segments[i];
        let j = seg.find(seq)?;
        let loc = seg.loc(&seg.slots[j]);
        seg.slots[j].len = 0;
        seg.live -= 1;
        if seg.live == 0 {
            self.segments.remove(i);
        } else if seg.slots.len() > 64 && seg.live < seg.slots.len() / 4 {
            // Mostly gone (a few events wait on, retried or slow): their marks are dropped.
            seg.slots.retain(|s| s.len > 0);
            seg.slots.shrink_to_fit();
        }
        Some(loc)
    }

    /// The waiting events before `upto`, newest first, at most `n` (a page of the listing:
    /// found by binary search, not by walking the newer ones).
    pub fn before(&self, upto: u64, n: usize) -> Vec<(u64, Loc)> {
        let mut out = Vec::new();
        let Some(last) = self.segment_of(upto.saturating_sub(1)) else {
            return out;
        };
        for seg in self.segments.range(..=last).rev() {
            let end = seg.slots.partition_point(|s| s.seq < upto);
            for s in seg.slots[..end].iter().rev().filter(|s| s.len > 0) {
                if out.len() >= n {
                    return out;
                }
                out.push((s.seq, seg.loc(s)));
            }
        }
        out
    }

    /// The waiting events of `segment`, in seq order.
    pub fn in_segment(&self, segment: u32) -> Vec<u64> {
        self.segments
            .iter()
            .filter(|s| s.id == segment)
            .flat_map(|s| s.slots.iter().filter(|l| l.len > 0).map(|l| l.seq))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::keys;

    fn loc(file: &Arc<File>, segment: u32, seq: u64) -> Loc {
        Loc {
            segment,
            file: file.clone(),
            at: seq * 1300,
            len: 1300,
            expires_ms: seq + 7,
        }
    }

    fn key(seq: u64) -> Vec<u8> {
        // An ID the size of a GitHub delivery's GUID.
        keys::dedup(
            "github",
            &format!("{:036x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        )
    }

    /// An empty map and a file for its places (kept open by the `TempDir`).
    fn empty() -> (tempfile::TempDir, Arc<File>, Logged) {
        let dir = tempfile::tempdir().unwrap();
        let f = Arc::new(File::create(dir.path().join("f")).unwrap());
        (dir, f, Logged::default())
    }

    #[test]
    fn events_are_found_by_seq_and_key_and_leave_once() {
        let (_d, f, mut m) = empty();
        // Three segments, seqs with gaps.
        for seq in (10..40).step_by(3) {
            m.insert(seq, &key(seq), loc(&f, (seq / 10) as u32, seq));
        }
        assert_eq!(m.waiting(), 10);
        for seq in 0..50 {
            let logged = (10..40).contains(&seq) && (seq - 10) % 3 == 0;
            assert_eq!(m.contains(seq), logged, "{seq}");
            assert_eq!(m.owner(&key(seq)).is_some(), logged, "{seq}");
            if logged {
                let l = m.loc(seq).unwrap();
                assert_eq!(
                    (l.segment, l.at, l.expires_ms),
                    ((seq / 10) as u32, seq * 1300, seq + 7)
                );
                assert_eq!(m.owner(&key(seq)), Some((seq, seq + 7)));
            }
        }
        assert_eq!(m.in_segment(2), vec![22, 25, 28]);
        let page =
            |upto, n| -> Vec<u64> { m.before(upto, n).into_iter().map(|(s, _)| s).collect() };
        assert_eq!(page(28, 4), vec![25, 22, 19, 16]);
        assert_eq!(page(29, 2), vec![28, 25]);
        assert_eq!(page(u64::MAX, 2), vec![37, 34]);
        assert_eq!(page(11, 5), vec![10]);
        assert!(page(10, 5).is_empty() && page(0, 5).is_empty());
        assert_eq!(m.remove(25, &key(25)).unwrap().segment, 2);
        assert!(m.remove(25, &key(25)).is_none());
        assert!(!m.contains(25) && m.owner(&key(25)).is_none());
        assert_eq!(m.in_segment(2), vec![22, 28]);
        // A segment emptied goes; the others are still found.
        for seq in [10, 13, 16, 19] {
            m.remove(seq, &key(seq)).unwrap();
        }
        assert_eq!(m.segments.len(), 2);
        assert_eq!(m.loc(22).unwrap().segment, 2);
        assert_eq!(m.loc(37).unwrap().segment, 3);
        assert_eq!(m.waiting(), 5);
    }

    /// Out of the usual order (an older segment after a newer one, a seq again): still found,
    /// and counted once.
    #[test]
    fn inserts_out_of_order_are_kept_in_order() {
        let (_d, f, mut m) = empty();
        m.insert(30, &key(30), loc(&f, 3, 30));
        m.insert(10, &key(10), loc(&f, 1, 10));
        m.insert(32, &key(32), loc(&f, 3, 32));
        m.insert(31, &key(31), loc(&f, 3, 31));
        m.insert(31, &key(31), loc(&f, 3, 31));
        assert_eq!(m.waiting(), 4);
        for seq in [10, 30, 31, 32] {
            assert_eq!(m.owner(&key(seq)), Some((seq, seq + 7)), "{seq}");
        }
        assert_eq!(m.in_segment(3), vec![30, 31, 32]);
        let all: Vec<u64> = m.before(u64::MAX, 10).into_iter().map(|(s, _)| s).collect();
        assert_eq!(all, vec![32, 31, 30, 10]);
    }

    /// A newer copy of a key (accepted again once the older one left its window) owns the
    /// key; the older one leaving does not take it.
    #[test]
    fn a_key_belongs_to_its_newest_event() {
        let (_d, f, mut m) = empty();
        m.insert(1, &key(9), loc(&f, 0, 1));
        m.insert(2, &key(9), loc(&f, 0, 2));
        assert_eq!(m.owner(&key(9)).map(|o| o.0), Some(2));
        m.remove(1, &key(9)).unwrap();
        assert_eq!(m.owner(&key(9)).map(|o| o.0), Some(2));
        m.remove(2, &key(9)).unwrap();
        assert!(m.owner(&key(9)).is_none() && m.waiting() == 0);
    }

    /// What a backlog costs in memory: the map's bytes per waiting event, at sizes on both
    /// sides of the hash table's doublings (heaviest just past one), counted by the test
    /// allocator as asked for. A seq → location B-tree and a table of the keys themselves
    /// took 150, counted the same way (mimalloc's rounding of each key made it 170–230).
    #[test]
    fn a_waiting_event_costs_the_map_under_100_bytes() {
        let (_d, f, _) = empty();
        for n in [100_000u64, 120_000, 229_000, 240_000] {
            let before = crate::alloc::counting::held();
            let mut m = Logged::default();
            for seq in 0..n {
                m.insert(seq, &key(seq), loc(&f, (seq / 25_000) as u32, seq));
            }
            let per_event = (crate::alloc::counting::held() - before) as u64 / n;
            assert!(
                per_event < 100,
                "{n} waiting events: {per_event} bytes each"
            );
            // Gone, they give the memory back (but for the current segment's array).
            for seq in 0..n - 1 {
                m.remove(seq, &key(seq)).unwrap();
            }
            let left = (crate::alloc::counting::held() - before) as u64;
            assert!(left < 64 << 10, "{left} bytes left for one waiting event");
        }
    }
}
