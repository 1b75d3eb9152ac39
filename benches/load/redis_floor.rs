//! The floor of a pingora receiver on Redis: the least Redis work any receiver that keeps both
//! promises on Redis must ask for, on a redis-server of its own with the same settings as
//! hookgate's, so that redis-server's CPU per event can be set beside hookgate's.
//!
//! Intake: the bodies that arrived while the previous call was in flight go to Redis in one
//! script call (a group commit, as hookgate's intake); per body one `SADD` of its hash to a
//! dedup set and, when new, one `XADD` of the body to a stream — dedup and enqueue in one
//! atomic step, which takes a script. Then the 202. Delivery: one `XREADGROUP` of up to
//! `BATCH` entries, each POSTed to the sink, then one `XACK` and one `XDEL` for the batch.
//! No record, no listing, no dedup window (the set never expires), no attempt history, no
//! retries, no order, no dead letters, no takeover: what storing, deduplicating and
//! delivering alone cost Redis.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use redis::Script;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio::sync::{mpsc, oneshot};

use crate::forward::Pool;

const STREAM: &str = "floor:{f}:s";
const SEEN: &str = "floor:{f}:d";
const GROUP: &str = "g";
/// Entries taken per read: about what hookgate's delivery takes at this concurrency.
const BATCH: usize = 64;

static ACCEPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("floor_accept.lua")));

type Accept = (Bytes, oneshot::Sender<()>);

/// The intake's side: hands a body to the group commit and waits for it.
pub struct RedisFloor {
    tx: mpsc::UnboundedSender<Accept>,
}

impl RedisFloor {
    /// Connects to `redis` and starts the writer and the delivery loop on a runtime of their
    /// own (pingora's request threads only wait).
    pub fn start(redis: &str, sink: &str) -> Arc<RedisFloor> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (url, sink) = (format!("redis://{redis}/0"), sink.to_string());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let client = redis::Client::open(url).expect("redis url");
                let con = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis");
                let _: redis::RedisResult<()> = redis::cmd("XGROUP")
                    .arg(&["CREATE", STREAM, GROUP, "$", "MKSTREAM"])
                    .query_async(&mut con.clone())
                    .await;
                // The blocking read on a connection of its own: it would hold up the intake's.
                let reader = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis");
                tokio::spawn(deliver(reader, con.clone(), Pool::new(&sink)));
                write(con, rx).await;
            });
        });
        Arc::new(RedisFloor { tx })
    }

    pub async fn accept(&self, body: Bytes) {
        let (done, stored) = oneshot::channel();
        if self.tx.send((body, done)).is_ok() {
            let _ = stored.await;
        }
    }
}

/// The group commit: one script call at a time, for every body that arrived meanwhile.
async fn write(mut con: MultiplexedConnection, mut rx: mpsc::UnboundedReceiver<Accept>) {
    let hasher = RandomState::new();
    let mut waiting = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut call = ACCEPT.prepare_invoke();
        call.key(STREAM).key(SEEN);
        let mut next = Some(first);
        while let Some((body, done)) = next {
            call.arg(format!("{:016x}", hasher.hash_one(&body)))
                .arg(body.as_ref());
            waiting.push(done);
            next = rx.try_recv().ok();
        }
        let stored: redis::RedisResult<i64> = call.invoke_async(&mut con).await;
        stored.expect("the floor's intake");
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Reads the stream as a consumer group, delivers each batch, acknowledges and deletes it.
async fn deliver(mut reader: MultiplexedConnection, mut con: MultiplexedConnection, pool: Pool) {
    let pool = Arc::new(pool);
    let opts = StreamReadOptions::default()
        .group(GROUP, "c")
        .count(BATCH)
        .block(100);
    loop {
        let read: redis::RedisResult<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg(&opts)
            .arg("STREAMS")
            .arg(STREAM)
            .arg(">")
            .query_async(&mut reader)
            .await;
        let Ok(read) = read else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mut ids = Vec::new();
        let mut posts = Vec::new();
        for entry in read.keys.into_iter().flat_map(|k| k.ids) {
            if let Some(body) = entry.get::<Vec<u8>>("b") {
                let pool = pool.clone();
                posts.push(tokio::spawn(
                    async move { pool.post(Bytes::from(body)).await },
                ));
            }
            ids.push(entry.id);
        }
        if ids.is_empty() {
            continue;
        }
        for p in posts {
            let _ = p.await;
        }
        let acked: redis::RedisResult<()> = redis::pipe()
            .cmd("XACK")
            .arg(STREAM)
            .arg(GROUP)
            .arg(&ids)
            .ignore()
            .cmd("XDEL")
            .arg(STREAM)
            .arg(&ids)
            .ignore()
            .query_async(&mut con)
            .await;
        acked.expect("the floor's outcomes");
    }
}
