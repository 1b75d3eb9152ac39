//! No input panics: random and mutated bodies for every content type.

use super::*;

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG), to avoid a fuzzing dependency.
struct Lcg(u64);

impl Lcg {
    fn next_byte(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // The high bits of an LCG are the random-looking ones.
        (self.0 >> 56) as u8
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    fn below(&mut self, bound: usize) -> usize {
        let wide = u16::from_be_bytes([self.next_byte(), self.next_byte()]);
        usize::from(wide) % bound.max(1)
    }

    /// A byte, biased towards the characters the formats' grammars care about.
    fn interesting_byte(&mut self) -> u8 {
        const ALPHABET: &[u8] = b"<>/=&%\"'![]{}:;,-+?#\r\n \tCDATA-abc123";
        match self.next_byte() % 3 {
            0 => self.next_byte(),
            _ => ALPHABET[self.below(ALPHABET.len())],
        }
    }
}

fn random_bytes(rng: &mut Lcg, max_len: usize) -> Vec<u8> {
    let len = rng.below(max_len);
    (0..len).map(|_| rng.interesting_byte()).collect()
}

/// Overwrites, inserts or deletes a few bytes of a valid body, so the parsers get past
/// their first checks and fail (or succeed) deep inside.
fn mutate(rng: &mut Lcg, seed: &[u8]) -> Vec<u8> {
    let mut body = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(body.len() + 1);
        match rng.next_byte() % 3 {
            0 if at < body.len() => body[at] = rng.interesting_byte(),
            1 if at < body.len() => {
                body.remove(at);
            }
            _ => body.insert(at, rng.interesting_byte()),
        }
    }
    body
}

fn multipart_ct() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// Runs one input; success must always produce JSON text.
fn check_never_panics(content_type: Option<&str>, body: &[u8], query: &str) {
    if let Ok(normalized) = to_json(content_type, body, Some(query)) {
        let parsed = serde_json::from_slice::<Value>(&normalized.body);
        assert!(parsed.is_ok(), "{content_type:?} {body:?}");
    }
}

#[test]
fn random_bytes_never_panic_for_any_content_type() {
    let multipart_ct = multipart_ct();
    let content_types = [
        None,
        Some("application/json"),
        Some("application/problem+json"),
        Some("application/xml"),
        Some("text/xml"),
        Some("application/x-www-form-urlencoded"),
        Some(multipart_ct.as_str()),
        Some("multipart/form-data"),
        Some("text/plain"),
    ];
    let mut rng = Lcg(0x5eed);
    for _ in 0..2_000 {
        let body = random_bytes(&mut rng, 400);
        let query = String::from_utf8_lossy(&random_bytes(&mut rng, 40)).into_owned();
        for content_type in content_types {
            check_never_panics(content_type, &body, &query);
        }
    }
}

#[test]
fn mutated_valid_bodies_never_panic() {
    let multipart_ct = multipart_ct();
    let multipart_seed = multipart(&[
        ("Content-Disposition: form-data; name=\"a\"", "1"),
        (
            "Content-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\nContent-Type: application/octet-stream",
            "\u{0}\u{1}binary",
        ),
    ]);
    let seeds: [(Option<&str>, &[u8]); 5] = [
        (
            Some("application/json"),
            br#"{"a":[1,{"b":"c\u00e9"}],"d":null}"#,
        ),
        (
            Some("application/xml"),
            b"<?xml version='1.0'?><r a='1' b=\"&amp;\"><x>1</x><x><![CDATA[y]]></x>t&#65;<e/></r>",
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"a=1&b=%C3%A9&b=x+y&c",
        ),
        (Some(multipart_ct.as_str()), &multipart_seed),
        (None, b"a=1&b=2"),
    ];
    let mut rng = Lcg(0xdecaf);
    let mut successes = 0;
    for round in 0..4_000 {
        let (content_type, seed) = seeds[round % seeds.len()];
        let body = mutate(&mut rng, seed);
        check_never_panics(content_type, &body, "q=1&q=2");
        successes += usize::from(to_json(content_type, &body, None).is_ok());
    }
    // The mutations must not be so destructive that only error paths run.
    assert!(
        successes > 400,
        "only {successes} mutated bodies were accepted"
    );
}
