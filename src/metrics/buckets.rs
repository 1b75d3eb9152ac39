//! The buckets of `hookgate_request_duration_seconds`, sized once by the first config loaded.

use std::sync::OnceLock;
use std::time::Duration;

/// Request-duration buckets: fine below 10 s, then coarse up to the longest `sync_timeout`
/// (the longest a sync request is held), which is a bucket of its own.
pub(super) const LATENCY: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const LONG: [f64; 8] = [30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0];
pub(super) static REQUEST_TOP: OnceLock<Duration> = OnceLock::new();

/// Sets the top bucket of `hookgate_request_duration_seconds` to the longest `sync_timeout`;
/// the first config loaded decides (histogram buckets are fixed for a process's life).
pub fn size_request_buckets(longest_sync_timeout: Duration) {
    let _ = REQUEST_TOP.set(longest_sync_timeout);
}

/// The top bucket's bound, once the first config has set it.
pub fn request_top() -> Option<Duration> {
    REQUEST_TOP.get().map(|t| (*t).max(FINE_TOP))
}

/// The top bucket is never below the fine buckets' last.
const FINE_TOP: Duration = Duration::from_secs(10);

pub(super) fn request_buckets(top: Duration) -> Vec<f64> {
    let top = top.max(FINE_TOP).as_secs_f64();
    let mut b: Vec<f64> = LATENCY
        .iter()
        .chain(&LONG)
        .copied()
        .filter(|x| *x < top)
        .collect();
    b.push(top);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_buckets_end_at_the_longest_sync_timeout() {
        let fine = request_buckets(Duration::ZERO);
        assert_eq!(fine, LATENCY.to_vec(), "10 s is the floor");
        let b = request_buckets(Duration::from_secs(45));
        assert_eq!(&b[b.len() - 3..], [10.0, 30.0, 45.0]);
        let b = request_buckets(Duration::from_secs(60));
        assert_eq!(&b[b.len() - 2..], [30.0, 60.0]);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
    }
}
