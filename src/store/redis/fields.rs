//! Event hashes as Redis returns them, and the stored form of headers.

use std::borrow::Cow;

use bytes::Bytes;
use redis::Value;

use crate::store::StoredEvent;

pub(super) fn encode_headers(h: &[(String, Vec<u8>)]) -> Vec<u8> {
    pack_pairs(h.len(), h.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

/// Pairs written by `pack`; none if `b` is not in that form (stored data is not trusted to be
/// well-formed).
pub(super) fn decode_headers(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    unpack_pairs(b).unwrap_or_default()
}

fn unpack_pairs(mut b: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let n = take_varint(&mut b)?;
    // Each pair takes two bytes at least: a count past that is not believed.
    let mut out = Vec::with_capacity(n.min(b.len() / 2));
    for _ in 0..n {
        let k = std::str::from_utf8(take_bytes(&mut b)?).ok()?;
        out.push((k.to_string(), take_bytes(&mut b)?.to_vec()));
    }
    Some(out)
}

/// A length as postcard writes it (LEB128).
fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(b: &mut &[u8]) -> Option<usize> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return usize::try_from(n).ok();
        }
    }
    None
}

fn take_bytes<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = take_varint(b)?;
    let (bytes, rest) = b.split_at_checked(len)?;
    *b = rest;
    Some(bytes)
}

/// The fields a lean entry packs in `m` (`scripts::ACCEPT`): these one per line, then the
/// length of the verification on a line, and the verification and the target (a sender's,
/// any bytes) run together.
const META: [&str; 4] = ["rcv", "ip", "dx", "ws"];

/// `m` unpacked (each part a slice of it, not a copy), or `None` if it is not in that form.
fn unpack_meta(m: &Bytes) -> Option<[(&'static str, Bytes); 6]> {
    let mut at = 0;
    let mut line = || {
        let len = m.get(at..)?.iter().position(|b| *b == b'\n')?;
        let part = m.slice(at..at + len);
        at += len + 1;
        Some(part)
    };
    let (rcv, ip, dx, ws, vl) = (line()?, line()?, line()?, line()?, line()?);
    let vl: usize = std::str::from_utf8(&vl).ok()?.parse().ok()?;
    let split = at.checked_add(vl).filter(|&end| end <= m.len())?;
    Some([
        ("rcv", rcv),
        ("ip", ip),
        ("dx", dx),
        ("ws", ws),
        ("vf", m.slice(at..split)),
        ("tgt", m.slice(split..)),
    ])
}

/// Name–value pairs in one string, in postcard's form of `Vec<(&str, &[u8] as bytes)>` (what
/// earlier versions wrote with postcard, and replicas of them read): stored headers, and a lean
/// event's delivered record (`Shard::packed`, written by `scripts::COMPLETE` kind `lean`);
/// `decode_headers` reads both. Written and read by hand: through serde they took ~3.6k
/// instructions per delivered event, by hand ~3k fewer (`IR_STORE=redis scripts/hookgate-ir`).
pub(super) fn pack(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    pack_pairs(pairs.len(), pairs.iter().copied())
}

fn pack_pairs<'a>(n: usize, pairs: impl Iterator<Item = (&'a str, &'a [u8])> + Clone) -> Vec<u8> {
    let len: usize = pairs.clone().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(len + 5);
    put_varint(&mut out, n);
    for (k, v) in pairs {
        put_varint(&mut out, k.len());
        out.extend_from_slice(k.as_bytes());
        put_varint(&mut out, v.len());
        out.extend_from_slice(v);
    }
    out
}

/// A field's name: hookgate's own names are static, those read from Redis owned.
type Name = Cow<'static, str>;

/// An event hash as returned by HGETALL, or a stream entry's fields. A list, not a map: a
/// record has at most ~20 fields, and looking one up along them costs less than hashing its
/// name (a SipHash map of owned names took ~9k instructions per delivered event,
/// `IR_STORE=redis scripts/hookgate-ir`). Names are unique: `insert` replaces.
#[derive(Default)]
pub(super) struct Fields(Vec<(Name, Bytes)>);

impl Fields {
    /// The fields of a record or of a stream entry, with what is packed in `m` unpacked beside
    /// them (a field stored on its own wins).
    pub(super) fn from_value(v: Value) -> Fields {
        let mut f = Fields::plain(v);
        f.unpack();
        f
    }

    /// A packed record (`RedisStore::packed`): a delivered event's.
    pub(super) fn from_packed(z: &[u8]) -> Fields {
        let mut f = Fields::default();
        for (k, v) in decode_headers(z) {
            f.insert(k, v);
        }
        f.insert("st", &b"d"[..]);
        f.unpack();
        f
    }

    /// Named values, as given (an `HMGET`'s fields that are there).
    pub(super) fn from_pairs(pairs: impl IntoIterator<Item = (&'static str, Vec<u8>)>) -> Fields {
        let mut f = Fields::default();
        for (k, v) in pairs {
            f.insert(k, v);
        }
        f
    }

    fn unpack(&mut self) {
        if let Some(parts) = self.get("m").and_then(unpack_meta) {
            for (k, v) in parts {
                if !self.contains(k) {
                    self.0.push((Cow::Borrowed(k), v));
                }
            }
        }
    }

    fn plain(v: Value) -> Fields {
        let mut f = Fields::default();
        if let Value::Array(items) = v {
            f.0.reserve(items.len() / 2 + META.len() + 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Ok(k), Ok(v)) = (
                    redis::from_redis_value::<String>(k),
                    redis::from_redis_value::<Vec<u8>>(v),
                ) {
                    f.insert(k, v);
                }
            }
        }
        f
    }

    pub(super) fn get(&self, k: &str) -> Option<&Bytes> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    pub(super) fn contains(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn insert(&mut self, k: impl Into<Name>, v: impl Into<Bytes>) {
        let (k, v) = (k.into(), v.into());
        match self.0.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k, v)),
        }
    }

    pub(super) fn remove(&mut self, k: &str) -> Option<Bytes> {
        let at = self.0.iter().position(|(n, _)| n == k)?;
        Some(self.0.swap_remove(at).1)
    }

    pub(super) fn text(&self, k: &str) -> Option<String> {
        self.get(k).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub(super) fn num(&self, k: &str) -> Option<u64> {
        std::str::from_utf8(self.get(k)?).ok()?.parse().ok()
    }

    pub(super) fn take(&mut self, k: &str) -> Bytes {
        self.remove(k).unwrap_or_default()
    }
}

pub(super) fn stored_event(handle: u64, route: &str, event_id: &str, mut f: Fields) -> StoredEvent {
    StoredEvent {
        handle,
        route: route.to_string(),
        event_id: event_id.to_string(),
        received_at_ms: f.num("rcv").unwrap_or(0),
        client_ip: f.text("ip").unwrap_or_default(),
        target: f.text("tgt").unwrap_or_default(),
        attempts: f.num("att").unwrap_or(0) as u32,
        replays: f.num("rep").unwrap_or(0) as u32,
        order_key: f.text("ok"),
        headers: decode_headers(&f.take("hdr")),
        body: f.take("body"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same bytes as postcard's, both ways: replicas of earlier versions wrote and read
    /// these with postcard.
    #[test]
    fn packed_pairs_are_postcards_form() {
        let long = vec![7u8; 300];
        let cases: Vec<Vec<(&str, &[u8])>> = vec![
            vec![],
            vec![("content-type", b"application/json"), ("x-empty", b"")],
            vec![("", &long), ("é", b"\x00\xff")],
            (0..200).map(|_| ("x-a", &b"1"[..])).collect(),
        ];
        for pairs in cases {
            let ours = pack(&pairs);
            let theirs: Vec<(&str, &serde_bytes::Bytes)> = pairs
                .iter()
                .map(|(k, v)| (*k, serde_bytes::Bytes::new(v)))
                .collect();
            assert_eq!(ours, postcard::to_stdvec(&theirs).unwrap());
            let back: Vec<(String, serde_bytes::ByteBuf)> = postcard::from_bytes(&ours).unwrap();
            let ours_back = decode_headers(&ours);
            assert_eq!(ours_back.len(), back.len());
            for ((k, v), (k2, v2)) in ours_back.iter().zip(&back) {
                assert_eq!((k, v.as_slice()), (k2, v2.as_slice()));
            }
        }
        // Not in that form: nothing, and no panic, whatever the bytes.
        for bad in [
            &b"\x05\x01a"[..],
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x01\x01\xff\x00",
            b"",
        ] {
            assert!(decode_headers(bad).is_empty());
        }
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let _ = decode_headers(&junk);
        }
    }

    /// The target is the sender's: whatever bytes it holds stay the target's, never another
    /// field's.
    #[test]
    fn packed_fields_unpack_whatever_the_target_holds() {
        let m = b"1700000000000\n192.0.2.1\n1700003600000\n8388608:202\n5\nhmac\n/x\n3\n9\n";
        let f = Fields::from_value(Value::Array(vec![
            Value::BulkString(b"m".to_vec()),
            Value::BulkString(m.to_vec()),
        ]));
        assert_eq!(f.num("rcv"), Some(1_700_000_000_000));
        assert_eq!(f.text("ip").as_deref(), Some("192.0.2.1"));
        assert_eq!(f.num("dx"), Some(1_700_003_600_000));
        assert_eq!(f.text("vf").as_deref(), Some("hmac\n"));
        assert_eq!(f.text("tgt").as_deref(), Some("/x\n3\n9\n"));
        // Not in that form: nothing made up.
        let f = Fields::from_value(Value::Array(vec![
            Value::BulkString(b"m".to_vec()),
            Value::BulkString(b"1\n2\n3\n4\n99\nshort".to_vec()),
        ]));
        assert_eq!((f.text("rcv"), f.text("tgt")), (None, None));
        // A packed record: delivered, with what its entry carried.
        let f = Fields::from_packed(&pack(&[("att", b"1"), ("sts", b"200"), ("m", m)]));
        assert_eq!((f.num("att"), f.num("sts")), (Some(1), Some(200)));
        assert_eq!(
            (f.text("st").as_deref(), f.num("rcv")),
            (Some("d"), Some(1_700_000_000_000))
        );
        assert_eq!(f.text("tgt").as_deref(), Some("/x\n3\n9\n"));
    }
}
