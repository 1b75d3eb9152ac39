//! W3C Trace Context (`traceparent`): parsed strictly, since a sender writes it. A header that
//! is not exactly right starts a new trace, as the recommendation says; it never fails a request.

use std::fmt::Write as _;

/// One span's place in a trace: what a `traceparent` header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

const SAMPLED: u8 = 1;
/// `00-` + 32 hex + `-` + 16 hex + `-` + 2 hex.
const LEN: usize = 55;

impl TraceContext {
    /// A new trace (no usable parent): random IDs, sampled.
    pub fn root() -> TraceContext {
        TraceContext {
            trace_id: nonzero_u128().to_be_bytes(),
            span_id: new_span_id(),
            flags: SAMPLED,
        }
    }

    /// A child of this span: same trace and flags, a new span ID.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            span_id: new_span_id(),
            ..*self
        }
    }

    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// `00-<trace-id>-<parent-id>-<flags>`, or `None` for anything else: upper-case hex,
    /// all-zero IDs, version `ff`, a version-00 header with more after it. A later version is
    /// read as version 00 when what follows the flags starts with `-`.
    pub fn parse(value: &[u8]) -> Option<TraceContext> {
        if value.len() < LEN || (value.len() > LEN && value[LEN] != b'-') {
            return None;
        }
        let v = &value[..LEN];
        let version = hex_field::<1>(&v[0..2])?;
        if version[0] == 0xff || (version[0] == 0 && value.len() != LEN) {
            return None;
        }
        if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
            return None;
        }
        let trace_id = hex_field::<16>(&v[3..35])?;
        let span_id = hex_field::<8>(&v[36..52])?;
        let [flags] = hex_field::<1>(&v[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The `traceparent` value naming this span as the parent.
    pub fn header(&self) -> String {
        let mut s = String::with_capacity(LEN);
        s.push_str("00-");
        s.push_str(&hex::encode(self.trace_id));
        s.push('-');
        s.push_str(&hex::encode(self.span_id));
        let _ = write!(s, "-{:02x}", self.flags);
        s
    }
}

/// Lower-case hex only (the recommendation forbids upper case).
fn hex_field<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if !s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn nonzero_u128() -> u128 {
    loop {
        let v = fastrand::u128(..);
        if v != 0 {
            return v;
        }
    }
}

pub fn new_span_id() -> [u8; 8] {
    loop {
        let v = fastrand::u64(..);
        if v != 0 {
            return v.to_be_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_recommendation_example() {
        let c = TraceContext::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(hex::encode(c.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(c.span_id), "00f067aa0ba902b7");
        assert!(c.sampled());
        assert_eq!(c.header(), GOOD);
        let child = c.child();
        assert_eq!(child.trace_id, c.trace_id);
        assert_ne!(child.span_id, c.span_id);
    }

    #[test]
    fn refuses_what_is_not_exactly_right() {
        for bad in [
            "",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
        ] {
            assert_eq!(TraceContext::parse(bad.as_bytes()), None, "{bad:?}");
        }
        // A later version with more fields: read as version 00.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes";
        let c = TraceContext::parse(later.as_bytes()).unwrap();
        assert!(!c.sampled());
    }

    #[test]
    fn new_traces_are_random_and_nonzero() {
        let (a, b) = (TraceContext::root(), TraceContext::root());
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.trace_id, [0; 16]);
        assert!(TraceContext::parse(a.header().as_bytes()).is_some());
    }
}
