//! Single-use values of verification schemes (Mailgun's `token`), kept in the `answers`
//! keyspace under keys no sync answer can have (they start with `\0`; route names never do),
//! so they expire with the answers' housekeeping and need no writer op of their own. A nonce is
//! a sync claim whose request digest is the digest of what it is bound to.

use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::Embedded;
use super::writer::Op;
use crate::store::sync_record::RequestDigest;
use crate::store::{Nonces, StoreError, SyncSlot};

/// `answers` key of a nonce: \0 "nonce" \0 route \0 nonce.
fn key(route: &str, nonce: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + route.len() + nonce.len());
    k.extend_from_slice(b"\0nonce\0");
    k.extend_from_slice(route.as_bytes());
    k.push(0);
    k.extend_from_slice(nonce.as_bytes());
    k
}

/// Claims the key bound to `binding` (one durable write); the same binding again is the same
/// request (a sender's retry), another one is a replay.
#[async_trait]
impl Nonces for Embedded {
    async fn claim_nonce(
        &self,
        route: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let digest = RequestDigest(Sha256::digest(binding).into());
        let k = key(route, nonce);
        let slot = self.call(|tx| Op::SyncClaim(k, digest, ttl, tx)).await?;
        Ok(!matches!(slot, SyncSlot::Mismatch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

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
        assert_eq!(
            s.sync_claim("r", "t3", &RequestDigest([7; 32]), ttl)
                .await
                .unwrap(),
            SyncSlot::New
        );
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
