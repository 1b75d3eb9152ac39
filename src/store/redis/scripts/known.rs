//! The script that asks a shard which of a group's event IDs it knows: for a route whose
//! events changed shards (`rehome`), in the shards the group is not accepted in.

use std::sync::LazyLock;

use redis::Script;

/// KEYS: listing, index. ARGV: the shard's key prefix (`{tag}:`), the dedup TTL in ms, then the
/// group's event IDs, then their dedup members (this shard's). Returns for each ID 1 if this
/// shard would answer it as a duplicate (within its dedup window, or still pending), else 0.
/// Reads only.
pub static KNOWN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r#"
local p = ARGV[1]
local ms = tonumber(ARGV[2])
local n = (#ARGV - 2) / 2
local I, M = 2, 2 + n
local listing, index = KEYS[1], KEYS[2]
"#,
        dedup_lookup!(),
        r#"
local out = {}
for i = 1, n do
  local hit = known[i] or waiting[i]
  if not hit and listed[i] then
    hit = redis.call('HGET', p .. 'e:' .. ARGV[I + i], 'st') == 'p'
  end
  out[i] = hit and 1 or 0
end
return out
"#,
    ))
});
