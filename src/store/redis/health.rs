//! Whether Redis answers, as every exchange sees it: `/readyz` follows what requests get (a
//! 0.45 s restart that makes requests fail shows as not ready at once, not only if a periodic
//! ping happens to fall into it), and takeovers wait until Redis has answered steadily for a
//! while, so that a holder cut off by the same outage gets to heartbeat again first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use super::probe::is_refusal;
use crate::event::now_ms;
use crate::logs;
use crate::metrics::METRICS;

/// How long `/readyz` stays not ready after an exchange with Redis failed, however soon Redis
/// answers again.
const READY_HOLD_MS: u64 = 1000;

pub(super) struct Health {
    ok: AtomicBool,
    /// When an exchange last failed for want of Redis (ms since the epoch); 0 = never.
    last_failure_ms: AtomicU64,
    /// When this process started: what it has seen of Redis begins there, so a replica started
    /// just after an outage waits as one that lived through it (`steady_for`).
    started_ms: u64,
    /// Redis refused a command hookgate needs (`probe`): not ready until the probe passes.
    refused: AtomicBool,
}

/// Errors that mean Redis did not (usefully) answer, as opposed to an answer that is an error
/// (a script's, a missing group's): only the former make hookgate not ready.
pub fn is_outage(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
            )
        )
}

/// Redis is full: over its `maxmemory` with `noeviction`, it refuses (`OOM`) every command
/// that may add data, and a script at its first such write (not at later ones). An answer,
/// not an outage: reads and writes that free memory still run.
pub fn is_full(e: &RedisError) -> bool {
    e.code() == Some("OOM")
}

/// What a refusal of a full Redis says, instead of Redis' own text (which names a script's
/// SHA and line): one message, so the log summarises it as one.
pub(super) const FULL: &str = "redis is full (OOM: used_memory over maxmemory): it refuses what would add data until deliveries free memory";

/// Summarised: every refused write of a full Redis comes here.
fn full() {
    if logs::REDIS_FULL.hit("", String::new) {
        tracing::warn!("{}", logs::REDIS_FULL.message);
    }
}

impl Health {
    /// Not ready until Redis first answers.
    pub(super) fn new() -> Health {
        Health {
            ok: AtomicBool::new(false),
            last_failure_ms: AtomicU64::new(0),
            started_ms: now_ms(),
            refused: AtomicBool::new(false),
        }
    }

    /// An exchange's result (an answer's errors by `saw_answer`).
    pub(super) fn saw<T>(&self, r: &redis::RedisResult<T>) {
        match r {
            Err(e) if is_outage(e) => self.failed(),
            Err(e) if is_full(e) => {
                self.answered();
                full();
            }
            Err(e) if is_refusal(e.code(), &e.to_string()) => {
                self.answered();
                self.refused(&e.to_string());
            }
            _ => self.answered(),
        }
    }

    /// Answers (a command's, or a pipeline's): a server's error answer comes as one
    /// (`Value::ServerError`, made an error only by the caller's conversion). One that says
    /// Redis cannot serve now (`LOADING` after a restart, `MASTERDOWN`, `CLUSTERDOWN`,
    /// `TRYAGAIN`) is an outage, as `is_outage` says of the same error: counted as an answer,
    /// it kept the store ready while every command failed (a `PING` is answered while loading);
    /// a full Redis' refusal (`OOM`) is an answer, and said.
    pub(super) fn saw_answer(&self, answers: &[Value]) {
        let errors = || {
            answers
                .iter()
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().collect::<Vec<_>>(),
                    v => vec![v],
                })
                .filter_map(|v| match v {
                    Value::ServerError(e) => Some(e),
                    _ => None,
                })
        };
        let codes = || errors().map(|e| e.code());
        if codes().any(|c| matches!(c, "LOADING" | "MASTERDOWN" | "CLUSTERDOWN" | "TRYAGAIN")) {
            self.failed();
            return;
        }
        self.answered();
        if codes().any(|c| c == "OOM") {
            full();
        }
        if let Some(e) = errors().find(|e| is_refusal(Some(e.code()), e.details().unwrap_or(""))) {
            self.refused(&format!("{} {}", e.code(), e.details().unwrap_or("")));
        }
    }

    /// An answer that refuses a command hookgate needs: not an outage (the spill would take
    /// events no drain can forward), a config error of Redis' (an ACL changed live, a command
    /// renamed): not ready, said, counted, until `probe` passes again.
    fn refused(&self, what: &str) {
        METRICS.redis.refused.inc();
        self.refused.store(true, Ordering::Relaxed);
        if logs::REDIS_REFUSED.hit("", || what.to_string()) {
            tracing::error!(error = %what, "{}", logs::REDIS_REFUSED.message);
        }
    }

    /// Redis refused a command since the probe last passed.
    pub(super) fn refusing(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// The probe passed: every command runs.
    pub(super) fn accepted_all(&self) {
        if self.refused.swap(false, Ordering::Relaxed) {
            tracing::info!("redis runs every command hookgate needs again");
        }
    }

    // A Redis that answers some exchanges in time and not others flips this often: the log
    // lines are rate-limited, the state is not.
    fn failed(&self) {
        self.last_failure_ms.store(now_ms(), Ordering::Relaxed);
        if self.ok.swap(false, Ordering::Relaxed) && logs::REDIS_UNREACHABLE.hit("", String::new) {
            tracing::warn!(
                "redis unreachable; events go to the local spill (503 without one) until it is back"
            );
        }
    }

    fn answered(&self) {
        if !self.ok.swap(true, Ordering::Relaxed) && logs::REDIS_REACHABLE.hit("", String::new) {
            tracing::info!("redis reachable");
        }
    }

    pub(super) fn ok(&self) -> bool {
        self.ok.load(Ordering::Relaxed)
    }

    /// Whether to say ready: Redis answers, and has for `READY_HOLD_MS` since an exchange last
    /// failed. Without the hold a blip (a 175 ms restart, one request refused) showed as not
    /// ready for a millisecond, between one exchange failing and the next answered: no probe
    /// or load balancer would see it, and the requests did.
    pub(super) fn ready(&self, now: u64) -> bool {
        self.answered_for(READY_HOLD_MS, 0, now) && !self.refusing()
    }

    /// An exchange failed since Redis last answered (not merely: not answered yet, at start).
    pub(super) fn down(&self) -> bool {
        !self.ok() && self.last_failure_ms.load(Ordering::Relaxed) > 0
    }

    /// Redis answered every exchange of the last `ms`, all of them seen by this process.
    pub(super) fn steady_for(&self, ms: u64, now: u64) -> bool {
        self.answered_for(ms, self.started_ms, now)
    }

    /// Redis answers, and `ms` have passed since the last failed exchange and since `from`.
    fn answered_for(&self, ms: u64, from: u64, now: u64) -> bool {
        let since = self.last_failure_ms.load(Ordering::Relaxed).max(from);
        self.ok() && now.saturating_sub(since) >= ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_answers() {
        let h = Health::new();
        assert!(!h.ok());
        let answer_error: redis::RedisResult<()> = Err(RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "NOGROUP",
        )));
        h.saw(&answer_error);
        assert!(h.ok(), "an error answer is an answer");
        assert!(h.ready(now_ms()), "no hold before any failure (a start)");
        let now = now_ms();
        assert!(
            !h.steady_for(1000, now),
            "not before this process has seen Redis answer for that long"
        );
        assert!(h.steady_for(1000, now + 1000));
        let gone: redis::RedisResult<()> =
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe).into());
        h.saw(&gone);
        assert!(!h.ok() && !h.steady_for(0, now));
        let loading: redis::RedisResult<()> = Err(RedisError::from((
            ErrorKind::Server(ServerErrorKind::BusyLoading),
            "LOADING",
        )));
        h.saw(&Ok::<(), RedisError>(()));
        assert!(h.ok() && !h.steady_for(1000, now_ms()));
        // Answered again at once, but not ready until the hold has passed.
        let failed = h.last_failure_ms.load(Ordering::Relaxed);
        assert!(!h.ready(failed + READY_HOLD_MS - 1));
        assert!(h.ready(failed + READY_HOLD_MS));
        h.saw(&loading);
        assert!(!h.ok());
        // A full Redis answers: not an outage, said as full.
        let full = redis::make_extension_error(
            "OOM".into(),
            Some("command not allowed when used memory > 'maxmemory'.".into()),
        );
        assert!(is_full(&full) && !is_outage(&full), "{full:?}");
        h.saw(&Err::<(), _>(full));
        assert!(h.ok());
        // The same as answers (how a command's error reply reaches the connection): loading
        // is an outage, in a pipeline's replies too; a full Redis' refusal is not.
        let answer = |resp: &[u8]| redis::parse_redis_value(resp).unwrap();
        h.saw_answer(&[
            answer(b"+OK\r\n"),
            answer(b"-LOADING Redis is loading the dataset in memory\r\n"),
        ]);
        assert!(!h.ok(), "LOADING answered");
        h.saw_answer(&[answer(b"+OK\r\n")]);
        assert!(h.ok());
        h.saw_answer(&[answer(b"*1\r\n-MASTERDOWN Link with MASTER is down\r\n")]);
        assert!(!h.ok(), "MASTERDOWN inside an array");
        h.saw_answer(&[answer(
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        )]);
        assert!(h.ok(), "a full Redis answers");
    }
}
