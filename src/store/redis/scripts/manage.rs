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

/// KEYS: event, dead, stream, pending, index, packed record. ARGV: event_id, now_ms, order
/// line prefix.
/// Returns 1 replayed, 2 not a dead letter, 0 unknown. A replayed event with an order key
/// goes to the back of its line.
pub static REPLAY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r#"
local st = redis.call('HGET', KEYS[1], 'st')
if not st then
  -- Waiting in the lean stream, or delivered from it: known, not a dead letter.
  -- (An index field without an entry is the pin, `INDEX_PIN`: no event.)
  if (redis.call('HGET', KEYS[5], ARGV[1]) or '') ~= '' or redis.call('EXISTS', KEYS[6]) == 1 then
    return 2
  end
  return 0
end
if st ~= 'x' then return 2 end
redis.call('ZREM', KEYS[2], ARGV[1])
"#,
        revive!()
    ))
});

/// KEYS: event, archived, stream, pending, archives of this ID, listing, delivered set, index.
/// ARGV: event_id,
/// now_ms, order line prefix, archive key prefix, number (empty: any of this ID).
/// Replays a dead letter moved aside by `ACCEPT`: it becomes the ID's live copy again.
/// Returns 1 replayed, 2 the live copy of the ID is pending or dead (replay that first), 0 none.
pub static REPLAY_ARCHIVED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r#"
local st = redis.call('HGET', KEYS[1], 'st')
if st == 'p' or st == 'x' or (redis.call('HGET', KEYS[8], ARGV[1]) or '') ~= '' then return 2 end
local n = ARGV[5]
if n == '' then n = redis.call('SRANDMEMBER', KEYS[5]) end
if not n or redis.call('SISMEMBER', KEYS[5], n) == 0 then return 0 end
redis.call('SREM', KEYS[5], n)
redis.call('ZREM', KEYS[2], n)
-- The ID's delivered record, either kind (`r:` from the archive key prefix's tag).
redis.call('DEL', KEYS[1], string.sub(ARGV[4], 1, -3) .. 'r:' .. ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('RENAME', ARGV[4] .. n, KEYS[1])
redis.call('ZADD', KEYS[6], redis.call('HGET', KEYS[1], 'rcv'), ARGV[1])
"#,
        revive!()
    ))
});

/// KEYS: event, retries, pending, dead, stream, order line holds, lean stream, index. ARGV:
/// event_id, now_ms, order line prefix, error, group. Cancels a pending event: it becomes a
/// dead letter. One waiting in the lean stream gets a record made from its entry, which is
/// acknowledged (an attempt in flight is then not recorded) and deleted. An
/// entry that carries the event is acknowledged and deleted (its body and headers go to the
/// record); one that does not is dropped when read. The record keeps the stream's last entry
/// (`vo`): an entry of the event up to it belongs to the cancelled event, not to a replay of
/// it, and is neither delivered nor recorded (`stale` in `COMPLETE` and `FETCH`).
///
/// The next event of its order key's line takes its place — once the attempt in flight has
/// ended, if it is the line's head and a consumer has read its entry. That entry then stays
/// pending with its holder (the only sign that the attempt is still going, kept fresh by the
/// holder's heartbeat), the event stays at the head of its line, and the hold is noted in the
/// record (`ho`: the entry) and in the shard's holds (field: the line, value: `"<entry> <event
/// id>"`). The attempt's outcome (`COMPLETE`), a takeover or read of leftovers that finds the
/// record cancelled (`FETCH`), or the retry promotion finding the entry no longer pending
/// (`PROMOTE`) ends the hold (`release_line`). A head held so and replayed meanwhile is in its
/// line twice (the held head, and the replay behind): cancelled again, it leaves its place
/// behind. Finding the attempt of a head whose entry does not carry the event reads the
/// group's pending entries (the attempts in flight, at most the replicas' concurrency): a
/// cancel's cost, never a delivery's.
/// Returns 1 cancelled, 0 not pending.
pub static CANCEL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        carried!(),
        lean_record!(),
        r#"
-- The entry of the event `id` that a consumer has read and not acknowledged: its attempt.
local function attempt_of(stream, group, id)
  local from = '-'
  while true do
    local pend = redis.pcall('XPENDING', stream, group, from, '+', 100)
    if pend.err then return nil end
    for _, p in ipairs(pend) do
      local en = redis.call('XRANGE', stream, p[1], p[1])
      local v = en[1] and en[1][2] or {}
      for j = 1, #v, 2 do
        if v[j] == 'i' then
          if v[j + 1] == id then return p[1] end
          break
        end
      end
    end
    if #pend < 100 then return nil end
    from = '(' .. pend[#pend][1]
  end
end
local id = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'st', 'se', 'ok', 'ho')
if f[1] ~= 'p' then
  local entry = redis.call('HGET', KEYS[8], id)
  -- No entry, or the pin (`INDEX_PIN`, whose value is empty).
  if not entry or entry == '' then return 0 end
  local set = lean_record(KEYS[7], entry, id)
  redis.call('HDEL', KEYS[8], id)
  redis.call('XACK', KEYS[7], ARGV[5], entry)
  redis.call('XDEL', KEYS[7], entry)
  -- An entry deleted by hand: nothing left to keep (and the listing forgets it).
  if not set then return 0 end
  for _, v in ipairs({'st', 'x', 'err', ARGV[4], 'fin', ARGV[2]}) do set[#set + 1] = v end
  redis.call('HSET', KEYS[1], unpack(set))
  redis.call('ZADD', KEYS[4], ARGV[2], id)
  return 1
end
local ok = f[3]
local line = ok and ARGV[3] .. ok
-- Held already: cancelled during an attempt that still runs, then replayed.
local held = ok and f[4] and redis.call('HGET', KEYS[6], ok) == f[4] .. ' ' .. id
local retrying = redis.call('ZREM', KEYS[2], id) == 1
local head = ok and not held and redis.call('LINDEX', line, 0) == id
local inflight
if head and not retrying then
  if f[2] then
    local p = redis.pcall('XPENDING', KEYS[5], ARGV[5], f[2], f[2], 1)
    if not p.err and #p > 0 then inflight = f[2] end
  else
    inflight = attempt_of(KEYS[5], ARGV[5], id)
  end
end
local set = {'st', 'x', 'err', ARGV[4], 'fin', ARGV[2]}
-- Every entry of the event read from now on (an attempt in flight, or one not read yet) is
-- older than this: a replay's entries come after it (`stale`, in COMPLETE and FETCH).
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
if last[1] then set[#set + 1] = 'vo'; set[#set + 1] = last[1][1] end
if f[2] then
  carried(KEYS[5], f[2], set)
  redis.call('HDEL', KEYS[1], 'se')
  if not inflight then
    -- Acknowledged too: a replica delivering it meanwhile no longer holds it, so its outcome
    -- is not recorded (COMPLETE's `carried` kind relies on this).
    redis.call('XACK', KEYS[5], ARGV[5], f[2])
    redis.call('XDEL', KEYS[5], f[2])
  end
end
if inflight then
  set[#set + 1] = 'ho'; set[#set + 1] = inflight
  redis.call('HSET', KEYS[6], ok, inflight .. ' ' .. id)
end
redis.call('HSET', KEYS[1], unpack(set))
redis.call('ZREM', KEYS[3], id)
redis.call('ZADD', KEYS[4], ARGV[2], id)
if held then
  redis.call('LREM', line, -1, id)
elseif ok and not inflight then
  redis.call('LREM', line, 1, id)
  if head then
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

/// KEYS: the ID's moved-aside letters (`w:<id>`), the moved-aside set. ARGV: their key
/// prefix, number (empty: any of this ID). Deletes one dead letter of the ID moved aside when
/// it was accepted again (its dedup entry went with the move). Returns 1 purged, 0 none.
pub static PURGE_ARCHIVED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = ARGV[2]
if n == '' then n = redis.call('SRANDMEMBER', KEYS[1]) end
if not n or redis.call('SISMEMBER', KEYS[1], n) == 0 then return 0 end
redis.call('SREM', KEYS[1], n)
redis.call('ZREM', KEYS[2], n)
redis.call('DEL', ARGV[1] .. n)
return 1
"#,
    )
});

/// KEYS: listing, delivered set. ARGV: from rank, count, event key prefix. Drops listing
/// entries whose event is gone (no record, packed or not, and not waiting in the lean
/// stream): first those the delivered set says expired, then a stretch of the listing
/// (records written by earlier versions). Returns the rank to go on from, 0 at the end.
pub static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local tag = string.sub(ARGV[3], 1, -3)
local function gone(id)
  return redis.call('EXISTS', ARGV[3] .. id, tag .. 'r:' .. id) == 0
    and redis.call('HEXISTS', tag .. 'i', id) == 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A little behind TIME: keys expire by the script's start time (see trim_listing).
local expired = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. (now - 100), 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  if gone(id) then redis.call('ZREM', KEYS[1], id) end
end
local from = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', KEYS[1], from, from + tonumber(ARGV[2]) - 1)
local kept = 0
for _, id in ipairs(ids) do
  if gone(id) then
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

/// KEYS: the shard's dedup sets by the end of their window (`ks`). Unlinks (frees off Redis'
/// main thread) up to 64 sets whose window ended, by Redis' clock, the one `ACCEPT` wrote
/// the ends with; a set out of its window is no longer looked in. Returns how many, and how
/// many sets are left.
pub static UNLINK_SETS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local over = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, 64)
if #over > 0 then
  redis.call('UNLINK', unpack(over))
  redis.call('ZREM', KEYS[1], unpack(over))
end
return {#over, redis.call('ZCARD', KEYS[1])}
"#,
    )
});

/// KEYS: listing, event, delivered set, index, packed record. ARGV: event ID. Drops the
/// listing entry if the event is gone (no record, and not waiting in the lean stream).
pub static GONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[2], KEYS[5]) == 0
    and redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"#,
    )
});

/// KEYS: event, index, packed record, lean stream. ARGV: event ID. Reads an event at once,
/// wherever it is: `[record, lean entry's fields, packed record]`, the first non-empty one
/// found in that order (the others nil; the record `[]` when there is none).
pub static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local rec = redis.call('HGETALL', KEYS[1])
if #rec > 0 then return {rec, false, false} end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
-- The pin (`INDEX_PIN`) names no entry.
if entry and entry ~= '' then
  local en = redis.call('XRANGE', KEYS[4], entry, entry)
  if en[1] then return {rec, en[1][2], false} end
end
return {rec, false, redis.call('GET', KEYS[3])}
"#,
    )
});

/// `forget_consumer.lua`: the housekeeping's removal of a consumer idle for long, safe against
/// one that reads meanwhile.
pub static FORGET_CONSUMER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("forget_consumer.lua")));
