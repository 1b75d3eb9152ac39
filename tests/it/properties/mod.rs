//! Property-based tests (proptest) on every parser that sees sender bytes: a no-panic property
//! on random input for each, plus the parser's contract where it has a clear one.
//!
//! Case counts are kept small (see `config`) so the whole binary stays within a few seconds of
//! a normal `cargo test`; raise them locally with `PROPTEST_CASES=10000`. Failures found here
//! are persisted under `proptest-regressions/` and replayed first on the next run.

mod config_load;
mod event_id;
mod limits;
mod normalize;
mod routing;
mod units;
mod upstream_url;
mod verify;
mod verify_presets;

use proptest::prelude::*;

/// The per-property case count: `default` unless `PROPTEST_CASES` says otherwise.
pub fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Shrinking a failure is worth a little time, never minutes.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// Bytes a header value may hold (what `HeaderValue::from_bytes` accepts).
pub fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => 0x20u8..0x7f,
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ]
}

pub fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(header_byte(), 0..max)
}

/// Random bytes biased towards the characters parsers split on.
pub fn noisy_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => any::<u8>(),
            4 => proptest::sample::select(b",;=&?/\\%.:{}[]<>\"'!-_+ \t\r\n0123456789abcdefvtsh".to_vec()),
        ],
        0..max,
    )
}
