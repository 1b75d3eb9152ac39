//! What the events API asks a store: a filter over events, an event's full detail, and the
//! record of each delivery attempt.

use serde::{Deserialize, Serialize};

use super::{EventView, State};

/// Attempts an event keeps in its history (the last ones; older are dropped).
pub const HISTORY: usize = 20;
/// Longest error text an attempt keeps.
const ERROR_CHARS: usize = 300;
/// Events a listing examines per page at most: a page with a narrow filter may come back
/// short, with a cursor to go on from, rather than scan the whole store at once.
pub const SCAN_BUDGET: usize = 5000;

/// The error a cancelled event is dead-lettered with.
pub const CANCELLED: &str = "cancelled by operator";

/// The coarse states the API filters by (`scheduled` and `in_flight` are `pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateClass {
    Pending,
    Delivered,
    Dead,
}

impl StateClass {
    pub fn parse(s: &str) -> Option<StateClass> {
        match s {
            "pending" => Some(StateClass::Pending),
            "delivered" => Some(StateClass::Delivered),
            "dead" => Some(StateClass::Dead),
            _ => None,
        }
    }

    pub fn of(s: State) -> StateClass {
        match s {
            State::Pending | State::Scheduled | State::InFlight => StateClass::Pending,
            State::Delivered => StateClass::Delivered,
            State::Dead => StateClass::Dead,
        }
    }
}

/// The last attempt's status: a code (`502`), a class (`5xx`), or `error` (no status at all:
/// connect failure, timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Code(u16),
    Class(u16),
    Error,
}

impl StatusFilter {
    pub fn parse(s: &str) -> Option<StatusFilter> {
        let b = s.as_bytes();
        match b {
            b"error" => Some(StatusFilter::Error),
            [c @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                Some(StatusFilter::Class(u16::from(c - b'0')))
            }
            _ => s
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .map(StatusFilter::Code),
        }
    }

    fn matches(self, status: Option<u16>, error: Option<&str>) -> bool {
        match (self, status) {
            (StatusFilter::Code(c), Some(s)) => s == c,
            (StatusFilter::Class(c), Some(s)) => s / 100 == c,
            (StatusFilter::Error, None) => error.is_some(),
            _ => false,
        }
    }
}

/// Which events a listing or a bulk operation takes. `routes` is never empty (the admin API
/// passes every configured route when none is named).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub routes: Vec<String>,
    /// Empty: every state.
    pub states: Vec<StateClass>,
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub status: Option<StatusFilter>,
    /// A substring of the event ID.
    pub q: Option<String>,
}

impl EventFilter {
    pub fn wants_state(&self, s: State) -> bool {
        self.states.is_empty() || self.states.contains(&StateClass::of(s))
    }

    pub fn in_time(&self, received_ms: u64) -> bool {
        self.since_ms.is_none_or(|s| received_ms >= s)
            && self.until_ms.is_none_or(|u| received_ms <= u)
    }

    pub fn matches(&self, v: &EventView) -> bool {
        self.routes.contains(&v.route)
            && self.wants_state(v.state)
            && self.in_time(v.received_at_ms)
            && self
                .status
                .is_none_or(|f| f.matches(v.last_status, v.last_error.as_deref()))
            && self.q.as_deref().is_none_or(|q| v.event_id.contains(q))
    }
}

/// When an attempt started and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub started_ms: u64,
    pub duration_ms: u64,
}

/// One delivery attempt, as the event's history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: u64,
    pub duration_ms: u64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub next_attempt_at_ms: Option<u64>,
}

impl Attempt {
    pub fn new(t: Timing, outcome: &super::Outcome) -> Attempt {
        let (status, error, next) = match outcome {
            super::Outcome::Delivered { status } => (Some(*status), None, None),
            super::Outcome::Retry {
                at_ms,
                error,
                status,
            } => (*status, Some(error), Some(*at_ms)),
            super::Outcome::Dead { error, status } => (*status, Some(error), None),
        };
        Attempt {
            at_ms: t.started_ms,
            duration_ms: t.duration_ms,
            status,
            // One line, bounded: it is kept per attempt and shown as text.
            error: error.map(|e| {
                e.chars()
                    .filter(|c| !c.is_control())
                    .take(ERROR_CHARS)
                    .collect()
            }),
            next_attempt_at_ms: next,
        }
    }

    /// Appends `a`, keeping the last `HISTORY`.
    pub fn push(history: &mut Vec<Attempt>, a: Attempt) {
        history.push(a);
        if history.len() > HISTORY {
            let extra = history.len() - HISTORY;
            history.drain(..extra);
        }
    }

    /// One line of the Redis store's history field: `at|duration|status|next|error` (the
    /// error last, free of control characters, so `|` in it needs no escaping).
    pub fn to_line(&self) -> String {
        // Written per recorded attempt: pushed, not `format!`ted (a third of the cost).
        let error = self.error.as_deref().unwrap_or_default();
        let mut line = String::with_capacity(48 + error.len());
        let mut digits = itoa::Buffer::new();
        let numbers = [
            Some(self.at_ms),
            Some(self.duration_ms),
            self.status.map(u64::from),
            self.next_attempt_at_ms,
        ];
        for n in numbers {
            if let Some(n) = n {
                line.push_str(digits.format(n));
            }
            line.push('|');
        }
        line.push_str(error);
        line
    }

    pub fn from_line(line: &str) -> Option<Attempt> {
        let mut it = line.splitn(5, '|');
        let at_ms = it.next()?.parse().ok()?;
        let duration_ms = it.next()?.parse().ok()?;
        let status = it.next()?.parse().ok();
        let next_attempt_at_ms = it.next()?.parse().ok();
        let error = Some(it.next()?.to_string()).filter(|e| !e.is_empty());
        Some(Attempt {
            at_ms,
            duration_ms,
            status,
            error,
            next_attempt_at_ms,
        })
    }
}

/// Everything kept of one event: its summary, where it came from, what it carries (while kept)
/// and its attempts.
#[derive(Debug, Clone)]
pub struct EventDetail {
    pub view: EventView,
    pub client_ip: String,
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    /// `None` once the event no longer keeps its body (delivered).
    pub body: Option<Vec<u8>>,
    pub history: Vec<Attempt>,
    /// What verified it; empty for events stored before verdicts were kept.
    pub verification: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outcome;

    #[test]
    fn status_filters() {
        assert_eq!(StatusFilter::parse("502"), Some(StatusFilter::Code(502)));
        assert_eq!(StatusFilter::parse("5xx"), Some(StatusFilter::Class(5)));
        assert_eq!(StatusFilter::parse("error"), Some(StatusFilter::Error));
        for bad in ["", "6xx", "99", "600", "5x", "abc", "-1"] {
            assert_eq!(StatusFilter::parse(bad), None, "{bad}");
        }
        assert!(StatusFilter::Class(5).matches(Some(503), None));
        assert!(!StatusFilter::Class(5).matches(Some(404), None));
        assert!(StatusFilter::Error.matches(None, Some("connect failed")));
        assert!(!StatusFilter::Error.matches(Some(500), Some("HTTP 500")));
    }

    #[test]
    fn history_is_bounded_and_lines_round_trip() {
        let mut h = Vec::new();
        for i in 0..30 {
            let t = Timing {
                started_ms: i,
                duration_ms: 5,
            };
            let o = Outcome::Retry {
                at_ms: i + 100,
                error: "HTTP 503 a|b\nc".into(),
                status: Some(503),
            };
            Attempt::push(&mut h, Attempt::new(t, &o));
        }
        assert_eq!(h.len(), HISTORY);
        assert_eq!(h[0].at_ms, 10);
        assert_eq!(h[0].error.as_deref(), Some("HTTP 503 a|bc"));
        assert_eq!(Attempt::from_line(&h[0].to_line()).as_ref(), Some(&h[0]));
        // The stored form, which replicas of other versions read.
        assert_eq!(h[0].to_line(), "10|5|503|110|HTTP 503 a|bc");
        let ok = Attempt::new(
            Timing {
                started_ms: 1,
                duration_ms: 2,
            },
            &Outcome::Delivered { status: 204 },
        );
        assert_eq!(ok.to_line(), "1|2|204||");
        assert_eq!(Attempt::from_line(&ok.to_line()), Some(ok));
    }
}
