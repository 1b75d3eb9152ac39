//! What every bench's `redis-server` is started with: the load bench's (`procs.rs`) and
//! `redis_ir`'s under callgrind (which includes this file by path), so that both measure the
//! same server.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::Path;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `port` on 127.0.0.1, no snapshots, data in `dir`; with `aof`, the append-only file fsync'd
/// every second (Redis' own recommended durability setting), else none.
pub fn redis_args(port: u16, dir: &Path, aof: bool) -> Vec<OsString> {
    let durability = if aof {
        ["--appendonly", "yes", "--appendfsync", "everysec"]
    } else {
        ["--appendonly", "no", "--appendfsync", "no"]
    };
    let mut args: Vec<OsString> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
        .into_iter()
        .chain(["--save", ""])
        .chain(durability)
        .chain(["--dir"])
        .map(OsString::from)
        .collect();
    args.push(dir.as_os_str().to_owned());
    args
}
