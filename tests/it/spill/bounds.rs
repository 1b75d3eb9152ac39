//! What bounds the spill: its bytes (`spill_max_bytes`), nothing else.

use crate::common;

use common::redis_server::RedisServer;
use common::*;

use super::support::{all_delivered_in_order, gateway, send_many};

/// `max_pending` is Redis' bound, per route and shard: the spill took it for its own total over
/// every route, so with Redis away a replica answered 503 past it (here 20 events over two
/// routes) while `/readyz`, which sees the spill's bytes, still said ready. Now 30 are spilled,
/// the replica stays ready, and each is delivered once Redis is back (15 per route: under the
/// bound in Redis).
#[tokio::test]
async fn the_spill_is_bounded_by_its_bytes_not_by_max_pending() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, "s", "max_pending = 20");
    let c = client();
    redis.stop();
    let acked = send_many(&c, &gw, "bound", 30).await;
    let (status, _) = get_json(&c, &gw.admin("/readyz")).await;
    assert_eq!(status, 200);
    redis.restart();
    all_delivered_in_order(&up, &acked, 0).await;
}
