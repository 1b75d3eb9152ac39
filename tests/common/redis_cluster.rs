//! A real Redis Cluster started by the tests: 3 masters and one replica each, on free ports
//! (cluster bus ports too), AOF with every write fsync'd, a short node timeout so that a
//! killed master's replica takes over within a few seconds.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::redis_server::{binary, spawn_server};

pub struct Node {
    pub port: u16,
    bus: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts the node (again: same ports, same `nodes.conf` and AOF).
    fn spawn(&mut self) {
        let bus = self.bus.to_string();
        self.child = Some(spawn_server(
            self.port,
            &self.dir,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus,
                "--cluster-node-timeout",
                "1000",
                // A replica syncs at once (not after the diskless delay of 5 s) and may take
                // over however long its link was down.
                "--repl-diskless-sync-delay",
                "0",
                "--cluster-replica-validity-factor",
                "0",
            ],
        ));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct RedisCluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

fn redis_cli() -> String {
    binary().replace("redis-server", "redis-cli")
}

pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(redis_cli())
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl RedisCluster {
    /// 3 masters + 3 replicas, slots assigned, every node agreeing the cluster is ok.
    pub fn start() -> RedisCluster {
        RedisCluster::start_with(1)
    }

    /// 3 masters with `replicas` replicas each.
    pub fn start_with(replicas: usize) -> RedisCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut nodes = Vec::new();
        for i in 0..3 * (1 + replicas) {
            let dir = dir.path().join(i.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            let mut node = Node {
                port: super::free_port(),
                bus: super::free_port(),
                dir,
                child: None,
            };
            node.spawn();
            nodes.push(node);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(redis_cli())
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let c = RedisCluster { nodes, _dir: dir };
        c.wait_ok(Duration::from_secs(20));
        c
    }

    /// The URLs hookgate starts from (one is enough; all are given).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    fn live(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.child.is_some())
    }

    /// Waits until every live node says `cluster_state:ok` and all slots are served.
    pub fn wait_ok(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let ok = self.live().all(|n| {
                let info = cli(n.port, &["cluster", "info"]);
                let repl = cli(n.port, &["info", "replication"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && (repl.contains("role:master") || repl.contains("master_link_status:up"))
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "cluster not ok in {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every line of every live node's `CLUSTER NODES` passes `ok` (say, names a
    /// node at the port it announces).
    pub fn wait_nodes(&self, what: &str, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .live()
            .all(|n| cli(n.port, &["cluster", "nodes"]).lines().all(&ok))
        {
            assert!(Instant::now() < deadline, "nodes never agreed: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `sig` (e.g. `STOP`, `CONT`) to the node on `port`.
    pub fn signal(&self, port: u16, sig: &str) {
        let n = self.nodes.iter().find(|n| n.port == port).expect("a node");
        let pid = n.child.as_ref().expect("running").id();
        assert!(super::signal(pid, sig), "kill -{sig} {pid}");
    }

    /// Ports of the live masters.
    pub fn masters(&self) -> Vec<u16> {
        self.live()
            .filter(|n| cli(n.port, &["role"]).starts_with("master"))
            .map(|n| n.port)
            .collect()
    }

    /// Ports of the live replicas.
    pub fn replicas(&self) -> Vec<u16> {
        self.live()
            .filter(|n| cli(n.port, &["role"]).starts_with("slave"))
            .map(|n| n.port)
            .collect()
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot: u16 = cli(self.masters()[0], &["cluster", "keyslot", key])
            .parse()
            .expect("keyslot");
        for port in self.masters() {
            // `CLUSTER NODES` of the node itself: its `myself` line lists its slot ranges.
            let nodes = cli(port, &["cluster", "nodes"]);
            let mine = nodes.lines().find(|l| l.contains("myself")).unwrap_or("");
            let serves = mine.split_whitespace().skip(8).any(|r| {
                let mut it = r.split('-');
                let a: u16 = it.next().and_then(|x| x.parse().ok()).unwrap_or(u16::MAX);
                let b: u16 = it.next().and_then(|x| x.parse().ok()).unwrap_or(a);
                (a..=b).contains(&slot)
            });
            if serves {
                return port;
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// SIGKILLs the node on `port` (its replica is promoted after the node timeout).
    pub fn kill(&mut self, port: u16) {
        for n in &mut self.nodes {
            if n.port == port {
                n.stop();
            }
        }
    }

    /// Moves every slot of the master on `from` to the master on `to`, key by key (clients
    /// meet ASK while a slot migrates and MOVED after).
    pub fn move_slots(&self, from: u16, to: u16) {
        let id = |p: u16| cli(p, &["cluster", "myid"]);
        let slots = cli(from, &["cluster", "nodes"])
            .lines()
            .find(|l| l.contains("myself"))
            .map(|l| {
                l.split_whitespace()
                    .skip(8)
                    .map(|r| {
                        let mut it = r.split('-').map(|x| x.parse::<u32>().unwrap());
                        let a = it.next().unwrap();
                        it.next().unwrap_or(a) - a + 1
                    })
                    .sum::<u32>()
            })
            .unwrap_or(0);
        let out = Command::new(redis_cli())
            .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
            .args(["--cluster-from", &id(from), "--cluster-to", &id(to)])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .args(["--cluster-pipeline", "100"])
            .output()
            .expect("redis-cli --cluster reshard");
        assert!(
            out.status.success(),
            "reshard: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// SIGKILLs every node.
    pub fn kill_all(&mut self) {
        for n in &mut self.nodes {
            n.stop();
        }
    }

    /// Starts every stopped node again, from its data, and waits until the cluster is ok.
    pub fn restart_stopped(&mut self) {
        for n in &mut self.nodes {
            if n.child.is_none() {
                n.spawn();
            }
        }
        self.wait_ok(Duration::from_secs(30));
    }

    /// How many keys the live masters hold, per master port.
    pub fn keys_per_master(&self) -> Vec<(u16, u64)> {
        self.masters()
            .into_iter()
            .map(|p| (p, cli(p, &["dbsize"]).parse().unwrap_or(0)))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}
