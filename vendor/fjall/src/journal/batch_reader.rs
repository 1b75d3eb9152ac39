// Copyright (c) 2024-present, fjall-rs
// This source code is licensed under both the Apache 2.0 and MIT License
// (found in the LICENSE-* files in the repository)

use super::reader::JournalReader;
use crate::{journal::entry::Entry, keyspace::InternalKeyspaceId, JournalRecoveryError};
use lsm_tree::{SeqNo, UserKey, UserValue, ValueType};
use std::{
    fs::{File, OpenOptions},
    hash::Hasher,
    io::{Read, Seek, SeekFrom},
    path::Path,
};

/// hookgate patch: the unit a disk writes whole (or not at all).
const SECTOR: u64 = 512;

#[derive(Debug)]
pub struct ReadBatchItem {
    pub keyspace_id: InternalKeyspaceId,
    pub key: UserKey,
    pub value: UserValue,
    pub value_type: ValueType,
}

#[derive(Debug)]
pub struct Batch {
    pub(crate) seqno: SeqNo,
    pub(crate) items: Vec<ReadBatchItem>,
    pub(crate) cleared_keyspaces: Vec<InternalKeyspaceId>,
}

#[expect(clippy::module_name_repetitions)]
pub struct JournalBatchReader {
    reader: JournalReader,
    items: Vec<ReadBatchItem>,
    cleared_keyspaces: Vec<InternalKeyspaceId>,
    is_in_batch: bool,
    batch_counter: u32,
    batch_seqno: SeqNo,
    last_valid_pos: u64,
    checksum_builder: xxhash_rust::xxh3::Xxh3,
    /// hookgate patch: reading ended (cut, or refused as damaged).
    stopped: bool,
}

impl JournalBatchReader {
    pub fn new(reader: JournalReader) -> Self {
        Self {
            reader,
            items: Vec::with_capacity(10),
            cleared_keyspaces: Vec::new(),
            checksum_builder: xxhash_rust::xxh3::Xxh3::new(),
            is_in_batch: false,
            batch_seqno: 0,
            last_valid_pos: 0,
            batch_counter: 0,
            stopped: false,
        }
    }

    // TODO: reallocate space
    fn truncate_to(&self, last_valid_pos: u64) -> crate::Result<()> {
        log::trace!("Truncating journal to {last_valid_pos}");

        // TODO: on windows, reading file probably needs to be closed first...?

        let file = OpenOptions::new().write(true).open(&self.reader.path)?;
        if file.metadata()?.len() <= last_valid_pos {
            return Ok(());
        }
        file.set_len(last_valid_pos)?;
        file.sync_all()?;

        Ok(())
    }

    /// hookgate patch: reading stopped making sense at `failed_at`, in the batch that starts
    /// at `last_valid_pos` (or at that batch boundary itself). fjall cut the journal there
    /// (or failed, for a batch whose checksum or count did not add up) whatever the cause.
    /// But a journal is appended into zeros (a spare written out ahead, or a sparse file), and
    /// a write torn by a crash leaves zeros where its sectors never reached the disk: only
    /// then is the batch cut (it was never synced, nor was anything after it). Anything else
    /// is damage, and cutting there would drop every batch after it, synced ones too: the
    /// journal is left as it is and recovery fails, saying where.
    /// `read_to`: for an entry that did not decode at `failed_at`, how far it was read (else
    /// `None`: a batch did not add up, and `failed_at` is past its last entry).
    fn stop(&mut self, failed_at: u64, read_to: Option<u64>) -> Option<crate::Result<Batch>> {
        self.stopped = true;
        let from = self.last_valid_pos;
        match torn(&self.reader.path, from, failed_at, read_to) {
            Ok(true) => {
                if self.is_in_batch || failed_at > from {
                    log::debug!("Torn batch at {from} in {:?}: discarded", self.reader.path);
                }
                fail_iter!(self.truncate_to(from));
                None
            }
            Ok(false) => {
                log::error!(
                    "Journal {:?} damaged in the batch at byte {from} (unreadable at {failed_at}), not torn: left as it is",
                    self.reader.path
                );
                let journal = journal_id(&self.reader.path);
                Some(Err(crate::Error::JournalRecovery(
                    JournalRecoveryError::Damaged {
                        journal,
                        offset: from,
                    },
                )))
            }
            Err(e) => Some(Err(e.into())),
        }
    }
}

/// hookgate patch: the journal's number, from its file name (`<id>.jnl`).
fn journal_id(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// hookgate patch: whether zeros a torn write left explain why reading stopped at `failed_at`
/// in the batch from `from`: a whole sector of zeros from the batch's start to where reading
/// went (`read_to`, see `stop`), or an entry that did not decode because it is zeros to the
/// end of its sector, or one that begins where the file ends. An entry whose lengths run past
/// the file's end was read no further than its own sector: a damaged length must not reach the
/// zeros at the journal's unwritten end.
fn torn(path: &Path, from: u64, failed_at: u64, read_to: Option<u64>) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let until = match read_to {
        Some(_) if failed_at >= len => return Ok(true),
        Some(to) if to < len => to.max(failed_at + 1),
        Some(_) => failed_at + 1,
        None => failed_at,
    };
    let lo = from / SECTOR * SECTOR;
    let hi = until.div_ceil(SECTOR).saturating_mul(SECTOR).min(len);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(lo))?;
    file.take(hi.saturating_sub(lo)).read_to_end(&mut bytes)?;
    let zero_sector = bytes
        .chunks_exact(SECTOR as usize)
        .any(|s| s.iter().all(|&b| b == 0));
    // The entry's own sector, from the entry on.
    let at = usize::try_from(failed_at - lo).unwrap_or(usize::MAX);
    let own = usize::try_from((failed_at / SECTOR + 1) * SECTOR - lo).unwrap_or(usize::MAX);
    let zeros_from_failure = read_to.is_some()
        && bytes
            .get(at..own.min(bytes.len()))
            .is_some_and(|r| !r.is_empty() && r.iter().all(|&b| b == 0));
    Ok(zero_sector || zeros_from_failure)
}

impl Iterator for JournalBatchReader {
    type Item = crate::Result<Batch>;

    #[expect(clippy::too_many_lines)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.stopped {
                return None;
            }
            let Some(item) = self.reader.next() else {
                {
                    let read_to = self.reader.failed_read_to;
                    return self.stop(self.reader.last_valid_pos, Some(read_to));
                }
            };
            let item = fail_iter!(item);

            let journal_file_pos = self.reader.last_valid_pos;

            match item {
                Entry::Start { item_count, seqno } => {
                    if self.is_in_batch {
                        log::debug!("Invalid batch: found batch start inside batch");

                        return self.stop(journal_file_pos, None);
                    }

                    self.is_in_batch = true;
                    self.batch_counter = item_count;
                    self.batch_seqno = seqno;
                }
                Entry::End(expected_checksum) => {
                    if self.batch_counter > 0 {
                        log::error!("Invalid batch: insufficient length");
                        return self.stop(journal_file_pos, None);
                    }

                    if !self.is_in_batch {
                        log::error!("Invalid batch: found end marker without start marker");

                        return self.stop(journal_file_pos, None);
                    }

                    let got_checksum = self.checksum_builder.finish();
                    self.checksum_builder = xxhash_rust::xxh3::Xxh3::new();

                    if got_checksum != expected_checksum {
                        log::error!("Invalid batch: checksum check failed, expected: {expected_checksum}, got: {got_checksum}");
                        return self.stop(journal_file_pos, None);
                    }

                    // Reset all variables
                    self.is_in_batch = false;
                    self.batch_counter = 0;

                    self.last_valid_pos = journal_file_pos;

                    let items = std::mem::take(&mut self.items);
                    let cleared_keyspaces = std::mem::take(&mut self.cleared_keyspaces);
                    return Some(Ok(Batch {
                        seqno: self.batch_seqno,
                        items,
                        cleared_keyspaces,
                    }));
                }
                Entry::Item {
                    keyspace_id,
                    key,
                    value,
                    value_type,
                    compression,
                } => {
                    let item = Entry::Item {
                        keyspace_id,
                        key: key.clone(),
                        value: value.clone(),
                        value_type,
                        compression,
                    };
                    let mut bytes = Vec::with_capacity(100);
                    fail_iter!(item.encode_into(&mut bytes));

                    self.checksum_builder.update(&bytes);

                    if !self.is_in_batch {
                        log::debug!("Invalid batch: found end marker without start marker");

                        return self.stop(journal_file_pos, None);
                    }

                    if self.batch_counter == 0 {
                        log::error!("Invalid batch: Expected end marker (too many items in batch)");
                        return self.stop(journal_file_pos, None);
                    }

                    self.batch_counter -= 1;

                    self.items.push(ReadBatchItem {
                        keyspace_id,
                        key,
                        value,
                        value_type,
                    });
                }
                Entry::Clear { keyspace_id } => {
                    let entry = Entry::Clear { keyspace_id };
                    let mut bytes = Vec::with_capacity(16);
                    fail_iter!(entry.encode_into(&mut bytes));

                    self.checksum_builder.update(&bytes);

                    if !self.is_in_batch {
                        log::debug!("Invalid batch: found clear marker without start marker");

                        return self.stop(journal_file_pos, None);
                    }

                    if self.batch_counter == 0 {
                        log::error!("Invalid batch: Expected end marker (too many items in batch)");
                        return self.stop(journal_file_pos, None);
                    }

                    self.batch_counter -= 1;

                    self.cleared_keyspaces.push(keyspace_id);
                }
            }
        }
    }
}
