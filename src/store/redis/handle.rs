//! The store's connection, lent to code outside the store that keeps its own state in Redis
//! (shared rate limits: `limits::rate::shared`). Those callers put their own, tighter deadline on
//! each exchange, and their exchanges do not count towards the store's health: a rate check
//! given up after a few milliseconds says nothing about whether events can be stored.

use redis::Value;
use redis::aio::ConnectionLike;

use super::connect::Conn;

/// A clone of the store's connection (standalone or cluster); cheap to clone.
#[derive(Clone)]
pub struct Handle(pub(super) Conn);

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
