//! A Sentinel-managed Redis on free ports: a master, one replica, three sentinels (quorum 2,
//! a master is down after 1 s without answers).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use super::redis_cluster::cli;
use super::redis_server::{binary, spawn_server};

pub const MASTER_NAME: &str = "mymaster";

pub struct Sentinels {
    pub master: u16,
    pub replica: u16,
    pub sentinels: Vec<u16>,
    children: Vec<(u16, Child)>,
    dir: tempfile::TempDir,
}

impl Sentinels {
    pub fn start() -> Sentinels {
        let dir = tempfile::tempdir().expect("tempdir");
        let (master, replica) = (super::free_port(), super::free_port());
        let mut children = Vec::new();
        let data = |name: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        children.push((master, spawn_server(master, &data("master"), &[])));
        let m = master.to_string();
        children.push((
            replica,
            spawn_server(replica, &data("replica"), &["--replicaof", "127.0.0.1", &m]),
        ));
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = super::free_port();
            let conf = dir.path().join(format!("sentinel{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\nsentinel down-after-milliseconds {MASTER_NAME} 1000\nsentinel failover-timeout {MASTER_NAME} 2000\n",
                    dir.path().display()
                ),
            )
            .unwrap();
            let child = Command::new(binary())
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server --sentinel");
            children.push((port, child));
            sentinels.push(port);
        }
        let s = Sentinels {
            master,
            replica,
            sentinels,
            children,
            dir,
        };
        // Ready for a failover: the replica in sync, every sentinel knowing it and the others.
        s.wait(Duration::from_secs(30), |s| {
            cli(s.replica, &["info", "replication"]).contains("master_link_status:up")
                && s.sentinels.iter().all(|p| {
                    let known = |what: &str| cli(*p, &["sentinel", what, MASTER_NAME]);
                    known("replicas").contains(&s.replica.to_string())
                        && known("sentinels").matches("127.0.0.1").count() >= 2
                })
        });
        s
    }

    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    fn wait(&self, limit: Duration, ok: impl Fn(&Sentinels) -> bool) {
        let deadline = Instant::now() + limit;
        while !ok(self) {
            assert!(
                Instant::now() < deadline,
                "sentinel setup not ready in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process ID of the server on `port` (to freeze it with SIGSTOP).
    pub fn pid(&self, port: u16) -> u32 {
        self.children
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, c)| c.id())
            .expect("a server on that port")
    }

    /// SIGKILLs the server on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some((_, c)) = self.children.iter_mut().find(|(p, _)| *p == port) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server of `port` again (killed before) from its data; the sentinels make it
    /// a replica of the current master. Waits until it is in sync.
    pub fn restart(&mut self, port: u16) {
        let name = if port == self.master {
            "master"
        } else {
            "replica"
        };
        self.children.retain(|(p, _)| *p != port);
        let child = spawn_server(port, &self.dir.path().join(name), &[]);
        self.children.push((port, child));
        self.wait(Duration::from_secs(30), |_| {
            cli(port, &["info", "replication"]).contains("master_link_status:up")
        });
    }

    /// A graceful failover (`SENTINEL FAILOVER`): the master, still running, is demoted.
    /// Retried while the sentinels do not yet see a good replica (`NOGOODSLAVE`).
    pub fn failover(&self) {
        self.wait(Duration::from_secs(30), |s| {
            cli(s.sentinels[0], &["sentinel", "failover", MASTER_NAME]) == "OK"
        });
    }

    /// The master the sentinels name now.
    pub fn current_master(&self) -> Option<u16> {
        let out = cli(
            self.sentinels[0],
            &["sentinel", "get-master-addr-by-name", MASTER_NAME],
        );
        out.lines().nth(1)?.trim().parse().ok()
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
