//! One live process per consumer name. A replica starts by reading its own unfinished
//! deliveries (its pending entries in the consumer groups), to resume them at once after a
//! restart; two live replicas under one name (a literal in a config they share) would each
//! take the other's deliveries in flight for their own and send them again. So a replica holds
//! its name in Redis (`prefix:consumer:<name>`: a token of this process, expiring after
//! `claim_after`, renewed with every heartbeat) and delivers nothing until it does. After a
//! crash, its previous run's hold lapses within its `claim_after`; a hold renewed past the time
//! it had left is another live replica's, and this one stops, saying so. A clean stop lets go
//! of the name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{Script, Value};

use super::conn::Timed;
use super::lock;
use crate::event::now_ms;

/// Past the time another holder had left, how long before its hold still there means it was
/// renewed (the exchanges' own time).
const RENEWED_MARGIN_MS: u64 = 1000;

/// KEYS: the name's key. ARGV: this process's token, the hold's length (ms). Takes the name or
/// keeps it: 1; held by another process: its token and the ms its hold has left.
static HOLD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return {v, redis.call('PTTL', KEYS[1])} end
-- Renewed with PEXPIRE, tried also when there is nothing to renew: it is not flagged DENYOOM,
-- and Redis refuses a script's first DENYOOM write (the SET) while over maxmemory, never a
-- later one. A full Redis must let a replica take its name: its deliveries free memory.
if redis.call('PEXPIRE', KEYS[1], ARGV[2]) == 1 then return 1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#,
    )
});

/// KEYS: the name's key. ARGV: this process's token. Lets go of the name if it is still ours.
static LET_GO: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

pub(super) struct ConsumerName {
    name: String,
    key: String,
    /// This process: host, process ID and start time, so an operator can tell who holds it.
    token: String,
    hold: Duration,
    held: AtomicBool,
    /// The other process found holding the name, and when its hold lapses unless renewed (ms
    /// since the epoch).
    refused: Mutex<Option<(String, u64)>>,
}

impl ConsumerName {
    pub(super) fn new(prefix: &str, name: &str, claim_after: Duration) -> ConsumerName {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        ConsumerName {
            name: name.to_string(),
            key: format!("{prefix}:consumer:{name}"),
            token: format!(
                "{} pid {} ({started})",
                crate::config::host_name(),
                std::process::id()
            ),
            hold: claim_after,
            held: AtomicBool::new(false),
            refused: Mutex::new(None),
        }
    }

    /// Whether this process holds its name: only then does it deliver.
    pub(super) fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Takes or keeps the name (with every heartbeat). Stops the process when another live one
    /// holds it: its hold renewed past the time it had left when first seen (whatever its
    /// `claim_after`), or taken while this process's hold lapsed (an outage longer than
    /// `claim_after`). Redis not answering changes nothing.
    pub(super) async fn keep(&self, con: &Timed) {
        let r: redis::RedisResult<Value> = HOLD
            .key(&self.key)
            .arg(&self.token)
            .arg(self.hold.as_millis() as u64)
            .invoke_async(&mut con.clone())
            .await;
        let (holder, left_ms) = match r {
            Ok(Value::Int(1)) => {
                *lock(&self.refused) = None;
                self.held.store(true, Ordering::Relaxed);
                return;
            }
            Ok(Value::Array(v)) => match v.as_slice() {
                [Value::BulkString(t), Value::Int(ms)] => {
                    (String::from_utf8_lossy(t).into_owned(), *ms)
                }
                other => (format!("{other:?}"), 0),
            },
            Ok(other) => (format!("{other:?}"), 0),
            // An outage is logged by the store's health; the next beat tries again.
            Err(_) => return,
        };
        if self.held.load(Ordering::Relaxed) {
            self.stop(&holder);
        }
        let now = now_ms();
        let mut refused = lock(&self.refused);
        match &*refused {
            Some((seen, lapses_at)) if *seen == holder => {
                if now > lapses_at + RENEWED_MARGIN_MS {
                    self.stop(&holder);
                }
            }
            _ => {
                *refused = Some((holder.clone(), now + left_ms.max(0) as u64));
                tracing::info!(
                    consumer = %self.name,
                    holder = %holder,
                    left_ms,
                    "waiting for this consumer name's previous holder to lapse before delivering"
                );
            }
        }
    }

    /// Lets go of the name (a clean stop): a restart resumes its deliveries at once.
    pub(super) async fn let_go(&self, con: &Timed) {
        let r: redis::RedisResult<i64> = LET_GO
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut con.clone())
            .await;
        if let Err(e) = r {
            tracing::debug!(error = %e, "letting go of the consumer name failed");
        }
    }

    fn stop(&self, holder: &str) -> ! {
        tracing::error!(
            key = %self.key,
            holder,
            "store.consumer = \"{}\" is in use by another live replica: two replicas under one name would each deliver the other's events in flight again. Give each replica its own name (\"env:POD_NAME\", or leave it unset: host name and process ID)",
            self.name
        );
        super::exit_for_config()
    }
}
