//! The scripts of the admin API and of the listing's upkeep: replays, cancel, purge, sweep.

use std::sync::LazyLock;

use redis::Script;

/// The end of both replays (KEYS: event, -, stream, pending; ARGV: event_id, now_ms, order
/// line prefix): the event is pending again, at the back of its order line or on the stream.
macro_rules! revive {
    () => {
        r#"
redis.call('HSET', KEYS[1], 'st', 'p', 'att', 0, 'due', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'rep', 1)
redis.call('HDEL', KEYS[1], 'fin')
redis.call('ZADD', KEYS[4], redis.call('HGET', KEYS[1], 'rcv'), ARGV[1])
local ok = redis.call('HGET', KEYS[1], 'ok')
if ok and redis.call('RPUSH', ARGV[3] .. ok, ARGV[1]) > 1 then return 1 end
redis.call('XADD', KEYS[3], '*', 'i', ARGV[1])
return 1
"#
    };
}

/// KEYS: event, dead, stream, pending. ARGV: event_id, now_ms, order line prefix.
/// Returns 1 replayed, 2 not a dead letter, 0 unknown. A replayed event with an order key
/// goes to the back of its line.
pub static REPLAY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r#"
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return 0 end
if st ~= 'x' then return 2 end
redis.call('ZREM', KEYS[2], ARGV[1])
"#,
        revive!()
    ))
});

/// KEYS: event, archived, stream, pending, archives of this ID, listing, delivered set.
/// ARGV: event_id,
/// now_ms, order line prefix, archive key prefix, number (empty: any of this ID).
/// Replays a dead letter moved aside by `ACCEPT`: it becomes the ID's live copy again.
/// Returns 1 replayed, 2 the live copy of the ID is pending or dead (replay that first), 0 none.
pub static REPLAY_ARCHIVED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r#"
local st = redis.call('HGET', KEYS[1], 'st')
if st == 'p' or st == 'x' then return 2 end
local n = ARGV[5]
if n == '' then n = redis.call('SRANDMEMBER', KEYS[5]) end
if not n or redis.call('SISMEMBER', KEYS[5], n) == 0 then return 0 end
redis.call('SREM', KEYS[5], n)
redis.call('ZREM', KEYS[2], n)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('RENAME', ARGV[4] .. n, KEYS[1])
redis.call('ZADD', KEYS[6], redis.call('HGET', KEYS[1], 'rcv'), ARGV[1])
"#,
        revive!()
    ))
});

/// KEYS: event, retries, pending, dead, stream. ARGV: event_id, now_ms, order line prefix,
/// error, group. Cancels a pending event: it becomes a dead letter. An entry that carries the
/// event is acknowledged and deleted (its body and headers go to the record); one that does
/// not is dropped when read. The next event of its order key's line takes its place.
/// Returns 1 cancelled, 0 not pending.
pub static CANCEL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        carried!(),
        r#"
local f = redis.call('HMGET', KEYS[1], 'st', 'se')
if f[1] ~= 'p' then return 0 end
local set = {'st', 'x', 'err', ARGV[4], 'fin', ARGV[2]}
if f[2] then
  carried(KEYS[5], f[2], set)
  -- Acknowledged too: a replica delivering it meanwhile no longer holds it, so its outcome
  -- is not recorded (COMPLETE's `carried` kind relies on this).
  redis.call('XACK', KEYS[5], ARGV[5], f[2])
  redis.call('XDEL', KEYS[5], f[2])
  redis.call('HDEL', KEYS[1], 'se')
end
redis.call('HSET', KEYS[1], unpack(set))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
local ok = redis.call('HGET', KEYS[1], 'ok')
if ok then
  local line = ARGV[3] .. ok
  local head = redis.call('LINDEX', line, 0)
  redis.call('LREM', line, 1, ARGV[1])
  if head == ARGV[1] then
    local nxt = redis.call('LINDEX', line, 0)
    if nxt then redis.call('XADD', KEYS[5], '*', 'i', nxt) end
  end
end
return 1
"#,
    ))
});

/// KEYS: event, dead, listing, legacy dedup. ARGV: event_id, dedup member. Deletes a dead
/// letter (and its dedup entry: a purged event is forgotten). Returns 1 purged, 0 not a dead
/// letter.
pub static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HGET', KEYS[1], 'st') ~= 'x' then return 0 end
local dk = redis.call('HGET', KEYS[1], 'dk')
if dk then redis.call('SREM', dk, ARGV[2]) end
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"#,
    )
});

/// KEYS: listing, delivered set. ARGV: from rank, count, event key prefix. Drops listing
/// entries whose event hash is gone: first those the delivered set says expired, then a
/// stretch of the listing (records written by earlier versions). Returns the rank to go on
/// from, 0 at the end.
pub static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A little behind TIME: keys expire by the script's start time (see trim_listing).
local expired = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. (now - 100), 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  if redis.call('EXISTS', ARGV[3] .. id) == 0 then redis.call('ZREM', KEYS[1], id) end
end
local from = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', KEYS[1], from, from + tonumber(ARGV[2]) - 1)
local kept = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[3] .. id) == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    kept = kept + 1
  end
end
if #ids < tonumber(ARGV[2]) then return 0 end
return from + kept
"#,
    )
});

/// KEYS: listing, event, delivered set. ARGV: event ID. Drops the listing entry if the event
/// is gone.
pub static GONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"#,
    )
});

/// `forget_consumer.lua`: the housekeeping's removal of a consumer idle for long, safe against
/// one that reads meanwhile.
pub static FORGET_CONSUMER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("forget_consumer.lua")));
