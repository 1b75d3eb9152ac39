//! Single-use values of verification schemes (Mailgun's `token`, PayPal's transmission id), kept
//! in the `answers` keyspace under keys no sync answer can have (they start with `\0`; route
//! names never do), so they expire with the answers' housekeeping and need no writer op of their
//! own. A nonce is a sync claim whose request digest is the digest of what it is bound to.

use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::Embedded;
use super::writer::Op;
use crate::store::sync_record::RequestDigest;
use crate::store::{Nonces, StoreError, SyncSlot};

/// `answers` key of a nonce: \0 "nonce" \0 scope \0 nonce. The scope names the signing key, not
/// the route, so routes sharing a key share the claims.
fn key(scope: &str, nonce: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + scope.len() + nonce.len());
    k.extend_from_slice(b"\0nonce\0");
    k.extend_from_slice(scope.as_bytes());
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
        scope: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let digest = RequestDigest(Sha256::digest(binding).into());
        let k = key(scope, nonce);
        let slot = self.call(|tx| Op::SyncClaim(k, digest, ttl, tx)).await?;
        Ok(!matches!(slot, SyncSlot::Mismatch))
    }
}
