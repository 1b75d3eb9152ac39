//! Properties of reading the vendored fjall's journal back (`vendor/README.md`, the fifth
//! change) over random batches: a write torn by a crash (zeros from where a batch begins, or
//! from a sector boundary inside it, to the end of its page, and maybe later pages) is cut
//! where the first changed batch begins and costs no earlier one; one damaged byte before the
//! last batch is refused, saying where its batch begins, and the journal is left as it was. Damage is any byte but a
//! batch's sequence number (fjall's checksum covers its items only) and the items' lengths
//! (which may carry reading into the journal's unwritten end: the documented limit).

use std::path::{Path, PathBuf};

use fjall::JournalRecoveryError;
use proptest::prelude::*;

use super::journal_damage_tests::{Batch, batches_of, head, journal_of, open, put};

const PAGE: usize = 4096;

/// Batches of items (values without zero bytes: a value of zeros would read as a tear).
fn batches() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let value = prop_oneof![
        prop::collection::vec(1..=255u8, 0..600),
        prop::collection::vec(1..=255u8, 3000..9000),
    ];
    prop::collection::vec(prop::collection::vec(value, 1..4), 2..9)
}

fn key(batch: usize, item: usize) -> [u8; 12] {
    let mut k = *b"b000-i000-kk";
    k[1..4].copy_from_slice(format!("{batch:03}").as_bytes());
    k[6..9].copy_from_slice(format!("{item:03}").as_bytes());
    k
}

/// The batches written; the journal's path and its batches as written.
fn written(dir: &Path, bs: &[Vec<Vec<u8>>]) -> (PathBuf, Vec<Batch>) {
    let batches: Vec<Vec<(Vec<u8>, Vec<u8>)>> = bs
        .iter()
        .enumerate()
        .map(|(b, items)| {
            let keyed = items.iter().enumerate();
            keyed
                .map(|(i, v)| (key(b, i).to_vec(), v.clone()))
                .collect()
        })
        .collect();
    let path = journal_of(dir, &batches);
    let spans = batches_of(&head(&path));
    assert_eq!(spans.len(), bs.len());
    (path, spans)
}

/// Whether byte `at` of `batch` may be damaged here: not its sequence number, nor an item's
/// key or value length.
fn damageable(batch: &Batch, at: usize) -> bool {
    let lengths = |item: usize| (item + 11..item + 21).contains(&at);
    !(batch.start + 5..batch.start + 13).contains(&at) && !batch.items.iter().any(|i| lengths(*i))
}

fn present(ks: &fjall::Keyspace, bs: &[Vec<Vec<u8>>]) -> Vec<bool> {
    bs.iter()
        .enumerate()
        .map(|(b, items)| {
            (0..items.len()).all(|i| ks.get(key(b, i)).unwrap().is_some_and(|v| *v == *items[i]))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn one_damaged_byte_before_the_last_batch_is_refused_and_cuts_nothing(
        bs in batches(),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, spans) = written(dir.path(), &bs);
        let mut bytes = head(&path);
        let batch = &spans[pick.index(spans.len() - 1)];
        let (start, end) = (batch.start, batch.end);
        let candidates: Vec<usize> = (start..end).filter(|i| damageable(batch, *i)).collect();
        let i = candidates[at.index(candidates.len())];
        bytes[i] ^= mask;
        put(&path, &bytes);

        match open(dir.path()) {
            Err(fjall::Error::JournalRecovery(JournalRecoveryError::Damaged { offset, .. })) => {
                prop_assert_eq!(offset, start as u64);
            }
            Err(other) => prop_assert!(false, "refused otherwise: {other:?}"),
            Ok(_) => prop_assert!(false, "opened with byte {i} of {start}..{end} damaged"),
        }
        prop_assert!(head(&path) == bytes, "the journal changed");
    }

    #[test]
    fn a_torn_write_costs_no_batch_before_it(
        bs in batches(),
        pick in any::<prop::sample::Index>(),
        from in any::<prop::sample::Index>(),
        later in 0..3usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, spans) = written(dir.path(), &bs);
        let before = head(&path);
        let mut bytes = before.clone();
        // What a crash leaves of writes not synced: a disk writes a sector whole or not at
        // all, and one not written holds what the last sync left, zeros past its end. So zeros
        // from where a batch begins (the last sync ended there), or from a sector boundary
        // inside it, to the end of the page, and maybe whole pages after it.
        let Batch { start, end, .. } = spans[pick.index(spans.len())];
        let first = match from.index(end - start) {
            0 => start,
            off => (start + off).div_ceil(512) * 512,
        };
        let stop = ((first / PAGE + 1 + later) * PAGE).min(bytes.len());
        bytes[first..stop].fill(0);
        put(&path, &bytes);
        // The first batch changed but for its sequence number (which nothing checks: a batch
        // torn only there is read).
        let differs = |a: usize, b: usize| before[a..b] != bytes[a..b];
        let changed = spans
            .iter()
            .position(|b| differs(b.start, b.start + 5) || differs(b.start + 13, b.end))
            .unwrap_or(spans.len());

        let (_db, ks) = open(dir.path()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let got = present(&ks, &bs);
        let want: Vec<bool> = (0..bs.len()).map(|b| b < changed).collect();
        prop_assert_eq!(got, want);
    }
}
