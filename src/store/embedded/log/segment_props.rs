//! Properties of reading a segment back (`segment::read`) over random groups: one damaged
//! byte in what was synced costs at most the events of its group, in the newest segment as in
//! an older one, and is never cut off as a tear; a torn last group never costs an event of an
//! earlier one.

use proptest::prelude::*;

use super::segment::{Appender, Entry, HEADER, append_group, name, read, read_back};

/// Groups of events (seq, payload), their seqs rising through the segment.
fn groups() -> impl Strategy<Value = Vec<Vec<(u64, Vec<u8>)>>> {
    let group = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..5);
    prop::collection::vec(group, 2..7).prop_map(|gs| {
        let mut seq = 0;
        gs.into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|p| {
                        seq += 1;
                        (seq, p)
                    })
                    .collect()
            })
            .collect()
    })
}

/// Each group appended and synced; where each group's bytes start and end in the file.
fn written(dir: &std::path::Path, gs: &[Vec<(u64, Vec<u8>)>]) -> (Appender, Vec<(u64, u64)>) {
    let mut seg = Appender::create(dir, 1, 1 << 20).unwrap();
    let spans = gs
        .iter()
        .map(|g| {
            let events: Vec<(u64, &[u8])> = g.iter().map(|(s, p)| (*s, p.as_slice())).collect();
            let (start, end, _) = append_group(&mut seg, &events);
            (start, end)
        })
        .collect();
    (seg, spans)
}

fn by_seq(entries: &[Entry]) -> std::collections::HashMap<u64, bool> {
    entries.iter().map(|e| (e.seq, e.after_damage)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A byte flipped in a group other than the last: every event of every other group reads
    /// as usual, none of that group's is read as usual past the flip, and nothing is cut off.
    #[test]
    fn damage_before_the_last_group_costs_that_group_at_most(
        gs in groups(),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        newest in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (seg, spans) = written(dir.path(), &gs);
        let g = pick.index(gs.len() - 1);
        let (start, end) = spans[g];
        let flip = start + at.index((end - start) as usize) as u64;
        let mut byte = [0];
        std::os::unix::fs::FileExt::read_exact_at(&*seg.file, &mut byte, flip).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&*seg.file, &[byte[0] ^ 0x5a], flip).unwrap();
        let size = seg.len;
        let path = dir.path().join(name(1));
        let (_, entries, valid) = read(&path, newest).unwrap();
        prop_assert_eq!(valid, size);
        prop_assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        let seen = by_seq(&entries);
        for (i, group) in gs.iter().enumerate() {
            for (seq, _) in group {
                if i != g {
                    prop_assert_eq!(seen.get(seq), Some(&false), "seq {} of group {}", seq, i);
                }
            }
        }
        // In the damaged group: read as usual only before the flip.
        let mut at = start + (HEADER + 16) as u64;
        for (seq, p) in &gs[g] {
            let next = at + (HEADER + p.len()) as u64;
            if next > flip {
                prop_assert!(seen.get(seq) != Some(&false), "seq {} read as usual", seq);
            }
            at = next;
        }
    }

    /// The last group torn (a stretch of it never written: zeros, as a spare's): every event
    /// of the earlier groups reads as usual, and the file is cut at or before the torn bytes.
    #[test]
    fn a_torn_last_group_costs_no_earlier_event(
        gs in groups(),
        from in any::<prop::sample::Index>(),
        len in 1usize..400,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (seg, spans) = written(dir.path(), &gs);
        let (start, end) = spans[gs.len() - 1];
        let hole = start + from.index((end - start) as usize) as u64;
        let zeros = vec![0; len.min((end - hole) as usize)];
        std::os::unix::fs::FileExt::write_all_at(&*seg.file, &zeros, hole).unwrap();
        let path = dir.path().join(name(1));
        let (_, entries, valid) = read(&path, true).unwrap();
        prop_assert!(valid <= end);
        let seen = by_seq(&entries);
        for group in &gs[..gs.len() - 1] {
            for (seq, _) in group {
                prop_assert_eq!(seen.get(seq), Some(&false), "seq {}", seq);
            }
        }
        prop_assert!(entries.iter().all(|e| !e.after_damage));
    }
}

/// The limit of marks: the segment's first one, beside its magic, alone gives its nonce, so
/// with it damaged no later mark is trusted. The newest segment is then cut there as before
/// marks (its synced events lost, as a torn tail's), an older one read past it with every
/// later event held. (Damage to the magic itself reads as a segment never written.)
#[test]
fn damage_to_the_first_mark_leaves_a_segment_as_before_marks() {
    for newest in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let gs = vec![vec![(1, b"one".to_vec())], vec![(2, b"two".to_vec())]];
        let (seg, _) = written(dir.path(), &gs);
        // A byte of the first mark's nonce (the mark starts right after the 8-byte magic),
        // flipped: a nonce is random, so writing a fixed byte left it as it was once in 256.
        let at = 8 + HEADER as u64;
        let mut byte = [0u8];
        std::os::unix::fs::FileExt::read_exact_at(&*seg.file, &mut byte, at).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&*seg.file, &[byte[0] ^ 0x20], at).unwrap();
        let (_, entries, _) = read(&dir.path().join(name(1)), newest).unwrap();
        let expected: &[(u64, bool)] = if newest { &[] } else { &[(1, true), (2, true)] };
        assert_eq!(read_back(&entries), expected, "newest: {newest}");
    }
}
