//! Server-side scripts: each is one round trip and runs atomically. Loaded once per
//! connection (EVALSHA; reloaded automatically after a Redis restart empties its cache).
//!
//! Every key a script touches shares one hash tag (`prefix:{route:shard}`), so a script runs
//! on one node of a Redis Cluster. Event keys are derived inside the scripts from that same tag.

use std::sync::LazyLock;

use redis::Script;

/// A field of each shard's index that no event ID can be (an ID is at most 200 bytes) and
/// longer than Redis' `hash-max-listpack-value` (64): with it the index is a hash table from
/// its first field on. Without it Redis 7.0 keeps a hash of up to 512 fields as one list it
/// searches from the start, and while 100–512 events waited every `HSET`, `HMGET` and `HDEL`
/// of the index scanned them: +19 % of redis-server's instructions per event
/// (`IR_BACKLOG=300 cargo bench --bench redis_ir`). `HLEN` counts it: the bound and the queue
/// depth subtract it where present. Its value is empty, which no entry is: the admin's scripts
/// (`READ`, `CANCEL`, `REPLAY`, `REPLAY_ARCHIVED`) take such a field for no event, so that the
/// pin asked for by name is an unknown ID, not an error.
macro_rules! index_pin {
    () => {
        "hookgate:index-pin:--------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------"
    };
}
pub const INDEX_PIN: &str = index_pin!();

/// Lua: which of a group's IDs this shard knows already. Needs `p` (the shard's key prefix),
/// `ms` (the dedup TTL), `n`, the IDs at `ARGV[I + 1 ..]` and their dedup members at
/// `ARGV[M + 1 ..]`, `listing` and `index` (the shard's keys). Sets `known[i]` (in the dedup
/// window, or by a legacy key), `listed[i]` (the listing has it: a record, or waiting in the lean
/// stream) and `waiting[i]` (waiting in the lean stream), and the window's `now`, `w`, `span`,
/// `sets`, `cur`, `dx` and `mid` that `ACCEPT` writes with. `ACCEPT` and `KNOWN`.
macro_rules! dedup_lookup {
    () => {
        r#"
-- Dedup: one set per span of w ms (a power of two, at least ttl / 8), expiring ttl after the
-- span ends; a set member costs ~60 bytes where a key with its own expiry costs ~170. An ID
-- is remembered for ttl to ttl + w. Redis' clock, the same for every replica. Numbers are
-- written out with '%d' (a number concatenated is printed with '%.14g', several times dearer).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = 1
while w * 8 < ms do w = w * 2 end
local span = math.floor(now / w)
local sets = p .. 'k:' .. string.format('%d', w) .. ':'
local cur = sets .. string.format('%d', span)
local dx = string.format('%d', now + ms)
-- What `m` holds between the client IP and the tail: the window's end and the set.
local mid = '\n' .. dx .. '\n' .. string.format('%d:%d', w, span) .. '\n'
-- Known already: in one of the window's sets (the current one included), or by a legacy key.
local known = {}
for s = math.floor((now - ms) / w), span do
  local hit = redis.call('SMISMEMBER', sets .. string.format('%d', s), unpack(ARGV, M + 1, M + n))
  for j = 1, n do
    if hit[j] == 1 then known[j] = true end
  end
end
-- The sets of another window (the route's dedup_ttl changed since they were written): their
-- IDs are remembered for the window they were accepted with, as in the embedded store. `ks`
-- lists every set until its window ends.
for _, other in ipairs(redis.call('ZRANGE', p .. 'ks', '(' .. string.format('%d', now), '+inf',
    'BYSCORE')) do
  if string.sub(other, 1, #sets) ~= sets then
    local hit = redis.call('SMISMEMBER', other, unpack(ARGV, M + 1, M + n))
    for j = 1, n do
      if hit[j] == 1 then known[j] = true end
    end
  end
end
local legacy = {}
for i = 1, n do legacy[i] = p .. 'd:' .. ARGV[I + i] end
-- The dedup keys of earlier versions, honoured until they expire.
if redis.call('EXISTS', unpack(legacy)) > 0 then
  for i = 1, n do
    if redis.call('EXISTS', legacy[i]) == 1 then known[i] = true end
  end
end
-- The listing holds every event with a record and every one waiting in the lean stream: an
-- ID it does not list has neither (one lookup for all).
local listed = redis.call('ZMSCORE', listing, unpack(ARGV, I + 1, I + n))
-- Which listed ones wait in the lean stream (no record): only those not known can be new.
local waiting, look, at = {}, {}, {}
for i = 1, n do
  if listed[i] and not known[i] then look[#look + 1] = ARGV[I + i]; at[#at + 1] = i end
end
if #look > 0 then
  for j, e in ipairs(redis.call('HMGET', index, unpack(look))) do
    if e then waiting[at[j]] = true end
  end
end
"#
    };
}

/// Accepts a group of events of one shard in one call (`intake`: the accepts that arrived
/// while the shard's previous call was in flight), each as if alone, in the group's order.
/// KEYS: stream, pending, dead, archived, archive counter, listing, delivered set, lean
/// stream, index.
/// ARGV: max_pending, the shard's key prefix (`{tag}:`), the dedup TTL in ms (one per call:
/// `intake` cuts a group where a reload changed it), how many of the group's events have an
/// order key, then the group's event IDs, then their dedup members, then for each event with
/// an order key its place in the group (from 1) and the key, then 5 per event: received_ms,
/// client_ip, the tail (the verification's length, a line break, the verification and the
/// target: see `m` below), headers, body. The IDs and members go first, each in a run of its
/// own, so that the calls for the whole group pass them straight from `ARGV` (`unpack(ARGV,
/// i, j)`) instead of building tables; the order keys apart, since most events have none and
/// every argument costs (~1.2k instructions of redis-server's per event: `cargo bench --bench
/// redis_ir`).
/// Returns for each event 1 new, 0 duplicate, -1 the shard is at its bound. An event without
/// an order key is kept only as its entry in the lean stream (`v`: `i` the ID; `m` the received
/// time, client IP, dedup window's end and dedup set (`<w>:<n>`, see `k:` below) one per line,
/// then the verification's length on a line, the verification and the target; `hdr`; `body`)
/// and in the index (ID → entry): no record until its first outcome. An event with an order
/// key has a record, joins its line and enters the stream only when it is the first in it.
/// The event keys (`e:`, `d:`, `w:`, `q:`, `g:`, `k:`, and `ks`) are derived from the prefix:
/// same hash tag, same node.
///
/// Past its dedup window an ID is new, as in the embedded store, unless its earlier copy still
/// waits to be delivered (the same event). An earlier copy in the dead-letter queue is moved
/// aside under a number (`g:<n>`), still listed and replayable; a delivered one is forgotten.
///
/// Every call into Redis costs CPU (the Lua bridge more than most commands, each argument of
/// a call and each element of its reply), and so do Lua's own table writes, concatenations and
/// numbers printed as text, so what can be asked for the whole group is asked once: the dedup
/// window's sets with one `SMISMEMBER` each for all the group's IDs, the legacy dedup keys with
/// one `EXISTS` of all (one each only if some exist), which have a record or wait in the lean
/// stream with one `ZMSCORE` of the listing (which lists both; the index's `HMGET` and a
/// record's `HGET` of its state only for the IDs it lists), one `SADD` of the current set and
/// one `ZADD` of its window's end to `ks` (its `PEXPIREAT` only when that moved), one `HSET`
/// of the index (with its pin, `INDEX_PIN`) and one `ZADD` each to the undelivered set and the
/// listing, the bound's `ZCARD`, `HLEN` and `HEXISTS` (the pin), `TIME`. Per event: one `XADD`
/// (or, with an order key, `HSET` and `XADD` or `RPUSH` to its order line). A duplicate within the group is caught
/// by `seen`, as the set's `SADD` would have.
pub static ACCEPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "local PIN = '",
        index_pin!(),
        "'",
        r#"
local max = tonumber(ARGV[1])
local p = ARGV[2]
local ms = tonumber(ARGV[3])
local k = tonumber(ARGV[4])
local listing, index = KEYS[6], KEYS[9]
local n = (#ARGV - 4 - 2 * k) / 7
-- Event i's ID is ARGV[I + i], its dedup member ARGV[M + i], the rest ARGV[R + 5 * i + j];
-- the order keys are k pairs (event, key) from ARGV[K + 1].
local I, M, K = 4, 4 + n, 4 + 2 * n
local R = K + 2 * k - 5
local keyed = {}
for j = K + 1, K + 2 * k, 2 do keyed[tonumber(ARGV[j])] = ARGV[j + 1] end
local count = 0
if max > 0 then
  count = redis.call('ZCARD', KEYS[2]) + redis.call('HLEN', KEYS[9])
    - redis.call('HEXISTS', KEYS[9], PIN)
end
"#,
        dedup_lookup!(),
        r#"local seen, pending, recorded, indexed, add = {}, {}, {}, {}, {}
local np, ni, na = 0, 0, 0
-- Calls with their arguments written out (or passed on as `...`), not built in tables and
-- unpacked: in Redis 7.0's Lua a table.insert costs ~50 ns, a quarter of a simple command's
-- call.
-- The record, plus `...`: dk, where its dedup entry is (for a purge); dx, when the dedup
-- window ends (a delivered record does not outlive it); bl, the body's length. Attempts,
-- replays and the due time are left out while they are 0, 0 and the received time: every
-- field costs.
local function record(key, id, rcv, ip, tgt, vf, body, ...)
  redis.call('HSET', key, 'id', id, 'rcv', rcv, 'ip', ip, 'tgt', tgt, 'st', 'p', 'vf', vf,
    'dk', cur, 'dx', dx, 'bl', #body, ...)
end
-- The stream entry, plus `...`: it carries what a delivery needs, so taking it reads nothing
-- else, and the record stays small (a listpack; `se` in it names this entry).
local function carry(id, rcv, ip, tgt, hdr, body, ...)
  return redis.call('XADD', KEYS[1], '*', 'i', id, 'rcv', rcv, 'ip', ip, 'tgt', tgt,
    'hdr', hdr, 'body', body, 'dx', dx, ...)
end
local function one(i)
  if max > 0 and count >= max then return -1 end
  local member = ARGV[M + i]
  if known[i] or waiting[i] or seen[member] then return 0 end
  local id = ARGV[I + i]
  local b = R + 5 * i
  local rcv = ARGV[b + 1]
  local key, st
  if listed[i] then
    key = p .. 'e:' .. id
    st = redis.call('HGET', key, 'st')
    if st == 'p' then return 0 end
  end
  seen[member] = true
  na = na + 1
  add[na] = member
  if st == 'x' then
    local num = tostring(redis.call('INCR', KEYS[5]))
    local fin = redis.call('HGET', key, 'fin') or rcv
    redis.call('ZREM', KEYS[3], id)
    redis.call('RENAME', key, p .. 'g:' .. num)
    redis.call('ZADD', KEYS[4], fin, num)
    redis.call('SADD', p .. 'w:' .. id, num)
  elseif st then
    -- Delivered, its record kept past the dedup window (record_ttl > dedup_ttl).
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[7], id)
  end
  count = count + 1
  pending[np + 1] = rcv
  pending[np + 2] = id
  np = np + 2
  local ip, tail, hdr, body, line = ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], keyed[i]
  if not line then
    -- The entry is the event until its first outcome (COMPLETE, kind `lean`).
    indexed[ni + 1] = id
    indexed[ni + 2] = redis.call('XADD', KEYS[8], '*', 'i', id,
      'm', rcv .. '\n' .. ip .. mid .. tail, 'hdr', hdr, 'body', body)
    ni = ni + 2
    return 1
  end
  local len, rest = string.match(tail, '^(%d+)\n(.*)$')
  len = tonumber(len)
  local vf, tgt = string.sub(rest, 1, len), string.sub(rest, len + 1)
  key = key or p .. 'e:' .. id
  recorded[#recorded + 1] = rcv
  recorded[#recorded + 1] = id
  if redis.call('RPUSH', p .. 'q:' .. line, id) > 1 then
    -- Waits behind its line: the body stays with the record until its turn.
    record(key, id, rcv, ip, tgt, vf, body, 'ok', line, 'hdr', hdr, 'body', body)
    return 1
  end
  local se = carry(id, rcv, ip, tgt, hdr, body, 'ok', line)
  record(key, id, rcv, ip, tgt, vf, body, 'ok', line, 'se', se)
  return 1
end
local out = {}
for i = 1, n do out[i] = one(i) end
if na > 0 then
  redis.call('SADD', cur, unpack(add))
  -- Its window ends at `stop`: then housekeeping unlinks it (`UNLINK_SETS`, from `ks`); its
  -- own expiry is a fallback, 10 minutes later. A set that expires is freed on Redis' main
  -- thread, every client waiting (~0.3 s per million members). Both only when the end moved
  -- (`GT`: a later one; a new set): most calls change nothing, and write nothing to the AOF.
  local stop = (span + 1) * w + ms
  if redis.call('ZADD', p .. 'ks', 'GT', 'CH', string.format('%d', stop), cur) == 1 then
    redis.call('PEXPIREAT', cur, string.format('%d', stop + 600000))
  end
end
if np > 0 then redis.call('ZADD', KEYS[6], unpack(pending)) end
if #recorded > 0 then redis.call('ZADD', KEYS[2], unpack(recorded)) end
if ni > 0 then redis.call('HSET', KEYS[9], PIN, '', unpack(indexed)) end
return out
"#,
    ))
});

/// Lua functions: `before(x, y)`, whether stream entry ID `x` comes before `y`; and
/// `stale(stream, vo, entry)`, whether `entry` of `stream` is older than the event's last
/// cancel (`vo`: the carrying stream's last entry then; nil or false: never cancelled): an
/// attempt of the cancelled event, not of a replay of it, whose entries all come later. Entries
/// of the earlier versions' stream (`s`, other IDs) are not told apart.
macro_rules! before {
    () => {
        r#"
local function before(x, y)
  local xm, xs = string.match(x, '(%d+)-(%d+)')
  local ym, ys = string.match(y, '(%d+)-(%d+)')
  xm, ym = tonumber(xm), tonumber(ym)
  return xm < ym or (xm == ym and tonumber(xs) < tonumber(ys))
end
local function stale(stream, vo, entry)
  return vo and string.sub(stream, -2) == ':c' and not before(vo, entry) or false
end
"#
    };
}

/// A Lua function: `release_line(holds, stream, lines, events, line, id, entry)`: the attempt
/// `entry` of `id`, the head of order line `line` cancelled during that attempt, has ended, so
/// the line goes on: the hold (`holds`' field `line`, `"<entry> <id>"`, and the record's `ho`)
/// is dropped, and the held head leaves the line (a copy of `id` pending since waits behind
/// it) and the next one enters the stream. With `holds` nil: an event no longer pending that still
/// heads its line, unheld, leaves it the same way (`id` heads it: a copy replayed since would
/// be pending). Returns whether the hold was there. And `held_attempt(holds, ho, line, id,
/// entry)`: whether `entry` is such an attempt.
macro_rules! release_line {
    () => {
        r#"
-- Whether `entry` is the attempt of a line's head cancelled during it: the record says so
-- (`ho`), or the holds do (the record may be a copy of the ID accepted since, once purged).
local function held_attempt(holds, ho, line, id, entry)
  return ho == entry or (line and redis.call('HGET', holds, line) == entry .. ' ' .. id) or false
end
local function release_line(holds, stream, lines, events, line, id, entry)
  if holds then
    local key = events .. id
    local r = redis.call('HMGET', key, 'ho', 'st')
    if r[1] == entry then redis.call('HDEL', key, 'ho') end
    if not line or redis.call('HGET', holds, line) ~= entry .. ' ' .. id then return false end
    redis.call('HDEL', holds, line)
    -- The held head is still at the front of its line. A copy pending since (a replay, or
    -- the ID accepted again once purged) waits behind it: in the line twice, unless an
    -- earlier version took the held place out.
    if r[2] == 'p' and #redis.call('LPOS', lines .. line, id, 'COUNT', 2) < 2 then
      return true
    end
  end
  local q = lines .. line
  if redis.call('LINDEX', q, 0) == id then
    redis.call('LPOP', q)
    local nxt = redis.call('LINDEX', q, 0)
    if nxt then redis.call('XADD', stream, '*', 'i', nxt) end
  end
  return true
end
"#
    };
}

/// For stream entries that do not carry their event (a retry moved back, the next of an
/// order line, a replay, or an entry of an earlier version), and for entries taken over or
/// left by this consumer's previous run (`take`: a holder may have died or handed back the
/// attempt of an event cancelled meanwhile): the record's fields a delivery needs.
/// KEYS: stream, order line holds. ARGV: group, event key prefix, order line prefix, then per
/// entry its ID and event ID (`""`: the entry was deleted). Returns [[entry_id, event_id,
/// {field, value, ...}], ...] for the events still pending; the other entries are
/// acknowledged and dropped, and so are entries older than the event's last cancel (`stale`:
/// the event was replayed since, and has an entry of its own) and those of an earlier copy of
/// the ID (purged, or past its dedup window, and accepted again since). The attempt of a head cancelled
/// during it (`ho`: its line waits for it) is one of those, and its line goes on
/// (`release_line`); so does the line of an event dropped here, no longer pending, that still
/// heads it unheld (left so by an earlier version). An entry of the lean stream is live while
/// the index names it (a cancel, or a first outcome recorded by a replica that held it before,
/// takes it out), and returned without fields: it carries them.
pub static FETCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        release_line!(),
        before!(),
        r#"
local out = {}
local names = {'st', 'rcv', 'ip', 'tgt', 'att', 'ok', 'hdr', 'body', 'rep'}
-- The lean stream's entries are their events: one is live while the index names it.
if string.sub(KEYS[1], -2) == ':v' then
  local index = string.sub(ARGV[2], 1, -3) .. 'i'
  for i = 4, #ARGV, 2 do
    local entry, id = ARGV[i], ARGV[i + 1]
    if id ~= '' and redis.call('HGET', index, id) == entry then
      table.insert(out, {entry, id, {}})
    else
      redis.call('XACK', KEYS[1], ARGV[1], entry)
      redis.call('XDEL', KEYS[1], entry)
    end
  end
  return out
end
for i = 4, #ARGV, 2 do
  local entry, id = ARGV[i], ARGV[i + 1]
  local h = {}
  local v = {}
  if id ~= '' then
    -- Only what a delivery needs (not the history, the verdict, the last error).
    v = redis.call('HMGET', ARGV[2] .. id, 'st', 'rcv', 'ip', 'tgt', 'att', 'ok', 'hdr', 'body',
      'rep', 'ho', 'vo', 'se')
    for j = 2, 9 do
      if v[j] then table.insert(h, names[j]); table.insert(h, v[j]) end
    end
  end
  -- Not an attempt of an earlier copy of the ID (`se`: while set, the event's only entry).
  local live = v[1] == 'p' and not stale(KEYS[1], v[11], entry) and (not v[12] or v[12] == entry)
  if held_attempt(KEYS[2], v[10], v[6], id, entry) then
    -- A cancelled head's attempt, ended without an outcome (its holder died or handed it back).
    release_line(KEYS[2], KEYS[1], ARGV[3], ARGV[2], v[6], id, entry)
    live = false
  elseif live then
    table.insert(out, {entry, id, h})
  elseif v[1] and v[1] ~= 'p' and v[6] and not v[10] then
    release_line(nil, KEYS[1], ARGV[3], ARGV[2], v[6], id, nil)
  end
  if not live then
    redis.call('XACK', KEYS[1], ARGV[1], entry)
    redis.call('XDEL', KEYS[1], entry)
  end
end
return out
"#,
    ))
});

/// A Lua function: `trim_listing(delivered set, listing, event key prefix, now, count,
/// unlisted)` drops from the delivered set up to `count` events whose record expired by `now`,
/// and from the listing those of them whose record is gone (an ID accepted again since has a
/// new record or waits in the lean stream, and keeps its entry) along with `unlisted`. A few
/// calls whatever the count (while none of those records was made anew).
/// Returns how many it took from the delivered set.
macro_rules! trim_listing {
    () => {
        r#"
local function trim_listing(done, listing, prefix, now, count, unlisted)
  -- A little behind: a script sees keys expire by its start time, not by TIME, and a record
  -- taken from the delivered set while still there would stay listed.
  local gone = redis.call('ZRANGE', done, '-inf', '(' .. (now - 100), 'BYSCORE', 'LIMIT', 0, count)
  if #gone > 0 then
    redis.call('ZREM', done, unpack(gone))
    -- One EXISTS of all records (usually none is left); one each only if some are. Not the
    -- packed records (`r:`): one lives exactly as long as its score here says (both are set
    -- to the same time, and a later delivery of the ID moves the score), so a gone one's is.
    local keys = {}
    for i, g in ipairs(gone) do keys[i] = prefix .. g end
    local left = redis.call('EXISTS', unpack(keys))
    -- An ID accepted again since may wait in the lean stream, without a record.
    local waiting = redis.call('HMGET', string.sub(prefix, 1, -3) .. 'i', unpack(gone))
    for i, g in ipairs(gone) do
      if (left == 0 or redis.call('EXISTS', keys[i]) == 0) and not waiting[i] then
        table.insert(unlisted, g)
      end
    end
  end
  if #unlisted > 0 then redis.call('ZREM', listing, unpack(unlisted)) end
  return #gone
end
"#
    };
}

/// A Lua function: `carried(stream, entry, set)` appends to `set` (the fields of an `HSET`)
/// the body and headers that stream entry `entry` carries: an event leaving the stream
/// (retried, dead, cancelled) keeps them in its record from then on.
macro_rules! carried {
    () => {
        r#"
local function carried(stream, entry, set)
  local en = redis.call('XRANGE', stream, entry, entry)
  if not en[1] then return end
  local v = en[1][2]
  for j = 1, #v, 2 do
    if v[j] == 'body' or v[j] == 'hdr' then
      table.insert(set, v[j]); table.insert(set, v[j + 1])
    end
  end
end
"#
    };
}

/// A Lua function: `lean_record(stream, entry, id)`, the fields (an `HSET`'s, without the
/// state) of a record made from lean entry `entry` of event `id` (`ACCEPT`'s `m` unpacked, with
/// its body and headers, and `vo`): an event leaving the lean stream (retried, dead, cancelled)
/// is kept as a record from then on. Nil if the entry is gone.
macro_rules! lean_record {
    () => {
        r#"
local function lean_record(stream, entry, id)
  local en = redis.call('XRANGE', stream, entry, entry)
  if not en[1] then return nil end
  local e = {}
  local v = en[1][2]
  for j = 1, #v, 2 do e[v[j]] = v[j + 1] end
  local rcv, ip, dx, ws, n, rest = string.match(e.m or '',
    '^(%d+)\n([^\n]*)\n(%d+)\n([%d:]+)\n(%d+)\n(.*)$')
  if not rcv then return nil end
  n = tonumber(n)
  local vf, tgt = string.sub(rest, 1, n), string.sub(rest, n + 1)
  local dk = string.sub(stream, 1, -2) .. 'k:' .. ws
  local body = e.body or ''
  local set = {'id', id, 'rcv', rcv, 'ip', ip, 'tgt', tgt, 'vf', vf, 'dk', dk, 'dx', dx,
    'bl', #body, 'hdr', e.hdr or '', 'body', body}
  -- An attempt in `c` from before now is an earlier copy's (purged, or past its window), not
  -- this one's: `vo`, as after a cancel (`stale`).
  local last = redis.call('XREVRANGE', string.sub(stream, 1, -2) .. 'c', '+', '-', 'COUNT', 1)
  if last[1] then set[#set + 1] = 'vo'; set[#set + 1] = last[1][1] end
  return set
end
"#
    };
}

// The admin's scripts (replay, cancel, purge, listing upkeep), and the outcomes' script;
// below the macros they use.
mod call;
mod complete;
mod known;
mod manage;
pub use call::Call;
pub use complete::COMPLETE;
pub use known::KNOWN;
pub use manage::{
    CANCEL, FORGET_CONSUMER, GONE, PURGE, PURGE_ARCHIVED, READ, REPLAY, REPLAY_ARCHIVED, SWEEP,
    UNLINK_SETS,
};

/// KEYS: retries, stream, delivered set, listing, order line holds. ARGV: the caller's now_ms
/// (unused: Redis' clock says what is due, as `COMPLETE` scores retries by it; a replica whose
/// clock ran ahead promoted every replica's retries early), limit, event key prefix, group,
/// order line prefix.
/// Moves due retries back into the stream, and trims the listing of expired records (what
/// deliveries did not trim: after the last ones). Returns {moved, next_due_ms or -1, trimmed}.
/// Also lets go of order lines whose held attempt is no longer pending, but no outcome ended
/// the hold: recorded by an earlier version (which acknowledges it without a word), or its
/// record purged meanwhile. One `HGETALL` of an empty hash per call, as a rule.
pub static PROMOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        trim_listing!(),
        release_line!(),
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now), 'LIMIT', 0,
  ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'i', id)
end
local held = redis.call('HGETALL', KEYS[5])
for i = 1, #held, 2 do
  local entry, id = string.match(held[i + 1], '^(%S+) (.*)$')
  local pend = entry and redis.pcall('XPENDING', KEYS[2], ARGV[4], entry, entry, 1)
  if not entry then
    redis.call('HDEL', KEYS[5], held[i])
  elseif pend.err or #pend == 0 then
    release_line(KEYS[5], KEYS[2], ARGV[5], ARGV[3], held[i], id, entry)
  end
end
local trimmed = trim_listing(KEYS[3], KEYS[4], ARGV[3], now, tonumber(ARGV[2]), {})
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #nxt == 0 then return {#due, -1, trimmed} end
return {#due, tonumber(nxt[2]), trimmed}
"#,
    ))
});

/// KEYS: stream. ARGV: group. Creates the stream's consumer group (and the stream), reading
/// from its first entry; errors `BUSYGROUP` if it exists. The group is what lets the stream's
/// entries be delivered, and so freed: it is made when Redis is full too (a route paused while
/// Redis filled up has entries and no group yet). `XGROUP CREATE` is flagged DENYOOM, which
/// Redis refuses while over maxmemory only as a script's first write (6.2 and 7.x alike): the
/// `XTRIM` before it removes nothing (no entry ID is below 0-1) and lets it in.
pub static ENSURE_GROUP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('XTRIM', KEYS[1], 'MINID', '0-1')
return redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
"#,
    )
});

pub fn all() -> [&'static Script; 14] {
    [
        &ACCEPT,
        &READ,
        &FETCH,
        &COMPLETE,
        &PROMOTE,
        &REPLAY,
        &REPLAY_ARCHIVED,
        &CANCEL,
        &PURGE,
        &PURGE_ARCHIVED,
        &SWEEP,
        &GONE,
        &UNLINK_SETS,
        &ENSURE_GROUP,
    ]
}
