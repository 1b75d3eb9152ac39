//! The connection: a deadline on every exchange, and the health watch that loads the scripts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::Value;

use super::connect::Conn;
use super::scripts;

const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// The connection with a deadline on every exchange: a slow or unreachable Redis makes an
/// unavailable store (503) within `store.timeout`, whatever the client's reconnect loop does.
#[derive(Clone)]
pub(super) struct Timed {
    pub(super) inner: Conn,
    pub(super) timeout: Duration,
}

async fn bounded<T>(
    limit: Duration,
    exchange: impl Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time").into())
        })
}

impl redis::aio::ConnectionLike for Timed {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        let limit = self.timeout;
        Box::pin(bounded(limit, self.inner.req_packed_command(cmd)))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        let limit = self.timeout;
        Box::pin(bounded(
            limit,
            self.inner.req_packed_commands(pipeline, offset, count),
        ))
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

pub(super) async fn watch_health(mut conn: Timed, healthy: Arc<AtomicBool>) {
    loop {
        let mut ok = redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok();
        if ok && !healthy.load(Ordering::Relaxed) {
            // Load the scripts once per (re)connection; EVALSHA falls back to loading them
            // should Redis lose its script cache in between.
            for script in scripts::all() {
                ok &= script.prepare_invoke().load_async(&mut conn).await.is_ok();
            }
        }
        if healthy.swap(ok, Ordering::Relaxed) != ok {
            if ok {
                tracing::info!("redis reachable");
            } else {
                tracing::warn!("redis unreachable; answering 503 until it is back");
            }
        }
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}
