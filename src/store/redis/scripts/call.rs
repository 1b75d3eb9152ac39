//! A script call written straight into one command (`EVALSHA`), for the calls made per group
//! of events. `redis::ScriptInvocation` keeps each argument in a buffer of its own and copies
//! them all into a command at the call: per accepted + delivered event ~4k instructions
//! (`IR_STORE=redis scripts/hookgate-ir`), a body copied once more.

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, RedisResult, Script, ToRedisArgs};

pub struct Call {
    script: &'static Script,
    cmd: Cmd,
}

impl Call {
    /// `script` with `keys` (all of them: `EVALSHA` names their count before them), room made
    /// for about `args` more arguments of `bytes` in all (so that it is not regrown, copying
    /// what it holds, as they come).
    pub fn new<K: ToRedisArgs>(
        script: &'static Script,
        keys: &[K],
        args: usize,
        bytes: usize,
    ) -> Call {
        let mut cmd = Cmd::with_capacity(3 + keys.len() + args, 128 + bytes);
        cmd.arg("EVALSHA").arg(script.get_hash()).arg(keys.len());
        for k in keys {
            cmd.arg(k);
        }
        Call { script, cmd }
    }

    pub fn arg<A: ToRedisArgs>(&mut self, a: A) -> &mut Call {
        self.cmd.arg(a);
        self
    }

    /// Runs it; a Redis that does not know the script yet (restarted, flushed, another node)
    /// is given it and asked again, as `ScriptInvocation` does.
    pub async fn invoke<T: FromRedisValue>(&self, con: &mut impl ConnectionLike) -> RedisResult<T> {
        match self.cmd.query_async(con).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.script.load_async(con).await?;
                self.cmd.query_async(con).await
            }
            r => r,
        }
    }
}
