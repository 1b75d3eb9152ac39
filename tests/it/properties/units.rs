//! Durations and sizes as written in the config (`config::units`).

use std::time::Duration;

use proptest::prelude::*;

use hookgate::config::units::{fmt_duration, parse_duration, parse_size};

use super::config;

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,24}", unitish in "[0-9 .+-]{0,12}(ns|us|ms|s|m|h|d|w|y|B|KB|KiB|MiB|GiB|TiB|EiB|PB)?") {
        let _ = parse_size(&text);
        let _ = parse_duration(&text);
        let _ = parse_size(&unitish);
        let _ = parse_duration(&unitish);
    }

    #[test]
    fn byte_counts_parse_to_themselves(n in 0u64..=i64::MAX as u64, pad in "[ \t]{0,2}") {
        prop_assert_eq!(parse_size(&format!("{pad}{n}{pad}")), Ok(n));
    }

    #[test]
    fn negative_sizes_are_refused(n in 1i64..) {
        let text = format!("-{n}");
        prop_assert!(parse_size(&text).is_err());
    }

    #[test]
    fn binary_units_multiply(n in 0u64..1_000_000, unit in 0usize..4) {
        let (suffix, factor) = [("B", 1u64), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)][unit];
        prop_assert_eq!(parse_size(&format!("{n}{suffix}")), Ok(n * factor));
        prop_assert_eq!(parse_size(&format!("{n} {suffix}")), Ok(n * factor));
    }

    #[test]
    fn durations_in_one_unit(n in 0u64..1_000_000, unit in 0usize..4) {
        let (suffix, d) = [
            ("ms", Duration::from_millis(n)),
            ("s", Duration::from_secs(n)),
            ("m", Duration::from_secs(n * 60)),
            ("h", Duration::from_secs(n * 3600)),
        ][unit];
        prop_assert_eq!(parse_duration(&format!("{n}{suffix}")), Ok(d));
    }

    /// What the admin API and messages print reads back as the same duration.
    #[test]
    fn formatted_durations_read_back(ms in 1u64..(10 * 365 * 86_400_000)) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&fmt_duration(d)), Ok(d), "{}", fmt_duration(d));
    }
}
