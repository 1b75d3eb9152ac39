//! Single-use values of verification schemes (Mailgun's `token`), kept in the `answers`
//! keyspace under keys no sync answer can have (they start with `\0`; route names never do),
//! so they expire with the answers' housekeeping and need no writer op of their own.

use std::time::Duration;

use serde_bytes::ByteBuf;

use super::Embedded;
use super::writer::Op;
use crate::store::{StoreError, SyncAnswer, SyncSlot};

/// `answers` key of a nonce: \0 "nonce" \0 route \0 nonce.
fn key(route: &str, nonce: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + route.len() + nonce.len());
    k.extend_from_slice(b"\0nonce\0");
    k.extend_from_slice(route.as_bytes());
    k.push(0);
    k.extend_from_slice(nonce.as_bytes());
    k
}

impl Embedded {
    /// Claims the key (one durable write), then records what it is bound to. A claim whose
    /// binding is not recorded yet (a concurrent request with the same nonce, or a failed second
    /// write) refuses: the safe side.
    pub(super) async fn claim_nonce_once(
        &self,
        route: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let k = key(route, nonce);
        let slot = self.call(|tx| Op::SyncClaim(k.clone(), ttl, tx)).await?;
        match slot {
            SyncSlot::New => {
                let bound = SyncAnswer {
                    status: 0,
                    headers: Vec::new(),
                    body: ByteBuf::from(binding.to_vec()),
                };
                self.call(|tx| Op::SyncFinish(k, Some(bound), ttl, tx))
                    .await?;
                Ok(true)
            }
            // The binding is a digest of the request, not a secret: a plain compare is fine.
            SyncSlot::Answered(a) => Ok(a.body.as_slice() == binding),
            SyncSlot::InProgress => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn a_nonce_is_bound_to_its_first_request_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let s = Embedded::open(dir.path(), 1000).unwrap();
        let ttl = Duration::from_secs(60);
        assert!(s.claim_nonce("r", "t1", b"a", ttl).await.unwrap());
        assert!(
            s.claim_nonce("r", "t1", b"a", ttl).await.unwrap(),
            "same request"
        );
        assert!(
            !s.claim_nonce("r", "t1", b"b", ttl).await.unwrap(),
            "other body"
        );
        assert!(
            s.claim_nonce("r2", "t1", b"b", ttl).await.unwrap(),
            "per route"
        );
        assert!(s.claim_nonce("r", "t2", b"b", ttl).await.unwrap());
        // A sync answer of an event with the same ID is another key.
        assert_eq!(s.sync_claim("r", "t3", ttl).await.unwrap(), SyncSlot::New);
        assert!(s.claim_nonce("r", "t3", b"c", ttl).await.unwrap());
        let short = Duration::from_millis(1);
        assert!(s.claim_nonce("r", "t4", b"a", short).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
        s.housekeeping(&[], crate::event::now_ms()).await.unwrap();
        assert!(
            s.claim_nonce("r", "t4", b"b", ttl).await.unwrap(),
            "expired"
        );
    }
}
