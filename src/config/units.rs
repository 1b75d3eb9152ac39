//! Human-friendly durations ("10s", "72h") and sizes ("1MiB", 65536) as written in the file.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A size as written: either an integer number of bytes or a string such as "1MiB".
#[derive(Debug, Clone)]
pub struct SizeText(pub String);

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SizeText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as \"1MiB\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SizeText, E> {
                Ok(SizeText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SizeText, E> {
                Ok(SizeText(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeText, E> {
                Ok(SizeText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses "1MiB", "512KB", "1048576" into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return u64::try_from(n).map_err(|_| format!("size must not be negative, got {t}"));
    }
    t.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| {
            format!("invalid size {t:?}: expected e.g. \"1MiB\", \"64KiB\" or a number of bytes")
        })
}

/// The longest any duration in the file may be (some keys have a shorter bound of their own):
/// past it a value is a slip (a unit, digits too many), and the arithmetic on a duration (a
/// deadline, a multiple, milliseconds in a u64) stays far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(20 * 31_557_600);

/// Whole milliseconds in a u64, saturating (no wrap of a duration too long for it).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `d` from now; past what an `Instant` holds, `MAX_DURATION` from now: a deadline is never
/// worth a panic.
pub fn deadline(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(MAX_DURATION))
        .unwrap_or(now)
}

/// Parses "10s", "72h", "1m 30s", "250ms".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?}: {e} (expected e.g. \"500ms\", \"10s\", \"72h\")")
    })
}

/// Formats a duration for messages and the admin API.
pub fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("-1").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("72h").unwrap(),
            Duration::from_secs(72 * 3600)
        );
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            millis(Duration::from_secs(18_446_744_073_709_552)),
            u64::MAX
        );
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert!(deadline(Duration::MAX) > Instant::now());
        assert_eq!(fmt_duration(MAX_DURATION), "20years");
    }
}
