//! `store.replica_acks`: an event is answered 2xx only once that many Redis replicas have it.
//! Redis replicates asynchronously, so a master that dies right after a write can take the
//! write with it when a replica is promoted; `WAIT` after each intake call closes that window.
//!
//! One `WAIT` per call (a group of events), on the master that ran it. `WAIT` confirms every
//! write of the connection up to then, and a master's replication stream is in order, so it
//! also confirms whatever an earlier write on that master (another replica's) put there. A
//! call that found only duplicates wrote nothing, so it first writes a marker key: a
//! duplicate is answered 2xx only once its earlier copy is replicated too.

use super::Shard;
use super::conn::Timed;

/// How long the marker of a call without writes is kept: only its replication matters.
const MARKER_TTL_MS: u64 = 60_000;

/// Waits until `replicas` replicas have this connection's writes so far, at most half of
/// `store.timeout` (the rest is the call's own share of the request's deadline). The error
/// says how many did.
pub(super) async fn confirm(
    con: &Timed,
    sh: &Shard,
    wrote: bool,
    replicas: u16,
) -> Result<(), String> {
    confirm_at(con, &sh.ack_marker(), wrote, replicas).await
}

/// As `confirm`, for writes in the slot of `marker` (a key of that slot; the written key itself
/// will do when `wrote`): the marker is written first when this call wrote nothing there, and
/// `WAIT` goes to that slot's master.
pub(super) async fn confirm_at(
    con: &Timed,
    marker: &str,
    wrote: bool,
    replicas: u16,
) -> Result<(), String> {
    if !wrote {
        redis::cmd("SET")
            .arg(marker)
            .arg(1)
            .arg("PX")
            .arg(MARKER_TTL_MS)
            .query_async::<()>(&mut con.clone())
            .await
            .map_err(|e| super::redis_error(&e))?;
    }
    let ms = (con.timeout.as_millis() as u64 / 2).max(1);
    let acked = con
        .wait_replicas(marker, replicas, ms)
        .await
        .map_err(|e| super::redis_error(&e))?;
    if acked < i64::from(replicas) {
        return Err(format!(
            "redis: the write reached {acked} of {replicas} replicas within {ms} ms (store.replica_acks)"
        ));
    }
    Ok(())
}

impl super::RedisStore {
    /// A change to `sh` confirmed as intake's are, with `store.replica_acks`: a lease (a read
    /// or a takeover), a cancel, a replay. Lost in a failover, a leased event was delivered
    /// twice, a cancelled one after all, a replayed one never. An error: the change may have
    /// been made (trying again says what is there).
    pub(super) async fn confirm_change(&self, sh: &Shard) -> Result<(), crate::store::StoreError> {
        if self.replica_acks == 0 {
            return Ok(());
        }
        confirm(&self.con(), sh, true, self.replica_acks)
            .await
            .map_err(crate::store::StoreError::Unavailable)
    }
}
