//! `LOAD_PERF=1`: each measured run under `perf record` (flat, no call graphs: a few % of
//! overhead), then the run's top costs by thread and by function, printed as it ends. Where
//! an event's CPU goes, beside bare pingora's own, by the same command as the figures.
//! `LOAD_PERF=keep` also keeps each recording (e.g. `perf report --comm hookgate-store`);
//! `LOAD_PERF=graph` keeps it with call graphs (frame pointers: a hookgate built with
//! `RUSTFLAGS="-C force-frame-pointers=yes"`, passed as `LOAD_HOOKGATE`); `LOAD_PERF=dwarf`
//! keeps it with call graphs unwound from stack copies (any build, the callers of libc's
//! leaves such as `memmove` included; larger recordings, read with `perf report -G`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Lines printed of each breakdown.
const TOP: usize = 15;

pub struct Recording {
    perf: Child,
    file: PathBuf,
}

/// Starts recording the process `pid` when `LOAD_PERF=1` and `perf` runs here.
pub fn start(pid: u32, run: u64) -> Option<Recording> {
    if !matches!(
        std::env::var("LOAD_PERF").ok().as_deref(),
        Some("1" | "keep" | "graph" | "dwarf")
    ) {
        return None;
    }
    let file =
        std::env::temp_dir().join(format!("hookgate-load-{}-{run}.perf", std::process::id()));
    let graph = match std::env::var("LOAD_PERF").ok().as_deref() {
        Some("graph") => Some("-g"),
        Some("dwarf") => Some("--call-graph=dwarf,16384"),
        _ => None,
    };
    let perf = Command::new("perf")
        .args(["record", "-q", "-F", "499", "-p", &pid.to_string()])
        .args(graph)
        .arg("-o")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match perf {
        Ok(perf) => Some(Recording { perf, file }),
        Err(e) => {
            eprintln!("LOAD_PERF: cannot run perf ({e}): not profiled");
            None
        }
    }
}

impl Recording {
    /// Stops recording (perf writes its file on SIGINT) and prints the breakdowns.
    pub fn finish(mut self, name: &str) {
        let stopped = Command::new("kill")
            .args(["-INT", &self.perf.id().to_string()])
            .status();
        if !stopped.is_ok_and(|s| s.success()) {
            let _ = self.perf.kill();
        }
        let _ = self.perf.wait();
        eprintln!("perf, {name}:");
        for sort in ["comm", "dso,sym"] {
            let out = Command::new("perf")
                .args([
                    "report",
                    "--no-children",
                    "--stdio",
                    "-q",
                    "--sort",
                    sort,
                    "-i",
                ])
                .arg(&self.file)
                .output();
            let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            for line in text
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(TOP)
            {
                eprintln!("  {}", line.trim_end());
            }
        }
        // LOAD_PERF=keep: the recording stays, for `perf report -i` by thread or symbol.
        if matches!(
            std::env::var("LOAD_PERF").ok().as_deref(),
            Some("keep" | "graph" | "dwarf")
        ) {
            eprintln!("  (kept: {})", self.file.display());
        } else {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}
