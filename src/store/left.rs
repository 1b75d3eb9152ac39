//! Stores a replica does not read, left where hookgate puts them by default (`./data`,
//! `./spill`): an embedded store after a move to Redis or to another `store.path`, a spill after
//! `spill_path` moved or spilling was turned off. Whatever still waits in them is nobody's now:
//! said at start, with the way to deliver it or to end the warning.

use std::path::Path;

use crate::config::SpillConfig;

/// Whether `dir` holds a store (fjall's marker, `version`, is in every one).
fn holds_a_store(dir: &Path) -> bool {
    dir.join("version").is_file()
}

fn same(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn defaults() -> [&'static Path; 2] {
    [
        Path::new(crate::config::DEFAULT_STORE_PATH),
        Path::new(crate::config::DEFAULT_SPILL_PATH),
    ]
}

/// With the Redis store: any store at the defaults but its spill, or a spill set explicitly but
/// off. The way out: the directory as `spill_path` once (the spill's drain forwards what any
/// embedded store holds).
pub fn beside_redis(cfg: &SpillConfig) {
    let on = cfg.max_bytes > 0;
    let explicit = (!on && cfg.path_set).then_some(cfg.path.as_path());
    for dir in defaults().into_iter().chain(explicit) {
        if holds_a_store(dir) && !(on && same(dir, &cfg.path)) {
            tracing::warn!(
                path = %dir.display(),
                "a store is at this path that this replica does not read (the store is redis, and this is not its spill): events still waiting in it are not delivered. To forward them into redis, start once with store.spill_path set to it (and spilling on); once forwarded, delete it (README, \"Moving to Redis\")"
            );
        }
    }
}

/// With the embedded store at `path`: a store at the defaults elsewhere (`store.path` moved).
/// The way out: stop and move it to `path` before the new one holds anything, or point
/// `store.path` back at it until it has delivered everything.
pub fn beside_embedded(path: &Path) {
    for dir in defaults() {
        if holds_a_store(dir) && !same(dir, path) {
            tracing::warn!(
                path = %dir.display(),
                store_path = %path.display(),
                "a store is at this path that this replica does not read (store.path is elsewhere): events still waiting in it are not delivered. Stop hookgate and move it to store.path before the new store takes events, or set store.path back to it until its queue is empty; then delete it (README, \"Moving a store\")"
            );
        }
    }
}
