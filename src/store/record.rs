//! The stored form of an event (postcard-encoded). Version the layout through `FORMAT`; a
//! store written by an older format is upgraded in place (records are read in either layout).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::query::Attempt;

/// 4: format 3 plus the embedded store's event log (new events are only there until delivered
/// or filed), which an older hookgate would not read: it refuses the store instead.
pub const FORMAT: u64 = 4;
/// The format before the event log: what `hookgate store downgrade` writes back, for a rollback.
pub const FORMAT_BEFORE_LOG: u64 = 3;
/// Formats this build still reads.
pub const READS: [u64; 4] = [1, 2, 3, 4];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Pending,
    Delivered,
    Dead,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub route: String,
    pub event_id: String,
    pub received_at_ms: u64,
    pub client_ip: String,
    pub target: String,
    pub headers: Vec<(String, ByteBuf)>,
    pub body: ByteBuf,
    pub phase: Phase,
    pub attempts: u32,
    pub replays: u32,
    pub due_ms: u64,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    pub finished_at_ms: Option<u64>,
    pub order_key: Option<String>,
    /// The last attempts (`query::HISTORY`), oldest first; kept across replays.
    pub history: Vec<Attempt>,
    /// What verified it (`Verifier::describe`).
    pub verification: String,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        // Sized once: grown from empty, a delivered event's record was reallocated ~4 times.
        // Serializing plain owned data into a Vec has no failure mode besides allocation.
        postcard::to_extend(self, Vec::with_capacity(self.size_hint())).unwrap_or_default()
    }

    /// At least the encoded size: every variable part's bytes with a length of at most 10
    /// (postcard's varints), the fixed fields at their largest, each attempt's numbers too.
    fn size_hint(&self) -> usize {
        const LEN: usize = 10;
        let strings: usize = [
            &self.route,
            &self.event_id,
            &self.client_ip,
            &self.target,
            &self.verification,
        ]
        .iter()
        .map(|s| s.len() + LEN)
        .sum();
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 2 * LEN)
            .sum();
        let optional = [&self.last_error, &self.order_key]
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.len() + LEN))
            .sum::<usize>();
        let history: usize = self
            .history
            .iter()
            .map(|a| 48 + a.error.as_ref().map_or(0, String::len))
            .sum();
        96 + strings + headers + self.body.len() + LEN + optional + history
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        // Older formats lack the trailing fields (format 1 `order_key`, format 2 `history` and
        // `verification`);
        // postcard then runs out of bytes.
        postcard::from_bytes(bytes)
            .or_else(|e| {
                postcard::from_bytes::<RecordV2>(bytes)
                    .map(Record::from)
                    .or_else(|_| postcard::from_bytes::<RecordV1>(bytes).map(Record::from))
                    .map_err(|_| e)
            })
            .map_err(|e| format!("undecodable event record: {e}"))
    }

    /// What is kept of a delivered event until its dedup key expires.
    pub fn into_tombstone(mut self) -> Record {
        self.headers = Vec::new();
        self.body = ByteBuf::new();
        self
    }
}

/// The leading fields of a record (the same in every format), borrowed: what a summary needs,
/// decoded without copying headers and body.
#[derive(Deserialize)]
pub struct Head<'a> {
    pub route: &'a str,
    pub event_id: &'a str,
    pub received_at_ms: u64,
    client_ip: &'a str,
    target: &'a str,
    // Decoded only to step over them (postcard has no way to skip a field).
    #[allow(dead_code)]
    #[serde(borrow)]
    headers: Vec<(&'a str, &'a serde_bytes::Bytes)>,
    #[serde(borrow)]
    pub body: &'a serde_bytes::Bytes,
    pub phase: Phase,
    pub attempts: u32,
    pub replays: u32,
    pub due_ms: u64,
    pub last_error: Option<&'a str>,
    pub last_status: Option<u16>,
    pub finished_at_ms: Option<u64>,
}

impl<'a> Head<'a> {
    /// Trailing fields are left unread.
    pub fn decode(bytes: &'a [u8]) -> Option<Head<'a>> {
        postcard::from_bytes(bytes).ok()
    }
}

impl Record {
    pub fn head(&self) -> Head<'_> {
        Head {
            route: &self.route,
            event_id: &self.event_id,
            received_at_ms: self.received_at_ms,
            client_ip: &self.client_ip,
            target: &self.target,
            headers: Vec::new(),
            body: serde_bytes::Bytes::new(&self.body),
            phase: self.phase,
            attempts: self.attempts,
            replays: self.replays,
            due_ms: self.due_ms,
            last_error: self.last_error.as_deref(),
            last_status: self.last_status,
            finished_at_ms: self.finished_at_ms,
        }
    }
}

/// A record of the current format with its headers and body borrowed, not copied: recording a
/// delivery keeps only a tombstone, which drops them.
#[derive(Deserialize)]
struct Bodiless<'a> {
    // postcard lays a struct out as its fields in a row: the head's, then these.
    #[serde(borrow)]
    head: Head<'a>,
    order_key: Option<&'a str>,
    history: Vec<Attempt>,
    verification: &'a str,
}

impl Record {
    /// The record without its headers and body (as `into_tombstone` leaves it), decoded
    /// without copying them out; a record of an earlier format is decoded whole.
    pub fn decode_bodiless(bytes: &[u8]) -> Result<Record, String> {
        let Ok(Bodiless {
            head: h,
            order_key,
            history,
            verification,
        }) = postcard::from_bytes::<Bodiless>(bytes)
        else {
            return Record::decode(bytes).map(Record::into_tombstone);
        };
        Ok(Record {
            route: h.route.into(),
            event_id: h.event_id.into(),
            received_at_ms: h.received_at_ms,
            client_ip: h.client_ip.into(),
            target: h.target.into(),
            headers: Vec::new(),
            body: ByteBuf::new(),
            phase: h.phase,
            attempts: h.attempts,
            replays: h.replays,
            due_ms: h.due_ms,
            last_error: h.last_error.map(Into::into),
            last_status: h.last_status,
            finished_at_ms: h.finished_at_ms,
            order_key: order_key.map(Into::into),
            history,
            verification: verification.into(),
        })
    }
}

/// Format 3 adds `history` and `verification`. Format 2: format 1 and `order_key` (postcard lays a struct out as its fields in a row).
#[derive(Deserialize)]
struct RecordV2(RecordV1, Option<String>);

impl From<RecordV2> for Record {
    fn from(RecordV2(v1, order_key): RecordV2) -> Record {
        Record {
            order_key,
            ..Record::from(v1)
        }
    }
}

/// Format 1: format 2 without `order_key`.
#[derive(Deserialize)]
struct RecordV1 {
    route: String,
    event_id: String,
    received_at_ms: u64,
    client_ip: String,
    target: String,
    headers: Vec<(String, ByteBuf)>,
    body: ByteBuf,
    phase: Phase,
    attempts: u32,
    replays: u32,
    due_ms: u64,
    last_error: Option<String>,
    last_status: Option<u16>,
    finished_at_ms: Option<u64>,
}

impl From<RecordV1> for Record {
    fn from(r: RecordV1) -> Record {
        Record {
            route: r.route,
            event_id: r.event_id,
            received_at_ms: r.received_at_ms,
            client_ip: r.client_ip,
            target: r.target,
            headers: r.headers,
            body: r.body,
            phase: r.phase,
            attempts: r.attempts,
            replays: r.replays,
            due_ms: r.due_ms,
            last_error: r.last_error,
            last_status: r.last_status,
            finished_at_ms: r.finished_at_ms,
            order_key: None,
            history: Vec::new(),
            verification: String::new(),
        }
    }
}

/// Stored headers as the rest of hookgate takes them.
pub fn plain_headers(h: Vec<(String, ByteBuf)>) -> Vec<(String, Vec<u8>)> {
    h.into_iter().map(|(k, v)| (k, v.into_vec())).collect()
}

impl super::StoredEvent {
    /// A sync route's request, sent at once without being stored.
    pub fn from_new(ev: crate::event::NewEvent) -> super::StoredEvent {
        super::StoredEvent {
            handle: 0,
            route: ev.route,
            event_id: ev.event_id,
            received_at_ms: ev.received_at_ms,
            client_ip: ev.client_ip.to_string(),
            target: ev.target,
            headers: ev.headers,
            body: ev.body,
            attempts: 0,
            replays: 0,
            order_key: ev.order_key,
        }
    }

    /// The deliverable part of a record (moved, not copied).
    pub fn from_record(seq: u64, rec: Record) -> super::StoredEvent {
        super::StoredEvent {
            handle: seq,
            route: rec.route,
            event_id: rec.event_id,
            received_at_ms: rec.received_at_ms,
            client_ip: rec.client_ip,
            target: rec.target,
            headers: plain_headers(rec.headers),
            body: Bytes::from(rec.body.into_vec()),
            attempts: rec.attempts,
            replays: rec.replays,
            order_key: rec.order_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of format 1, as the fields in a row.
    type V1 = (
        &'static str,
        &'static str,
        u64,
        &'static str,
        &'static str,
        Vec<(String, ByteBuf)>,
        ByteBuf,
        Phase,
        u32,
        u32,
        u64,
        Option<String>,
        Option<u16>,
        Option<u64>,
    );

    fn v1() -> V1 {
        (
            "r",
            "e",
            5,
            "192.0.2.1",
            "/x",
            vec![("a".to_string(), ByteBuf::from(vec![1u8]))],
            ByteBuf::from(b"{}".to_vec()),
            Phase::Pending,
            2,
            0,
            9,
            Some("boom".to_string()),
            Some(503),
            None,
        )
    }

    #[test]
    fn reads_format_1_records() {
        let v1 = v1();
        let bytes = postcard::to_stdvec(&v1).unwrap();
        let r = Record::decode(&bytes).unwrap();
        assert_eq!(
            (
                r.route.as_str(),
                r.attempts,
                r.due_ms,
                r.order_key.as_deref()
            ),
            ("r", 2, 9, None)
        );
        let v2 = (v1.clone(), Some("k2".to_string()));
        let r = Record::decode(&postcard::to_stdvec(&v2).unwrap()).unwrap();
        assert_eq!((r.order_key.as_deref(), r.history.len()), (Some("k2"), 0));
        let mut r2 = r.clone();
        r2.order_key = Some("k".into());
        r2.history = vec![Attempt {
            at_ms: 1,
            duration_ms: 2,
            status: None,
            error: Some("connect failed".into()),
            next_attempt_at_ms: Some(9),
        }];
        assert_eq!(Record::decode(&r2.encode()).unwrap().history, r2.history);
        // The borrowed head reads every format.
        for bytes in [
            postcard::to_stdvec(&v1).unwrap(),
            postcard::to_stdvec(&v2).unwrap(),
            r2.encode(),
        ] {
            let h = Head::decode(&bytes).unwrap();
            assert_eq!(
                (h.route, h.event_id, h.body.len(), h.due_ms),
                ("r", "e", 2, 9)
            );
        }
        assert_eq!(
            Record::decode(&r2.encode()).unwrap().order_key.as_deref(),
            Some("k")
        );
        assert!(Record::decode(b"\xff").is_err());
    }

    /// The buffer `encode` sizes up front holds the whole record, with the largest numbers
    /// and a full history: it is never grown.
    #[test]
    fn the_size_hint_covers_the_encoding() {
        let mut r = Record::decode(&postcard::to_stdvec(&v1()).unwrap()).unwrap();
        assert!(r.encode().len() <= r.size_hint());
        (r.received_at_ms, r.due_ms, r.finished_at_ms) = (u64::MAX, u64::MAX, Some(u64::MAX));
        (r.attempts, r.replays, r.last_status) = (u32::MAX, u32::MAX, Some(u16::MAX));
        r.order_key = Some("k".repeat(300));
        r.headers = vec![("n".repeat(200), ByteBuf::from(vec![7u8; 20_000])); 3];
        r.body = ByteBuf::from(vec![1u8; 200_000]);
        r.history = vec![
            Attempt {
                at_ms: u64::MAX,
                duration_ms: u64::MAX,
                status: Some(u16::MAX),
                error: Some("e".repeat(500)),
                next_attempt_at_ms: Some(u64::MAX),
            };
            crate::store::query::HISTORY
        ];
        let bytes = r.encode();
        assert!(
            bytes.len() <= r.size_hint(),
            "{} > {}",
            bytes.len(),
            r.size_hint()
        );
        assert_eq!(Record::decode(&bytes).unwrap().encode(), bytes);
    }

    /// Every format decodes without its headers and body to what the whole decode's tombstone
    /// is.
    #[test]
    fn bodiless_decoding_is_the_tombstone_in_every_format() {
        let mut r = Record::decode(&postcard::to_stdvec(&v1()).unwrap()).unwrap();
        (r.replays, r.finished_at_ms) = (1, Some(7));
        let without_tail = r.encode();
        r.order_key = Some("k".into());
        r.history = vec![Attempt {
            at_ms: 1,
            duration_ms: 2,
            status: Some(500),
            error: Some("HTTP 500".into()),
            next_attempt_at_ms: Some(9),
        }];
        r.verification = "hmac".into();
        for bytes in [without_tail, r.encode()] {
            let whole = Record::decode(&bytes).unwrap().into_tombstone();
            let bodiless = Record::decode_bodiless(&bytes).unwrap();
            assert_eq!(format!("{bodiless:?}"), format!("{whole:?}"));
        }
        // An earlier format (no order key, history or verification) is decoded whole.
        let v2 = postcard::to_stdvec(&(
            (
                "r",
                "e",
                5u64,
                "ip",
                "/x",
                vec![("a", ByteBuf::from(vec![1u8]))],
            ),
            (ByteBuf::from(b"{}".to_vec()), Phase::Dead, 3u32, 0u32, 9u64),
            (None::<String>, None::<u16>, None::<u64>, Some("k2")),
        ))
        .unwrap();
        let b = Record::decode_bodiless(&v2).unwrap();
        assert_eq!(
            (b.order_key.as_deref(), b.body.len(), b.headers.len()),
            (Some("k2"), 0, 0)
        );
        assert!(Record::decode_bodiless(b"\xff").is_err());
    }
}
