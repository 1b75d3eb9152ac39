//! A finished segment that could not be deleted (an I/O error, a file made immutable, a
//! filesystem that refuses): kept and tried again later, backing off. It holds nothing still
//! needed, only disk space, so it is no reason to break the store down and refuse events.

use std::io;
use std::time::{Duration, Instant};

/// The first retry's wait, doubled per failure up to `MAX_WAIT`: a deletion costs a synced
/// fjall first (`LogWriter::retire`), not to be paid on every group while it fails.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(60);

pub struct Stuck {
    since: Instant,
    next: Instant,
    tries: u32,
    error: String,
}

impl Stuck {
    /// Whether the next try is due.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// A failed deletion of `segment`, after `before` (the same trouble, still there). Said
    /// at its start, and again only when the error changes; the gauge
    /// `hookgate_store_log_undeletable_segments` says it meanwhile.
    pub fn failed(before: Option<Stuck>, segment: u32, e: &io::Error, now: Instant) -> Stuck {
        let error = e.to_string();
        let (since, tries) = match before {
            Some(b) if b.error == error => (b.since, b.tries + 1),
            b => {
                tracing::warn!(
                    segment,
                    error,
                    "cannot delete an event log segment whose events all left it; it is kept \
                     and deleted at a later try (events are still accepted)"
                );
                b.map_or((now, 1), |b| (b.since, b.tries + 1))
            }
        };
        let wait = FIRST_WAIT
            .saturating_mul(1 << (tries - 1).min(6))
            .min(MAX_WAIT);
        Stuck {
            since,
            next: now + wait,
            tries,
            error,
        }
    }

    /// The kept segments were deleted at last.
    pub fn cleared(self) {
        tracing::info!(
            tries = self.tries + 1,
            after_s = self.since.elapsed().as_secs(),
            "event log segments deleted after failed tries"
        );
    }
}
