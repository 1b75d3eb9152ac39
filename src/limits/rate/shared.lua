-- Shared rate limits: one route's GCRA buckets, as governor keeps them in memory, on Redis'
-- clock. A bucket's key holds its theoretical arrival time (TAT, microseconds) and expires when
-- the bucket is full again, which is when a missing key means the same thing.
-- KEYS: the client's bucket, the route's bucket, the live client buckets (a sorted set: each
-- client, scored with when its bucket expires, in ms), the overflow bucket (all with one hash
-- tag: one cluster slot).
-- ARGV: client T, tau; route T, tau; overflow T, tau (microseconds; T = 0: no such bucket;
-- T is the time to earn one token, tau = T * (burst - 1)); the most live client buckets; the
-- per-IP period (ms), past which the set of an idle route goes; the client (as its key ends).
-- Reply: {client status, µs, route status, µs, 1 if the overflow bucket was used}; status
-- 1 = allowed (µs: until the bucket is full again), 0 = refused (µs: until its next token),
-- -1 = not checked.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- The bucket's TAT after one more request, or nil and the wait for its next token.
local function test(stored, T, tau)
  local tat = tonumber(stored) or now
  if tat < now then tat = now end
  if now < tat - tau then return nil, tat - tau - now end
  return tat + T, 0
end

local function store(key, tat)
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
end

local cT, cTau = tonumber(ARGV[1]), tonumber(ARGV[2])
local rT, rTau = tonumber(ARGV[3]), tonumber(ARGV[4])
local reply = {-1, 0, -1, 0, 0}
local ckey, cnext = KEYS[1], nil
if cT > 0 then
  local stored = redis.call('GET', ckey)
  if not stored then
    -- A client without a bucket: while the cap's worth of clients hold live buckets, it
    -- shares the overflow bucket. Counted live, as locally: buckets that expired free their
    -- place (a count per period would let a burst of addresses lock new clients out for all
    -- of it).
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', math.floor(now / 1000))
    if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[7]) then
      ckey, cT, cTau, reply[5] = KEYS[4], tonumber(ARGV[5]), tonumber(ARGV[6]), 1
      stored = redis.call('GET', ckey)
    end
  end
  local wait
  cnext, wait = test(stored, cT, cTau)
  if not cnext then
    -- Refused by its own bucket: the route's is left untouched.
    reply[1], reply[2] = 0, wait
    return reply
  end
  reply[1], reply[2] = 1, cnext - now
end
if rT > 0 then
  local rnext, wait = test(redis.call('GET', KEYS[2]), rT, rTau)
  if not rnext then
    -- Refused by the route's bucket: the client's token is not spent.
    reply[3], reply[4] = 0, wait
    return reply
  end
  reply[3], reply[4] = 1, rnext - now
  store(KEYS[2], rnext)
end
if cnext then
  store(ckey, cnext)
  if ckey == KEYS[1] then
    -- Its own bucket, new or not: listed until it expires.
    redis.call('ZADD', KEYS[3], math.ceil(cnext / 1000), ARGV[9])
    redis.call('PEXPIRE', KEYS[3], ARGV[8])
  end
end
return reply
