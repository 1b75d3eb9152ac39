//! Key and value layouts of the embedded store's keyspaces. Big-endian integers so that byte
//! order is numeric order; route names never contain `\0` (config validation), so it separates.

use crate::store::StoreError;

pub fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
}

/// `events`: seq → record.
pub fn event(seq: u64) -> [u8; 8] {
    be(seq)
}

pub fn event_seq(key: &[u8]) -> Option<u64> {
    read_u64(key, 0)
}

/// `dedup`: route \0 event_id → (seq, expires_ms).
pub fn dedup(route: &str, event_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(route.len() + 1 + event_id.len());
    k.extend_from_slice(route.as_bytes());
    k.push(0);
    k.extend_from_slice(event_id.as_bytes());
    k
}

pub fn dedup_value(seq: u64, expires_ms: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&be(seq));
    v[8..].copy_from_slice(&be(expires_ms));
    v
}

pub fn parse_dedup_value(v: &[u8]) -> Option<(u64, u64)> {
    Some((read_u64(v, 0)?, read_u64(v, 8)?))
}

/// `expiry`: (expires_ms, seq) → ().
pub fn expiry(expires_ms: u64, seq: u64) -> [u8; 16] {
    dedup_value(expires_ms, seq)
}

pub fn parse_expiry(k: &[u8]) -> Option<(u64, u64)> {
    parse_dedup_value(k)
}

fn route_prefixed(route: &str, a: u64, b: Option<u64>) -> Vec<u8> {
    let mut k = Vec::with_capacity(route.len() + 17);
    k.extend_from_slice(route.as_bytes());
    k.push(0);
    k.extend_from_slice(&be(a));
    if let Some(b) = b {
        k.extend_from_slice(&be(b));
    }
    k
}

fn split_route(k: &[u8]) -> Option<(&str, &[u8])> {
    let i = k.iter().position(|b| *b == 0)?;
    Some((std::str::from_utf8(&k[..i]).ok()?, &k[i + 1..]))
}

/// `queue`: route \0 due_ms seq → received_ms. Undelivered events, due now or later.
pub fn queue(route: &str, due_ms: u64, seq: u64) -> Vec<u8> {
    route_prefixed(route, due_ms, Some(seq))
}

pub fn parse_queue(k: &[u8]) -> Option<(&str, u64, u64)> {
    let (route, rest) = split_route(k)?;
    Some((route, read_u64(rest, 0)?, read_u64(rest, 8)?))
}

/// Marks a join order in a `queue` value: a byte that UTF-8 never holds, so a value without
/// one (all values written before join orders were kept) reads as before.
const JOINED: u8 = 0xFF;

/// A `queue` value: received_ms; then, where it is not the seq (a replayed event's), the event's
/// place in its order key's line (`JOINED` and a number: lines are rebuilt in this order); then
/// the order key (if any) as UTF-8.
pub fn queue_value(received_ms: u64, order_key: Option<&str>, joined: Option<u64>) -> Vec<u8> {
    let mut v = be(received_ms).to_vec();
    if let Some(j) = joined {
        v.push(JOINED);
        v.extend_from_slice(&be(j));
    }
    v.extend_from_slice(order_key.unwrap_or_default().as_bytes());
    v
}

/// received_ms, the order key, and the place in its line if it is not the seq.
pub fn parse_queue_value(v: &[u8]) -> Option<(u64, Option<String>, Option<u64>)> {
    let received = read_u64(v, 0)?;
    let (joined, key) = match v.get(8) {
        Some(&JOINED) => (Some(read_u64(v, 9)?), &v[17..]),
        _ => (None, &v[8..]),
    };
    let key = std::str::from_utf8(key).ok()?;
    Some((received, (!key.is_empty()).then(|| key.to_string()), joined))
}

/// `answers`: route \0 event_id (as `dedup`) → tag, expires_ms, record (`store::sync_record`:
/// the request's digest, and the answer once there is one). The tag is `ANSWER_CLAIMED` while
/// the upstream is being called, `ANSWER_READY` once it answered.
pub const ANSWER_CLAIMED: u8 = 0;
pub const ANSWER_READY: u8 = 1;

pub fn answer_value(tag: u8, expires_ms: u64, answer: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + answer.len());
    v.push(tag);
    v.extend_from_slice(&be(expires_ms));
    v.extend_from_slice(answer);
    v
}

pub fn parse_answer_value(v: &[u8]) -> Option<(u8, u64, &[u8])> {
    Some((*v.first()?, read_u64(v, 1)?, v.get(9..)?))
}

/// `answer_expiry`: expires_ms, then the `answers` key → ().
pub fn answer_expiry(expires_ms: u64, answer_key: &[u8]) -> Vec<u8> {
    let mut k = be(expires_ms).to_vec();
    k.extend_from_slice(answer_key);
    k
}

pub fn parse_answer_expiry(k: &[u8]) -> Option<(u64, &[u8])> {
    Some((read_u64(k, 0)?, k.get(8..)?))
}

/// `meta`: a route's state set through the admin API.
pub fn route_state(route: &str) -> Vec<u8> {
    let mut k = ROUTE_STATE.to_vec();
    k.extend_from_slice(route.as_bytes());
    k
}

pub const ROUTE_STATE: &[u8] = b"state\0";

/// `meta`: the sequence-number high-water mark, every seq below it ever taken. Written in the
/// batch that takes one, so that a seq is never taken twice: not after its event was deleted
/// (purged, or delivered and swept), which is what `events` alone would say at a restart.
pub const NEXT_SEQ: &[u8] = b"next_seq";
/// `meta`: the store's format (`record::FORMAT`).
pub const FORMAT: &[u8] = b"format";

/// `meta`: the time of the last recovery's probe write.
pub const PROBE: &[u8] = b"probe";

/// `meta`: "filed/" seq → (): event `seq` was filed from the event log. Kept while its segment
/// lives, so that a start does not take the event for a logged one once fjall has deleted
/// its record (delivered past its window, purged, swept).
pub fn filed(seq: u64) -> Vec<u8> {
    let mut k = b"filed/".to_vec();
    k.extend_from_slice(&be(seq));
    k
}

/// `dead`: route \0 seq → (). The dead-letter queue.
pub fn dead(route: &str, seq: u64) -> Vec<u8> {
    route_prefixed(route, seq, None)
}

pub fn parse_dead(k: &[u8]) -> Option<(&str, u64)> {
    let (route, rest) = split_route(k)?;
    Some((route, read_u64(rest, 0)?))
}

/// All `dead` keys of a route.
pub fn dead_prefix(route: &str) -> Vec<u8> {
    let mut k = route.as_bytes().to_vec();
    k.push(0);
    k
}

/// Just past every `dead` key of a route.
pub fn dead_prefix_end(route: &str) -> Vec<u8> {
    let mut k = route.as_bytes().to_vec();
    k.push(1);
    k
}

/// Where a dead-letter listing continues: the opaque cursor is "route:seq".
/// A dead-letter cursor this store gave (`cursor`), else refused: a garbled one must not
/// start the walk again from the first letter.
pub fn parse_cursor(after: Option<&str>) -> Result<Option<(String, u64)>, StoreError> {
    after
        .map(|a| {
            a.rsplit_once(':')
                .and_then(|(r, s)| Some((r.to_string(), s.parse().ok()?)))
                .ok_or_else(|| StoreError::BadCursor(a.to_string()))
        })
        .transpose()
}

pub fn cursor(route: &str, seq: u64) -> String {
    format!("{route}:{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_order() {
        assert_eq!(parse_queue(&queue("r", 5, 9)), Some(("r", 5, 9)));
        assert_eq!(parse_dead(&dead("route-1", 7)), Some(("route-1", 7)));
        assert_eq!(parse_dedup_value(&dedup_value(3, 4)), Some((3, 4)));
        assert_eq!(parse_expiry(&expiry(10, 2)), Some((10, 2)));
        assert_eq!(
            parse_queue_value(&queue_value(7, None, None)),
            Some((7, None, None))
        );
        assert_eq!(
            parse_queue_value(&queue_value(7, Some("web_1"), None)),
            Some((7, Some("web_1".into()), None))
        );
        assert_eq!(
            parse_queue_value(&queue_value(7, Some("w\u{e9}b"), Some(0xFF))),
            Some((7, Some("w\u{e9}b".into()), Some(0xFF)))
        );
        // As written before join orders were kept: received time, then the order key.
        let mut older = be(7).to_vec();
        older.extend_from_slice("web_1".as_bytes());
        assert_eq!(older, queue_value(7, Some("web_1"), None));
        assert_eq!(
            parse_answer_value(&answer_value(ANSWER_READY, 9, b"x")),
            Some((ANSWER_READY, 9, &b"x"[..]))
        );
        let k = dedup("r", "e");
        assert_eq!(
            parse_answer_expiry(&answer_expiry(5, &k)),
            Some((5, &k[..]))
        );
        assert!(answer_expiry(5, b"zz") < answer_expiry(6, b"a"));
        assert!(
            queue("r", 1, 900) < queue("r", 2, 1),
            "due time orders first"
        );
        assert!(
            dead("a", u64::MAX) < dead("b", 0),
            "routes do not interleave"
        );
        assert_eq!(
            parse_cursor(Some(&cursor("a-b", 12))).ok(),
            Some(Some(("a-b".into(), 12)))
        );
        assert!(parse_cursor(Some("nonsense")).is_err());
        assert!(parse_cursor(Some("a:-1")).is_err());
        assert_eq!(parse_cursor(None).ok(), Some(None));
    }
}
