//! When to try again: exponential backoff with full jitter, lengthened to what the upstream
//! asked for.

use std::time::{Duration, SystemTime};

use crate::routing::Backoff;

/// The longest an upstream's `Retry-After` holds an event, unless `backoff.max` is longer.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// The wait before attempt `attempt + 1`: the backoff's draw (`delay`), lengthened — never
/// shortened — to the upstream's `Retry-After`, which holds the event at most an hour or
/// `backoff.max`, whichever is longer. `Retry-After: 0` is the backoff as if unsaid, not every
/// attempt back to back; `86400` is an hour, not a day per attempt.
pub fn wait(b: Backoff, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let drawn = delay(b, attempt);
    match retry_after {
        Some(asked) => asked.min(b.max.max(RETRY_AFTER_CAP)).max(drawn),
        None => drawn,
    }
}

/// Delay before attempt `attempt + 1`, after `attempt` failed attempts (1-based): uniformly
/// random in `[0, min(max, initial * 2^(attempt-1))]` ("full jitter").
fn delay(b: Backoff, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(32);
    let ceiling = b.initial.saturating_mul(1u32 << exp.min(31)).min(b.max);
    let ms = ceiling.as_millis().min(u64::MAX as u128) as u64;
    Duration::from_millis(fastrand::u64(0..=ms))
}

/// Retrying a store write that failed (recording an outcome): from 100 ms doubling to 5 s,
/// with the upper half jittered so stuck deliveries do not retry in step, and never zero, so
/// a store that fails at once can never make a tight loop.
pub fn store_retry(failures: u32) -> Duration {
    let ceiling = STORE_RETRY_FIRST
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(STORE_RETRY_MAX);
    let half = (ceiling.as_millis() / 2) as u64;
    Duration::from_millis(half + fastrand::u64(0..=half))
}

const STORE_RETRY_FIRST: Duration = Duration::from_millis(100);
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// `Retry-After` as delay-seconds or an HTTP date (bounded by `wait`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    match v.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => Some(
            httpdate::parse_http_date(v)
                .ok()?
                .duration_since(now)
                .unwrap_or(Duration::ZERO),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_ceiling() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for attempt in 1..40 {
            let ceiling = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20))).min(b.max);
            for _ in 0..50 {
                assert!(delay(b, attempt) <= ceiling, "attempt {attempt}");
            }
        }
        // Jitter actually spreads the delays.
        let spread: std::collections::HashSet<_> = (0..50).map(|_| delay(b, 5)).collect();
        assert!(spread.len() > 10);
    }

    #[test]
    fn store_retries_back_off_and_never_spin() {
        for f in 1..100 {
            let d = store_retry(f);
            assert!(d >= Duration::from_millis(50), "{f}: {d:?}");
            assert!(d <= STORE_RETRY_MAX, "{f}: {d:?}");
        }
        assert!(store_retry(20) >= STORE_RETRY_MAX / 2);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("99999999", now),
            Some(Duration::from_secs(99_999_999))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_lengthens_the_draw_within_a_bound() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let secs = |s| Some(Duration::from_secs(s));
        // Never shorter than the draw: `0` leaves the backoff's spread as it is.
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| wait(b, 3, secs(0)).as_millis()).collect();
        assert!(spread.len() > 10);
        assert!((0..50).all(|_| wait(b, 3, secs(0)) <= Duration::from_secs(4)));
        // Lengthened to what was asked, up to an hour.
        assert_eq!(wait(b, 1, secs(30)), Duration::from_secs(30));
        assert_eq!(wait(b, 1, secs(86_400)), RETRY_AFTER_CAP);
        assert_eq!(wait(b, 1, secs(u64::MAX)), RETRY_AFTER_CAP);
        // Or to `backoff.max` where that is longer.
        let long = Backoff {
            max: Duration::from_secs(6 * 3600),
            ..b
        };
        assert_eq!(wait(long, 1, secs(86_400)), Duration::from_secs(6 * 3600));
    }
}
