//! What a store keeps for a sync request's event ID: a claim (the upstream is being called) or
//! the answer, each with the digest of the request that made it. A later request with the same
//! event ID gets the answer only when its digest is the same: an event ID alone must not hand
//! one sender's answer (cookies included) to a different request.
//!
//! Encoding (one byte string, the same in both stores): `0x00 ‖ digest` for a claim,
//! `0x00 ‖ digest ‖ postcard(answer)` for an answer. Records written before digests existed are
//! an empty claim or a bare postcard answer, whose first byte (an HTTP status ≥ 100 as a varint)
//! is never `0x00`; they match no request.

use super::{SyncAnswer, SyncSlot};

const TAG: u8 = 0x00;
const DIGEST: usize = 32;

/// SHA-256 of what identifies a sync request (see `proxy::sync::request_digest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDigest(pub [u8; DIGEST]);

pub fn claim(d: &RequestDigest) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + DIGEST);
    v.push(TAG);
    v.extend_from_slice(&d.0);
    v
}

pub fn answer(d: &RequestDigest, a: &SyncAnswer) -> Vec<u8> {
    let mut v = claim(d);
    v.extend_from_slice(&a.encode());
    v
}

/// What a held record means for a request with digest `d`; `None` when it cannot be read
/// (then the caller claims the ID anew).
pub fn slot(held: &[u8], d: &RequestDigest) -> Option<SyncSlot> {
    let same = |digest: &[u8]| digest == d.0;
    match held {
        [] => Some(SyncSlot::Mismatch),
        [TAG, rest @ ..] if rest.len() == DIGEST => Some(if same(rest) {
            SyncSlot::InProgress
        } else {
            SyncSlot::Mismatch
        }),
        [TAG, rest @ ..] if rest.len() > DIGEST => {
            let (digest, encoded) = rest.split_at(DIGEST);
            let a = SyncAnswer::decode(encoded)?;
            Some(if same(digest) {
                SyncSlot::Answered(a)
            } else {
                SyncSlot::Mismatch
            })
        }
        // An answer kept before digests existed: nobody can prove it is theirs.
        [first, ..] if *first != TAG => SyncAnswer::decode(held).map(|_| SyncSlot::Mismatch),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_bytes::ByteBuf;

    #[test]
    fn only_the_same_request_gets_the_answer() {
        let (a, b) = (RequestDigest([1; 32]), RequestDigest([2; 32]));
        let ans = SyncAnswer {
            status: 200,
            headers: vec![("set-cookie".into(), ByteBuf::from(b"s=1".to_vec()))],
            body: ByteBuf::from(b"{}".to_vec()),
        };
        assert_eq!(slot(&claim(&a), &a), Some(SyncSlot::InProgress));
        assert_eq!(slot(&claim(&a), &b), Some(SyncSlot::Mismatch));
        assert_eq!(
            slot(&answer(&a, &ans), &a),
            Some(SyncSlot::Answered(ans.clone()))
        );
        assert_eq!(slot(&answer(&a, &ans), &b), Some(SyncSlot::Mismatch));
        // Records of an older version: an empty claim, a bare answer.
        assert_eq!(slot(b"", &a), Some(SyncSlot::Mismatch));
        assert_eq!(slot(&ans.encode(), &a), Some(SyncSlot::Mismatch));
        assert_ne!(ans.encode()[0], TAG);
        // Garbage is not an answer.
        assert_eq!(slot(&[TAG, 1, 2], &a), None);
        assert_eq!(slot(&[0xff; 40], &a), None);
    }
}
