-- Forgets a consumer of a shard's group if it holds no entry, checked and done in one step:
-- one that read entries since XINFO CONSUMERS said it held none keeps them (XGROUP
-- DELCONSUMER drops a consumer's pending entries, which nobody would then deliver).
-- KEYS: stream. ARGV: group, consumer. Returns 1 forgotten, 0 kept.
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
