//! Healing after a failed write (a full disk, an I/O error), without a restart.
//!
//! A failed journal write or fsync poisons the fjall database: every later write answers
//! `Poisoned`, so the only way back is to reopen the directory, which replays the journal (and
//! drops a torn last batch) exactly as a restart would. fjall's lock file stays locked while any
//! handle (database, keyspace, write batch) lives, so first every handle goes: the writer takes
//! them out of `Shared` (readers then get 503) and waits for readers to let go.
//!
//! While broken, every write is refused at once (503 with `Retry-After`; `/readyz` false) and the
//! directory is reopened with a growing delay. Delivery outcomes that arrive meanwhile (or were in
//! the failed group) are held here, their events stay leased, and they are written before the
//! store serves again: an event delivered during the outage is not delivered again. Only a
//! process exit before recovery loses them (those events are then delivered once more).
//! Before a reopen, `PROBE_BYTES` must fit on the disk (written, synced, removed), and after it
//! a write must go through, so a disk that is still (nearly) full does not make `/readyz` flap.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::{Lease, Op, Reply, Txn, Writer, fail};
use crate::event::now_ms;
use crate::store::embedded::log::recover::recover;
use crate::store::embedded::{build_index, keys, lock, open_handles};
use crate::store::{Outcome, Timing};

/// How often a broken store answers what was queued (and so how long a refusal takes at most).
const RECOVERY_POLL: Duration = Duration::from_millis(20);
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// A store that breaks again this soon after recovering keeps its delay (no fast flapping).
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Failed reopen attempts are summarised at most this often.
const LOG_EVERY: Duration = Duration::from_secs(30);
/// How long the writer waits for readers to drop their handles before it lets the last one
/// drop them (a reopen before that answers `Locked` and is simply tried again).
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// Room the disk must have before the store is reopened.
const PROBE_BYTES: usize = 1 << 20;
/// The probe file, next to the journals (fjall ignores files that are not `*.jnl` there).
const PROBE_FILE: &str = "space-probe.tmp";
/// Outcomes held beyond this are refused (the event is then released and delivered again).
const MAX_PARKED: usize = 100_000;

/// A delivery outcome waiting to be written.
pub struct Parked {
    pub lease: Lease,
    pub outcome: Outcome,
    pub timing: Timing,
}

pub struct Broken {
    since: Instant,
    next_try: Instant,
    delay: Duration,
    attempts: u32,
    refused: u64,
    last_log: Instant,
}

impl Writer {
    /// Answers a failed group's reply: an outcome is held (Ok), anything else is an error.
    pub(super) fn fail_reply(&mut self, r: Reply, msg: &str) {
        match r {
            Reply::Complete(tx, p) if self.parked.len() < MAX_PARKED => {
                self.parked.push(p);
                drop(tx.send(Ok(())));
            }
            r => r.send(Err(msg)),
        }
    }

    /// Answers an operation that arrives while the store is broken.
    pub(super) fn refuse(&mut self, op: Op) {
        if let Some(b) = self.broken.as_mut() {
            b.refused += 1;
        }
        match op {
            Op::Complete(lease, outcome, timing, tx) if self.parked.len() < MAX_PARKED => {
                self.parked.push(Parked {
                    lease,
                    outcome,
                    timing,
                });
                drop(tx.send(Ok(())));
            }
            op => fail(op, crate::store::embedded::RECOVERING),
        }
    }

    /// The store closes (shutdown): outcomes still held are lost, so say what that means.
    pub(super) fn closing(&self) {
        if !self.parked.is_empty() {
            tracing::warn!(
                events = self.parked.len(),
                "store closing before it recovered: these events' delivery outcomes were not \
                 written, so they will be delivered again after the next start"
            );
        }
    }

    /// After a failed commit: refuse writes, drop every handle, and plan the first reopen.
    pub(super) fn break_down(&mut self, error: &str, ops: usize) {
        self.shared.healthy.store(false, Ordering::Relaxed);
        let now = Instant::now();
        // Breaking again soon after a recovery: the cause is likely still there.
        let delay = match &self.recovered {
            Some((at, delay)) if at.elapsed() < STABLE_AFTER => (*delay * 2).min(MAX_DELAY),
            _ => FIRST_DELAY,
        };
        tracing::error!(
            error,
            ops,
            retry_in_ms = delay.as_millis() as u64,
            "store write failed; refusing writes (503) until the store is reopened"
        );
        self.release_handles();
        self.broken = Some(Broken {
            since: now,
            next_try: now + delay,
            delay,
            attempts: 0,
            refused: 0,
            last_log: now,
        });
    }

    /// Takes the handles out of reach and drops them once nobody else holds them.
    fn release_handles(&mut self) {
        let Some(old) = self.shared.handles.swap(None) else {
            return;
        };
        let deadline = Instant::now() + RELEASE_WAIT;
        while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(old);
    }

    /// One round while broken: answer what is queued, reopen when it is time. False once the
    /// store is closed.
    pub(super) fn heal(&mut self, rx: &mut mpsc::Receiver<Op>) -> bool {
        loop {
            match rx.try_recv() {
                Ok(op) => self.refuse(op),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
        let Some(b) = self.broken.as_ref() else {
            return true;
        };
        let now = Instant::now();
        if now < b.next_try {
            std::thread::sleep((b.next_try - now).min(RECOVERY_POLL));
            return true;
        }
        match self.reopen() {
            Ok(parked) => {
                let Some(b) = self.broken.take() else {
                    return true;
                };
                self.recovered = Some((Instant::now(), b.delay));
                self.shared.healthy.store(true, Ordering::Relaxed);
                self.shared.work.due();
                tracing::warn!(
                    down_ms = b.since.elapsed().as_millis() as u64,
                    attempts = b.attempts + 1,
                    refused = b.refused,
                    outcomes_written = parked,
                    "store reopened after a write failure; taking writes again"
                );
            }
            Err(e) => {
                let Some(b) = self.broken.as_mut() else {
                    return true;
                };
                b.attempts += 1;
                b.delay = (b.delay * 2).min(MAX_DELAY);
                b.next_try = Instant::now() + b.delay;
                if b.attempts == 1 || b.last_log.elapsed() >= LOG_EVERY {
                    b.last_log = Instant::now();
                    tracing::warn!(
                        error = %e,
                        attempts = b.attempts,
                        down_ms = b.since.elapsed().as_millis() as u64,
                        refused = b.refused,
                        retry_in_ms = b.delay.as_millis() as u64,
                        "cannot reopen the store yet"
                    );
                }
            }
        }
        true
    }

    /// Opens the directory again, writes the held outcomes (and a probe), rebuilds the index
    /// and puts the new handles in place. Returns how many outcomes were written.
    fn reopen(&mut self) -> Result<usize, String> {
        probe_space(&self.shared.path).map_err(|e| format!("no room on the disk yet: {e}"))?;
        let handles =
            open_handles(&self.shared.path, &self.shared.memory).map_err(|e| e.to_string())?;
        let now = now_ms();
        // The log as the disk has it (a failed group's entries may be there: events answered
        // 503 but stored, which a sender's retry finds as duplicates).
        let recovered = recover(&self.shared.path, &handles, now, self.shared.memory.log)?;
        *lock(&self.shared.log) = recovered.logged;
        self.log = recovered.writer;
        let shared = self.shared.clone();
        let mut txn = Txn::new(&handles, &shared.log);
        let mut effects = Vec::new();
        for p in &self.parked {
            txn.complete(p.lease, p.outcome.clone(), p.timing, now, &mut effects)
                .map_err(|e| e.to_string())?;
        }
        // A write must go through before the store says it is ready again.
        txn.batch
            .insert(&handles.meta, keys::PROBE, keys::be(now).to_vec());
        txn.sync_fjall = true;
        let at = self.append_log(&mut txn).map_err(|e| e.to_string())?;
        let settle = txn.commit().map_err(|e| e.to_string())?;
        self.settle_log(at, settle);
        // From disk, now that the outcomes are in: what they finished is not leased again.
        let mut queued = recovered.queued;
        {
            let log = lock(&self.shared.log);
            queued.retain(|(seq, _)| log.contains(*seq));
        }
        let (mut index, next_seq) =
            build_index(&handles, self.shared.memory.hot, queued).map_err(|e| e.to_string())?;
        let next_seq = next_seq.max(recovered.next_seq);
        let parked = std::mem::take(&mut self.parked);
        {
            let mut ix = lock(&self.shared.index);
            let mut leases = lock(&self.shared.leases);
            for p in &parked {
                leases.remove(&p.lease.seq);
            }
            // Attempts still in flight keep their order keys' lines.
            index.keep_in_flight(&ix, &leases);
            *ix = index;
        }
        self.shared.handles.store(Some(Arc::new(handles)));
        // Never below this process's own: a seq taken before the failure may be leased still.
        self.next_seq = self.next_seq.max(next_seq);
        self.expiry_from = [0; 16];
        Ok(parked.len())
    }
}

/// Writes, syncs and removes `PROBE_BYTES`: an error (ENOSPC) means the disk is still full.
fn probe_space(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(PROBE_FILE);
    let written = std::fs::File::create(&path).and_then(|mut f| {
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_data()
    });
    let removed = std::fs::remove_file(&path);
    written.and(removed)
}
