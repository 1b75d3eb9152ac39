//! Refusals Redis gave for shared rate limits, remembered until the refused bucket's next
//! token. Until then the answer cannot change: only the bucket's own refill gives a token
//! back, and other replicas' requests can only push that further. So a client that keeps
//! sending after its `429` is refused by its replica without a round trip, and a flood of a
//! shared route costs Redis about one script call per refused bucket, token interval and
//! replica, not one per request. The time is taken from before the call was sent, so a
//! remembered refusal never outlasts the real one.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Decision, Headers, ceil_secs};

/// Refusals remembered at most; past it, expired ones are swept (at most once per
/// [`SWEEP_EVERY`]) and, if none expired, new ones are not remembered.
pub const MAX_REMEMBERED: usize = 100_000;
const SWEEP_EVERY: Duration = Duration::from_secs(1);

struct Refused {
    until: Instant,
    headers: Headers,
}

struct Table {
    /// By the refused bucket's Redis key.
    refused: HashMap<String, Refused>,
    next_sweep: Instant,
}

pub struct Refusals {
    table: Mutex<Table>,
}

impl Refusals {
    pub fn new() -> Refusals {
        Refusals {
            table: Mutex::new(Table {
                refused: HashMap::new(),
                next_sweep: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        crate::lock::lock(&self.table)
    }

    /// The refusal still standing for the bucket of Redis key `key`, if any.
    pub fn standing(&self, key: &str, now: Instant) -> Option<Decision> {
        let table = self.lock();
        let r = table.refused.get(key)?;
        let wait = r
            .until
            .checked_duration_since(now)
            .filter(|w| !w.is_zero())?;
        Some(Decision::Limited {
            retry_after: wait,
            headers: Headers {
                reset_secs: ceil_secs(wait),
                ..r.headers.clone()
            },
        })
    }

    /// Remembers `decision` (if a refusal) of the bucket of `key`, asked at `sent`.
    pub fn remember(&self, key: &str, sent: Instant, decision: &Decision) {
        let Decision::Limited {
            retry_after,
            headers,
        } = decision
        else {
            return;
        };
        let mut table = self.lock();
        if table.refused.len() >= MAX_REMEMBERED && !table.refused.contains_key(key) {
            let now = Instant::now();
            if now < table.next_sweep {
                return;
            }
            table.next_sweep = now + SWEEP_EVERY;
            table.refused.retain(|_, r| r.until > now);
            table.refused.shrink_to_fit();
            if table.refused.len() >= MAX_REMEMBERED {
                return;
            }
        }
        let refused = Refused {
            until: sent + *retry_after,
            headers: headers.clone(),
        };
        table.refused.insert(key.to_owned(), refused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn refused(wait: Duration) -> Decision {
        Decision::Limited {
            retry_after: wait,
            headers: Headers {
                limit: 2,
                remaining: 0,
                reset_secs: ceil_secs(wait),
                policy: Arc::from("2;w=60"),
            },
        }
    }

    #[test]
    fn a_refusal_stands_until_its_bucket_earns_a_token() {
        let r = Refusals::new();
        let sent = Instant::now();
        r.remember("k", sent, &refused(Duration::from_secs(30)));
        r.remember("allowed", sent, &Decision::Unlimited);
        let later = sent + Duration::from_secs(10);
        let d = r.standing("k", later).unwrap();
        assert_eq!(d.retry_after_secs(), Some(20));
        assert_eq!(d.headers().map(|h| (h.limit, h.reset_secs)), Some((2, 20)));
        assert!(r.standing("k", sent + Duration::from_secs(30)).is_none());
        assert!(r.standing("other", later).is_none());
        assert!(r.standing("allowed", later).is_none());
    }

    #[test]
    fn a_full_table_remembers_no_more() {
        let r = Refusals::new();
        let sent = Instant::now();
        for i in 0..MAX_REMEMBERED {
            r.remember(&i.to_string(), sent, &refused(Duration::from_secs(60)));
        }
        r.remember("one more", sent, &refused(Duration::from_secs(60)));
        assert!(r.standing("one more", sent).is_none());
        assert!(r.standing("7", sent).is_some());
    }
}
