//! Redis Sentinel: `url = "redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster"` (optionally
//! `/mymaster/DB`). The sentinels are asked for the master of that name (the `redis` crate's
//! sentinel client, which checks the answer with `ROLE`), and a multiplexed connection to it is
//! kept. The crate resolves the master once per connection and does not follow a failover; this
//! does: a connection that fails (dropped, refused, past its deadline) or answers `READONLY` (a
//! demoted master) is forgotten, and the next command asks the sentinels again. `store.password`
//! is the master's; the sentinels are reached without one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, ErrorKind, RedisConnectionInfo, RedisResult, ServerErrorKind, Value,
};
use tokio::sync::Mutex;

use super::health::is_outage;
use crate::config::sentinel_url::SentinelUrl;

/// After the sentinels named no reachable master, commands fail at once for this long instead
/// of each asking them again (during a failover every request would).
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(100);

/// The sentinels, one client each, and when they last named no reachable master.
struct Asking {
    /// The crate asks the first sentinel that answers and gives up if the master it names is
    /// not one (a sentinel that has not yet heard of a failover names the dead master): with
    /// one client per sentinel, each is asked in turn.
    clients: Vec<SentinelClient>,
    failed_at: Option<Instant>,
}

/// The master's connection, found through the sentinels and found again after a failover.
pub struct Follow {
    sentinels: Mutex<Asking>,
    current: ArcSwapOption<MultiplexedConnection>,
    config: AsyncConnectionConfig,
    db: i64,
}

impl Follow {
    pub fn new(
        url: &SentinelUrl,
        password: Option<&str>,
        timeout: Duration,
    ) -> RedisResult<Follow> {
        let mut node = RedisConnectionInfo::default().set_db(url.db);
        if let Some(pw) = password {
            node = node.set_password(pw);
        }
        let clients = url
            .sentinels
            .iter()
            .map(|s| {
                SentinelClient::build(
                    vec![s.as_str()],
                    url.master.clone(),
                    Some(
                        SentinelNodeConnectionInfo::default()
                            .set_redis_connection_info(node.clone()),
                    ),
                    SentinelServerType::Master,
                )
            })
            .collect::<RedisResult<Vec<_>>>()?;
        Ok(Follow {
            sentinels: Mutex::new(Asking {
                clients,
                failed_at: None,
            }),
            current: ArcSwapOption::empty(),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            db: url.db,
        })
    }

    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.current.load_full() {
            return Ok(MultiplexedConnection::clone(&c));
        }
        // One caller asks the sentinels; the others wait for its answer.
        let mut sentinels = self.sentinels.lock().await;
        if let Some(c) = self.current.load_full() {
            return Ok(MultiplexedConnection::clone(&c));
        }
        if sentinels
            .failed_at
            .is_some_and(|t| t.elapsed() < ASK_AGAIN_AFTER)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "no master reachable through the sentinels (asking again shortly)",
            )
            .into());
        }
        let mut found = Err(std::io::Error::from(std::io::ErrorKind::NotConnected).into());
        for client in &mut sentinels.clients {
            found = client.get_async_connection_with_config(&self.config).await;
            if found.is_ok() {
                break;
            }
        }
        sentinels.failed_at = found.is_err().then(Instant::now);
        let c = found?;
        self.current.store(Some(Arc::new(c.clone())));
        Ok(c)
    }

    /// Forgets the connection when it failed or its server is no longer the master.
    fn saw<T>(&self, r: &RedisResult<T>) {
        if let Err(e) = r
            && (is_outage(e) || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly))
        {
            self.current.store(None);
        }
    }

    pub fn db(&self) -> i64 {
        self.db
    }

    pub async fn command(&self, cmd: &redis::Cmd) -> RedisResult<Value> {
        let r = match self.connection().await {
            Ok(mut c) => c.req_packed_command(cmd).await,
            Err(e) => Err(e),
        };
        self.saw(&r);
        r
    }

    pub async fn commands(
        &self,
        pipeline: &redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let r = match self.connection().await {
            Ok(mut c) => c.req_packed_commands(pipeline, offset, count).await,
            Err(e) => Err(e),
        };
        self.saw(&r);
        r
    }
}
