//! RFC 3339 timestamps in signed headers (Zendesk's `X-Zendesk-Webhook-Signature-Timestamp`,
//! Box's `box-delivery-timestamp`): `2021-07-25T10:00:00Z`, with optional fractional seconds
//! and a `Z` or `±HH:MM` offset. Hand-written (30 lines) because humantime takes `Z` only.

use std::time::Duration;

/// Seconds since the epoch of `text`, or `None` if it is not RFC 3339 (or before 1970).
pub fn rfc3339_secs(text: &str) -> Option<Duration> {
    let b = text.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(d).ok()?.parse().ok()
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if b.len() < 20
        || !sep(4, b"-")
        || !sep(7, b"-")
        || !sep(10, b"Tt ")
        || !sep(13, b":")
        || !sep(16, b":")
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(())?;
    }
    let offset = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == i + 6 && sep(i + 3, b":") => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset;
    u64::try_from(secs).ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_offsets_and_fractions() {
        let at = |t: &str| rfc3339_secs(t).map(|d| d.as_secs());
        assert_eq!(at("2025-11-01T12:26:40Z"), Some(1_762_000_000));
        assert_eq!(at("2025-11-01T04:26:40-08:00"), Some(1_762_000_000));
        assert_eq!(at("2025-11-01T14:26:40.123+02:00"), Some(1_762_000_000));
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "",
            "1762000000",
            "2025-11-01",
            "2025-13-01T00:00:00Z",
            "2025-11-01T12:26:40",
            "2025-11-01T12:26:40+0100",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
