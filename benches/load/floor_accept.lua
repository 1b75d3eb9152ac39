-- The Redis floor's intake (benches/load/redis_floor.rs, benches/redis_ir.rs): per body, one
-- SADD of its dedup member and, when new, one XADD of the body. KEYS: stream, dedup set.
-- ARGV: member, body, member, body, ...
for i = 1, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', 'b', ARGV[i + 1])
  end
end
return 1
