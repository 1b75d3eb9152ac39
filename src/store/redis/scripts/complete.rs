//! The script that records delivery outcomes, a batch per call (`outcomes`).

use std::sync::LazyLock;

use redis::Script;

/// KEYS: stream, retries, dead, pending, delivered set, listing. ARGV: group, consumer, order
/// line prefix, record_ttl_ms, event key prefix, the batch's lowest and highest entry ID, the
/// number of outcomes, then per outcome: its kind (`delivered`, `retry`, `dead`; or `carried`:
/// delivered at the first attempt of an entry that carried its event, without an order key,
/// whose record is then written without being read; or `lean`: the same from the lean
/// stream), entry_id, event_id, and then
/// - for `lean`, 2 more: the end of its dedup window and the packed record (which holds the
///   status, the history line and when it ended): every argument costs, ~1.2k instructions
///   of redis-server's per event (`cargo bench --bench redis_ir`);
/// - for the others, 5 more: now_ms, retry_at_ms (with now_ms over a second off Redis' clock,
///   a retry is due `retry_at_ms - now_ms` after Redis' now; for `carried`: the end of its dedup
///   window), error, status, history line (`query::Attempt::to_line`).
///
/// Records the outcomes of one shard in one call; returns for each 1 recorded, 0 not ours
/// (or gone, or cancelled).
/// The lean stream's outcomes (KEYS[1] is `{tag}:v`): the entry was the event, so it leaves
/// the index, and delivered it gets its packed record (`{tag}:r:<id>`, one `SET`); retried or
/// dead, a record made from the entry (`lean_record`), from then on an event like any other.
/// Only the consumer that holds the entry records its outcome (another replica may have taken
/// it over): one `XPENDING` over the batch's range (at most 4 per outcome) says which it
/// holds, one per outcome beyond that. Only while the event
/// is pending (not cancelled meanwhile), and only on the copy of the ID the attempt was for
/// (not one accepted since a purge: `se`, or `vo` once `se` is dropped). A final outcome lets the next event of the same order
/// key into the stream. The attempt of a line's head cancelled during it (the record's `ho`
/// names its entry, or the holds do) is not recorded, even on a replay of it, and lets its line go on
/// (`release_line`; the holds `{tag}:h` derived from the event key prefix): nothing more per
/// outcome than the one field read. The history keeps the last 20 attempts.
/// A delivered event's record (without body and headers) expires after record_ttl, or with
/// its dedup window if that ends first (as the embedded store's tombstones). A retry or a
/// dead letter leaves the stream: its record takes the body and headers from the entry
/// (`se`, when the entry carried them).
/// Per batch rather than per event (each call into Redis costs CPU): one `XACK` for the
/// entries (the first write: a full Redis still takes outcomes), one `XTRIM MINID` instead of an `XDEL` each (every entry before the group's oldest
/// pending one has its outcome), one `ZREM` from the undelivered set, one `ZADD` to the
/// delivered set, and the listing trimmed of up to two expired records per outcome
/// (`trim_listing`), so that it does not outlive the records.
pub static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        trim_listing!(),
        carried!(),
        lean_record!(),
        release_line!(),
        before!(),
        r#"
local n = tonumber(ARGV[8])
local lo, hi = ARGV[6], ARGV[7]
-- The shard's order line holds (`{tag}:h`, from the event key prefix `{tag}:e:`).
local holds = string.sub(ARGV[5], 1, -3) .. 'h'
-- Bounded: the range may hold many other deliveries in flight; past the cap, look one up.
local cap = n * 4
local held = {}
local pend = redis.call('XPENDING', KEYS[1], ARGV[1], lo, hi, cap, ARGV[2])
for _, p in ipairs(pend) do held[p[1]] = true end
local partial = #pend >= cap
-- Redis' clock, the one that expires records (replicas' clocks may differ).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local acked, finished, done, unlisted, unindexed = {}, {}, {}, {}, {}
local lean = string.sub(KEYS[1], -2) == ':v'
local tag = string.sub(ARGV[5], 1, -3)
local index, packed = tag .. 'i', tag .. 'r:'
-- When a record written now expires, as text (a number passed to Redis is printed with
-- `%.17g`, per call).
local until_ms = now + tonumber(ARGV[4])
local until_text = string.format('%d', until_ms)
-- Whole numbers written out (`%d` here, decimal from hookgate) compared as text: `tonumber`
-- (strtod) per outcome costs more than the rest of a lean outcome's own Lua.
local now_text = string.format('%d', now)
local function below(a, b) return #a < #b or (#a == #b and a < b) end
-- A delivered event: its record written (`...`: the fields to set besides the state) to
-- expire after record_ttl, or with its dedup window (ending at `dx`) if that ends first;
-- or gone now if that is already past. Returns whether the record is kept.
local function delivered(key, id, dx, ...)
  local expiry = until_ms
  if dx and dx < expiry then expiry = dx end
  if expiry <= now then
    redis.call('DEL', key)
    unlisted[#unlisted + 1] = id
    return false
  end
  redis.call('HSET', key, 'st', 'd', ...)
  redis.call('PEXPIREAT', key, expiry)
  done[#done + 1] = expiry
  done[#done + 1] = id
  return true
end
-- The entries this consumer holds are acknowledged before anything else is written: Redis
-- refuses a script's first write flagged DENYOOM (`SET`, `HSET`, `ZADD`, `XADD`) while over
-- maxmemory, never a later one, and `XACK` is not one. Outcomes free memory overall (the
-- entries are trimmed below, with their bodies), so a full Redis must still take them.
local mine = {}
local b = 8
for _ = 1, n do
  local entry = ARGV[b + 2]
  if not mine[entry] and (held[entry] or (partial
      and #redis.call('XPENDING', KEYS[1], ARGV[1], entry, entry, 1, ARGV[2]) > 0)) then
    mine[entry] = true
    acked[#acked + 1] = entry
  end
  if ARGV[b + 1] == 'lean' then b = b + 5 else b = b + 8 end
end
if #acked > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(acked)) end
local function one(entry, id, kind, fin, at, err, sts, attempt)
  if not mine[entry] then return 0 end
  if kind == 'retry' and math.abs(now - tonumber(fin)) > 1000 then
    -- The holder's clock is off Redis' (within a second the difference is taken as this
    -- call's own latency, and `at` kept as the holder said): due after the wait it chose (its
    -- at - its now) on Redis' clock, the one `PROMOTE` reads whichever replica promotes.
    at = string.format('%d', now + math.max(0, tonumber(at) - tonumber(fin)))
  end
  if lean then
    -- Held, so still the event's (a cancel acknowledges the entry): it leaves the index.
    unindexed[#unindexed + 1] = id
    if kind ~= 'retry' and kind ~= 'dead' then
      -- Delivered at its first attempt: its record is one string (`r:`, packed from what
      -- the entry carried: `err`), expiring with the others' (or its dedup window, `at`).
      local expiry = until_text
      if below(at, until_text) then expiry = at end
      if not below(now_text, expiry) then
        unlisted[#unlisted + 1] = id
      else
        redis.call('SET', packed .. id, err, 'PXAT', expiry)
        done[#done + 1] = expiry
        done[#done + 1] = id
      end
      return 1
    end
    local set = lean_record(KEYS[1], entry, id)
    if not set then return 0 end
    for _, v in ipairs({'att', 1, 'hist', attempt .. '\n', 'err', err}) do set[#set + 1] = v end
    if sts ~= '' then set[#set + 1] = 'sts'; set[#set + 1] = sts end
    if kind == 'retry' then
      -- A record and a place in the undelivered set from now on, as any retry.
      for _, v in ipairs({'st', 'p', 'due', at}) do set[#set + 1] = v end
      redis.call('ZADD', KEYS[2], at, id)
      redis.call('ZADD', KEYS[4], set[4], id)
    else
      for _, v in ipairs({'st', 'x', 'fin', fin}) do set[#set + 1] = v end
      redis.call('ZADD', KEYS[3], fin, id)
    end
    redis.call('HSET', ARGV[5] .. id, unpack(set))
    return 1
  end
  local key = ARGV[5] .. id
  if kind == 'carried' then
    -- Delivered at the first attempt of an entry that carried the event (no order key): the
    -- record is pending (a cancel acknowledges the entry, so it is no longer held), has no
    -- attempt yet, and its dedup window ends at `at`. Nothing to read back.
    finished[#finished + 1] = id
    delivered(key, id, tonumber(at), 'att', 1, 'hist', attempt .. '\n', 'fin', fin, 'sts', sts)
    return 1
  end
  -- One read and one write of the hash (and a delete only when there is something to drop).
  local f = redis.call('HMGET', key, 'st', 'att', 'hist', 'ok', 'dx', 'se', 'err', 'ho', 'vo')
  if held_attempt(holds, f[8], f[4], id, entry) then
    -- The attempt of a head cancelled during it, which its line waited for: not recorded
    -- (not on a replay of it either), and the line goes on.
    release_line(holds, KEYS[1], ARGV[3], ARGV[5], f[4], id, entry)
    return 0
  end
  if not f[1] then
    finished[#finished + 1] = id
    return 0
  end
  -- Cancelled, or an attempt from before its cancel (the event replayed since), or of an
  -- earlier copy of the ID (purged, or past its window, and accepted again since).
  if f[1] ~= 'p' or stale(KEYS[1], f[9], entry) or (f[6] and f[6] ~= entry) then return 0 end
  local att = (tonumber(f[2]) or 0) + 1
  local hist = attempt .. '\n'
  if f[3] then
    hist = f[3] .. hist
    local _, lines = string.gsub(hist, '\n', '')
    while lines > 20 do
      hist = string.sub(hist, string.find(hist, '\n', 1, true) + 1)
      lines = lines - 1
    end
  end
  if kind ~= 'retry' and f[4] then
    local line = ARGV[3] .. f[4]
    redis.call('LREM', line, 1, id)
    local nxt = redis.call('LINDEX', line, 0)
    if nxt then redis.call('XADD', KEYS[1], '*', 'i', nxt) end
  end
  -- A field left from an earlier attempt that this one did not set.
  local stale_sts = sts == '' and f[2]
  if kind == 'delivered' then
    finished[#finished + 1] = id
    -- Kept: dk, dx and se (small, and gone with the record).
    if delivered(key, id, tonumber(f[5]), 'att', att, 'hist', hist, 'fin', fin, 'sts', sts)
        and (f[7] or not f[6]) then
      redis.call('HDEL', key, 'err', 'body', 'hdr')
    end
    return 1
  end
  local set = {'att', att, 'hist', hist}
  local del = {}
  if f[6] then
    carried(KEYS[1], f[6], set)
    del[#del + 1] = 'se'
    -- Without `se`, an earlier copy's entries are told apart by `vo` (they all come first).
    set[#set + 1] = 'vo'; set[#set + 1] = f[6]
  end
  if sts ~= '' then
    set[#set + 1] = 'sts'; set[#set + 1] = sts
  elseif stale_sts then
    del[#del + 1] = 'sts'
  end
  if kind == 'retry' then
    for _, v in ipairs({'due', at, 'err', err}) do set[#set + 1] = v end
    redis.call('ZADD', KEYS[2], at, id)
  else
    for _, v in ipairs({'st', 'x', 'err', err, 'fin', fin}) do set[#set + 1] = v end
    finished[#finished + 1] = id
    redis.call('ZADD', KEYS[3], fin, id)
  end
  redis.call('HSET', key, unpack(set))
  if #del > 0 then redis.call('HDEL', key, unpack(del)) end
  return 1
end
local out = {}
b = 8
for i = 1, n do
  local kind = ARGV[b + 1]
  if kind == 'lean' then
    out[i] = one(ARGV[b + 2], ARGV[b + 3], kind, nil, ARGV[b + 4], ARGV[b + 5], '', '')
    b = b + 5
  else
    out[i] = one(ARGV[b + 2], ARGV[b + 3], kind, ARGV[b + 4], ARGV[b + 5], ARGV[b + 6],
      ARGV[b + 7], ARGV[b + 8])
    b = b + 8
  end
end
if #acked > 0 then
  -- Entries before the group's oldest pending one were all read (reads go in order) and
  -- none is pending: each has its outcome. With none pending, that is every entry read.
  local last = hi
  local oldest = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1)
  if not oldest[1] then
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
      local name, read
      for i = 1, #g, 2 do
        if g[i] == 'name' then name = g[i + 1] end
        if g[i] == 'last-delivered-id' then read = g[i + 1] end
      end
      if name == ARGV[1] and read and before(last, read) then last = read end
    end
  end
  local m, q = string.match(last, '(%d+)-(%d+)')
  local bound = m .. '-' .. string.format('%d', tonumber(q) + 1)
  if oldest[1] and before(oldest[1][1], bound) then bound = oldest[1][1] end
  redis.call('XTRIM', KEYS[1], 'MINID', bound)
end
if #finished > 0 then redis.call('ZREM', KEYS[4], unpack(finished)) end
if #unindexed > 0 then redis.call('HDEL', index, unpack(unindexed)) end
if #done > 0 then redis.call('ZADD', KEYS[5], unpack(done)) end
trim_listing(KEYS[5], KEYS[6], ARGV[5], now, 2 * n, unlisted)
return out
"#,
    ))
});
