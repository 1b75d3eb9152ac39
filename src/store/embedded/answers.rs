//! Sync routes' claims and answers, written by the writer (`answers` keyspace).

use std::time::Duration;

use async_trait::async_trait;

use super::writer::Op;
use super::{Embedded, keys};
use crate::store::{RequestDigest, StoreError, SyncAnswer, SyncAnswers, SyncSlot};

#[async_trait]
impl SyncAnswers for Embedded {
    async fn sync_claim(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        ttl: Duration,
    ) -> Result<SyncSlot, StoreError> {
        self.call(|tx| Op::SyncClaim(keys::dedup(route, event_id), *digest, ttl, tx))
            .await
    }

    async fn sync_finish(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        answer: Option<SyncAnswer>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.call(|tx| Op::SyncFinish(keys::dedup(route, event_id), *digest, answer, ttl, tx))
            .await
    }
}
