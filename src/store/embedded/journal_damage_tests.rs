//! The vendored fjall's journal read back after a torn write or damage (`vendor/README.md`,
//! the fifth change): a batch torn by a crash (sectors that never reached the disk read as
//! zeros) is cut, as fjall always did; damage is refused and the journal left as it is, where
//! fjall cut it there (every later batch, synced ones too, silently gone) or refused a torn
//! batch whose end marker had reached the disk (the store could not open after a power cut).

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fjall::{Database, JournalRecoveryError, KeyspaceCreateOptions, PersistMode};

/// The batches written: one insert each, synced one by one.
const BATCHES: u32 = 20;
/// A Start entry's bytes (tag, item count, seqno) and an Item's before its key (tag, value
/// type, compression, keyspace, key and value lengths).
const START: usize = 13;
const ITEM_HEAD: usize = 21;
/// An End entry's bytes (tag, checksum, magic).
const END: usize = 13;

/// A journal's first MiB, where every batch of these tests is: the file is 64 MiB, the rest
/// zeros (fjall sets its length ahead), and reading it whole in each case is most of the time.
pub(super) fn head(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .take(1 << 20)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Writes `bytes` over the journal's start, the rest left as it is.
pub(super) fn put(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(bytes, 0)
        .unwrap();
}

fn key(i: u32) -> [u8; 16] {
    let mut k = *b"journal-batch-00";
    k[14] = b'0' + (i / 10) as u8;
    k[15] = b'0' + (i % 10) as u8;
    k
}

/// Bytes that do not compress, none of them zero (so that no sector of a batch is zeros).
fn value(i: u32, len: usize) -> Vec<u8> {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as u8) | 1
        })
        .collect()
}

pub(super) fn open(dir: &Path) -> fjall::Result<(Database, fjall::Keyspace)> {
    let db = Database::builder(dir).open()?;
    let ks = db.keyspace("events", KeyspaceCreateOptions::default)?;
    Ok((db, ks))
}

/// A database of these batches (each its items' keys and values), synced one by one, then
/// closed without a flush: they are all in its journal. Returns the journal's path.
pub(super) fn journal_of(dir: &Path, batches: &[Vec<(Vec<u8>, Vec<u8>)>]) -> PathBuf {
    let (db, ks) = open(dir).unwrap();
    for items in batches {
        let mut batch = db.batch();
        for (k, v) in items {
            batch.insert(&ks, k.clone(), v.clone());
        }
        batch.commit().unwrap();
        db.persist(PersistMode::SyncData).unwrap();
    }
    drop(ks);
    drop(db);
    let mut journals: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jnl"))
        .collect();
    journals.sort();
    journals.pop().unwrap()
}

/// `BATCHES` batches of one value, `len` bytes but the last one's `last_len`.
fn written(dir: &Path, len: usize, last_len: usize) -> PathBuf {
    let batches: Vec<_> = (0..BATCHES)
        .map(|i| {
            let n = if i + 1 == BATCHES { last_len } else { len };
            vec![(key(i).to_vec(), value(i, n))]
        })
        .collect();
    journal_of(dir, &batches)
}

/// A batch as the journal holds it: where it starts and ends, and where each item starts.
pub(super) struct Batch {
    pub start: usize,
    pub end: usize,
    pub items: Vec<usize>,
}

/// The journal's batches, in order, read with its entries' layout (vendored fjall,
/// `journal/entry.rs`): Start `1 | count u32 | seqno u64`; Item `2 | value type u8 |
/// compression u8 | keyspace u64 | key len u16 | value len u32 | stored len u32 | key |
/// value`; End `3 | checksum u64 | magic [4]`. Anything else ends it.
pub(super) fn batches_of(bytes: &[u8]) -> Vec<Batch> {
    let (mut out, mut at) = (Vec::<Batch>::new(), 0);
    while let Some(tag) = bytes.get(at) {
        at += match tag {
            1 => {
                out.push(Batch {
                    start: at,
                    end: 0,
                    items: Vec::new(),
                });
                START
            }
            2 => {
                out.last_mut().expect("an item in a batch").items.push(at);
                let key = u16::from_le_bytes([bytes[at + 11], bytes[at + 12]]) as usize;
                let stored = u32::from_le_bytes(bytes[at + 17..at + 21].try_into().unwrap());
                ITEM_HEAD + key + stored as usize
            }
            3 => {
                out.last_mut().expect("the end of a batch").end = at + END;
                END
            }
            _ => break,
        };
    }
    out
}

/// Where batch `i` starts and ends (one insert each, in order).
fn batch(bytes: &[u8], i: u32) -> (usize, usize) {
    let b = &batches_of(bytes)[i as usize];
    assert_eq!(b.items.len(), 1);
    (b.start, b.end)
}

fn damaged(err: fjall::Error) -> (u64, u64) {
    match err {
        fjall::Error::JournalRecovery(JournalRecoveryError::Damaged { journal, offset }) => {
            (journal, offset)
        }
        other => panic!("not refused as damage: {other:?}"),
    }
}

fn present(ks: &fjall::Keyspace) -> Vec<u32> {
    (0..BATCHES)
        .filter(|i| ks.get(key(*i)).unwrap().is_some())
        .collect()
}

/// One byte of a synced batch in the middle of the journal is damaged where an entry starts:
/// fjall took that for the journal's torn end and cut it there, with the fifteen synced
/// batches after it. Now the store does not open, says which journal and where, and the
/// journal is as it was: nothing is cut.
#[test]
fn a_damaged_entry_before_synced_batches_is_refused_and_nothing_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), 300, 300);
    let mut bytes = head(&path);
    let (start, _) = batch(&bytes, 5);
    bytes[start] = 0x55;
    put(&path, &bytes);

    let err = open(dir.path()).err().expect("opened a damaged journal");
    let (journal, offset) = damaged(err);
    assert_eq!(offset, start as u64);
    assert_eq!(
        path.file_stem().unwrap().to_str(),
        Some(&*journal.to_string())
    );
    assert_eq!(head(&path), bytes, "the journal was changed");
    // Refused again at the next try: the first refusal changed nothing.
    damaged(open(dir.path()).err().expect("opened at the second try"));
}

/// A byte inside a value of a synced batch: refused as damage, saying where (fjall refused
/// it too, as a checksum mismatch that did not say where).
#[test]
fn a_damaged_value_is_refused_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), 300, 300);
    let mut bytes = head(&path);
    let (start, end) = batch(&bytes, 7);
    bytes[end - END - 100] ^= 0x04;
    put(&path, &bytes);

    let (_, offset) = damaged(open(dir.path()).err().expect("opened"));
    assert_eq!(offset, start as u64);
    assert_eq!(head(&path), bytes);
}

/// The last batch torn by a crash: a page in its middle never reached the disk (zeros), its
/// last page did. fjall refused the store (a checksum mismatch): after a power cut hookgate
/// could not start. Now the torn batch is cut, as one whose end never reached the disk, and
/// every earlier batch is read.
#[test]
fn a_batch_torn_with_its_end_on_disk_is_cut_and_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let last = BATCHES - 1;
    let path = written(dir.path(), 300, 16 << 10);
    let mut bytes = head(&path);
    let (start, end) = batch(&bytes, last);
    // The first whole page after the batch's head: inside its (compressed) value.
    let page = (start + 64).div_ceil(4096) * 4096;
    assert!(page + 4096 < end - END, "the page is inside the batch");
    assert_eq!(bytes[start + START + 2], 1, "compressed, as from 4 KiB on");
    bytes[page..page + 4096].fill(0);
    put(&path, &bytes);

    let (_db, ks) = open(dir.path()).expect("a torn batch refused");
    assert_eq!(present(&ks), (0..last).collect::<Vec<_>>());
    assert!(
        std::fs::metadata(&path).unwrap().len() <= start as u64,
        "cut where the torn batch began"
    );
}

/// Later batches whose pages all reached the disk do not make a torn one damage: none of them
/// was synced (a sync would have written the torn one's pages too), and they go with it.
#[test]
fn batches_after_a_torn_one_go_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), 16 << 10, 16 << 10);
    let mut bytes = head(&path);
    let (start, _) = batch(&bytes, 15);
    let page = (start + 64).div_ceil(4096) * 4096;
    bytes[page..page + 4096].fill(0);
    put(&path, &bytes);

    let (_db, ks) = open(dir.path()).expect("a torn batch refused");
    assert_eq!(present(&ks), (0..15).collect::<Vec<_>>());
}
