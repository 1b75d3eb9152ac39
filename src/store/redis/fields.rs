//! Event hashes as Redis returns them, and the stored form of headers.

use std::collections::HashMap;

use bytes::Bytes;
use redis::Value;
use serde_bytes::ByteBuf;

use crate::store::StoredEvent;

pub(super) fn encode_headers(h: &[(String, Vec<u8>)]) -> Vec<u8> {
    let v: Vec<(&str, &serde_bytes::Bytes)> = h
        .iter()
        .map(|(k, v)| (k.as_str(), serde_bytes::Bytes::new(v)))
        .collect();
    postcard::to_stdvec(&v).unwrap_or_default()
}

pub(super) fn decode_headers(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    postcard::from_bytes::<Vec<(String, ByteBuf)>>(b)
        .map(|v| v.into_iter().map(|(k, v)| (k, v.into_vec())).collect())
        .unwrap_or_default()
}

/// An event hash as returned by HGETALL.
pub(super) struct Fields(pub(super) HashMap<String, Vec<u8>>);

impl Fields {
    pub(super) fn from_value(v: Value) -> Fields {
        let mut map = HashMap::new();
        if let Value::Array(items) = v {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Ok(k), Ok(v)) = (
                    redis::from_redis_value::<String>(k),
                    redis::from_redis_value::<Vec<u8>>(v),
                ) {
                    map.insert(k, v);
                }
            }
        }
        Fields(map)
    }

    pub(super) fn text(&self, k: &str) -> Option<String> {
        self.0
            .get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub(super) fn num(&self, k: &str) -> Option<u64> {
        self.text(k).and_then(|s| s.parse().ok())
    }

    pub(super) fn take(&mut self, k: &str) -> Vec<u8> {
        self.0.remove(k).unwrap_or_default()
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
        body: Bytes::from(f.take("body")),
    }
}
