//! Whether Redis runs every command hookgate sends: an ACL user without one (or without the
//! prefix's keys), a `rename-command`, or a Redis older than 6.2 (no `SMISMEMBER`, `ZMSCORE`)
//! answers some script with an error. That is an answer, not an outage: before this check the
//! accepts went to the spill, whose drain failed the same way forever, while `/readyz` said
//! ready. At the first answer a refusal stops the process (`EX_CONFIG`, naming the commands);
//! one seen later (an ACL changed live) makes the store not ready until this probe passes.
//!
//! The probe is one script on scratch keys of the prefix (one hash tag: one node of a
//! cluster), each command run with `redis.pcall` and only a refusal counted (a wrong type or
//! arity is an answer), then the scratch keys deleted; `SCRIPT LOAD`, `EVALSHA` and, with
//! `store.replica_acks`, `WAIT` are sent as themselves (a script may not run them).

use std::sync::LazyLock;

use redis::{RedisError, Script};

use super::conn::Timed;

/// The commands of the scripts and of the client's own calls (`XREADGROUP`, `XAUTOCLAIM`,
/// ...), each on the scratch key of its type: KEYS stream, hash, sorted set, list, string,
/// set, a second string (`RENAME`'s target). A command added to a script belongs here too.
static PROBE: LazyLock<Script> = LazyLock::new(|| Script::new(PROBE_TEXT));

const PROBE_TEXT: &str = r#"
local s, h, z, l, k, t, k2 = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local calls = {
  {'DEL', s, h, z, l, k, t, k2},
  {'TIME'},
  {'XADD', s, '1-1', 'f', 'v'},
  {'XGROUP', 'CREATE', s, 'g', '0'},
  {'XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', '1', 'STREAMS', s, '>'},
  {'XPENDING', s, 'g'},
  {'XCLAIM', s, 'g', 'c', '0', '1-1', 'JUSTID'},
  {'XAUTOCLAIM', s, 'g', 'c', '0', '0-0', 'COUNT', '1'},
  {'XINFO', 'GROUPS', s},
  {'XINFO', 'CONSUMERS', s, 'g'},
  {'XRANGE', s, '-', '+', 'COUNT', '1'},
  {'XREVRANGE', s, '+', '-', 'COUNT', '1'},
  {'XLEN', s},
  {'XACK', s, 'g', '1-1'},
  {'XGROUP', 'DELCONSUMER', s, 'g', 'c'},
  {'XDEL', s, '1-1'},
  {'XTRIM', s, 'MAXLEN', '0'},
  {'HSET', h, 'f', 'v'},
  {'HGET', h, 'f'},
  {'HMGET', h, 'f'},
  {'HGETALL', h},
  {'HKEYS', h},
  {'HVALS', h},
  {'HLEN', h},
  {'HSTRLEN', h, 'f'},
  {'HEXISTS', h, 'f'},
  {'HINCRBY', h, 'n', '1'},
  {'HDEL', h, 'f'},
  {'ZADD', z, '1', 'm'},
  {'ZCARD', z},
  {'ZCOUNT', z, '-inf', '+inf'},
  {'ZMSCORE', z, 'm'},
  {'ZRANGE', z, '0', '-1'},
  {'ZRANGEBYSCORE', z, '-inf', '+inf'},
  {'ZREMRANGEBYSCORE', z, '-inf', '0'},
  {'ZREM', z, 'm'},
  {'RPUSH', l, 'a'},
  {'LINDEX', l, '0'},
  {'LPOS', l, 'a'},
  {'LREM', l, '0', 'a'},
  {'LPOP', l},
  {'SADD', t, 'm'},
  {'SISMEMBER', t, 'm'},
  {'SMISMEMBER', t, 'm'},
  {'SRANDMEMBER', t, '1'},
  {'SREM', t, 'm'},
  {'SET', k, '1', 'PX', '60000'},
  {'GET', k},
  {'INCR', k},
  {'PEXPIRE', k, '60000'},
  {'PEXPIREAT', k, '9999999999999'},
  {'PTTL', k},
  {'EXISTS', k},
  {'RENAME', k, k2},
  {'UNLINK', k2},
  {'DEL', s, h, z, l, k, t, k2},
}
local refused = {}
for _, c in ipairs(calls) do
  local r = redis.pcall(unpack(c))
  if type(r) == 'table' and r.err then
    local e = string.lower(r.err)
    -- As `is_refusal` (below) tells them.
    if string.find(e, 'noperm', 1, true) or string.find(e, 'unknown command', 1, true)
        or string.find(e, 'unknown redis command', 1, true)
        or string.find(e, "can't run this command", 1, true)
        or string.find(e, "can't access", 1, true) or string.find(e, 'no permissions', 1, true) then
      local name = c[1]
      if c[1] == 'XGROUP' or c[1] == 'XINFO' then name = c[1] .. ' ' .. c[2] end
      table.insert(refused, name)
    end
  end
end
return refused
"#;

/// Whether an error answer says Redis refuses the command (not that it failed to run it):
/// an ACL's `NOPERM` (or, inside a script, "can't run this command"), an unknown or renamed
/// command, a key outside the user's patterns.
pub(super) fn is_refusal(code: Option<&str>, text: &str) -> bool {
    if code == Some("NOPERM") {
        return true;
    }
    let t = text.to_ascii_lowercase();
    [
        "unknown command",
        "unknown redis command",
        "can't run this command",
        "can't access",
        "no permissions",
    ]
    .iter()
    .any(|p| t.contains(p))
}

/// The commands Redis refuses hookgate (empty: none); an error: no answer (an outage, or an
/// error of another kind), try again later.
pub(super) async fn refused(
    con: &Timed,
    prefix: &str,
    replica_acks: u16,
) -> Result<Vec<String>, RedisError> {
    // A refusal is a finding (its command named); another error, no answer.
    fn ask(out: &mut Vec<String>, name: &str, r: Result<(), RedisError>) -> Result<(), RedisError> {
        match r {
            Err(e) if is_refusal(e.code(), &e.to_string()) => {
                out.push(name.to_string());
                Ok(())
            }
            other => other,
        }
    }
    let mut out = Vec::new();
    let load = PROBE.prepare_invoke().load_async(&mut con.clone()).await;
    ask(&mut out, "SCRIPT LOAD", load.map(drop))?;
    if !out.is_empty() {
        // Not loaded: `EVALSHA` could only say so (`NOSCRIPT`).
        return Ok(out);
    }
    let tag = format!("{prefix}:{{probe}}:");
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(PROBE.get_hash()).arg(7);
    for k in ["v", "h", "z", "l", "k", "t", "k2"] {
        cmd.arg(format!("{tag}{k}"));
    }
    match cmd.query_async::<Vec<String>>(&mut con.clone()).await {
        Ok(names) => out.extend(names),
        Err(e) => ask(&mut out, "EVALSHA", Err(e))?,
    }
    if replica_acks > 0 {
        let wait = redis::cmd("WAIT")
            .arg(0)
            .arg(0)
            .query_async::<i64>(&mut con.clone())
            .await;
        ask(&mut out, "WAIT", wait.map(drop))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{PROBE_TEXT, is_refusal};

    /// Every command named in the sources (`redis.call('X'`, `redis::cmd("X")`) is probed:
    /// one added to a script without being added here would go unchecked at start.
    #[test]
    fn every_command_hookgate_sends_is_probed() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("probe.rs") {
                    out.push(std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        let mut sources = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut sources,
        );
        // Sent by the client itself, or optional (`risks`), or not one a script may run.
        let outside = ["PING", "INFO", "WAIT", "EVALSHA"];
        let mut missing = Vec::new();
        for text in &sources {
            for (open, close) in [
                ("redis.call('", '\''),
                ("redis.pcall('", '\''),
                ("cmd(\"", '"'),
            ] {
                for part in text.split(open).skip(1) {
                    let name: String = part.chars().take_while(|c| *c != close).collect();
                    let known = PROBE_TEXT.contains(&format!("{{'{name}'"));
                    let upper = name.chars().all(|c| c.is_ascii_uppercase());
                    if upper && !known && !outside.contains(&name.as_str()) {
                        missing.push(name);
                    }
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "not probed: {missing:?}");
    }

    #[test]
    fn refusals_are_told_from_other_errors() {
        assert!(is_refusal(
            Some("NOPERM"),
            "NOPERM this user has no permissions to run the 'zmscore' command"
        ));
        // Inside a script (Redis 7.0), and an unknown or renamed command.
        assert!(is_refusal(
            Some("ERR"),
            "ERR The user executing the script can't run this command or subcommand script: 1b73, on @user_script:1."
        ));
        assert!(is_refusal(
            Some("ERR"),
            "ERR Unknown Redis command called from script"
        ));
        assert!(is_refusal(
            Some("ERR"),
            "ERR unknown command 'ZMSCORE', with args beginning with:"
        ));
        assert!(!is_refusal(Some("NOGROUP"), "NOGROUP No such key"));
        assert!(!is_refusal(
            Some("WRONGTYPE"),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        ));
    }
}
