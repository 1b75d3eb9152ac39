//! The README's entry points (scripts/test, scripts/run-example): their dependency check reports
//! what is there and what is missing, and never installs anything in `--check` mode or on a
//! system without apt-get.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}

/// A PATH holding only what the scripts themselves use plus `extra`: cmake, redis and apt-get
/// are absent unless listed.
fn bare_path(dir: &Path, extra: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let base = [
        "bash", "dirname", "sed", "head", "sort", "awk", "id", "cargo", "rustc", "cc",
    ];
    for cmd in base.iter().chain(extra) {
        if let Some(p) = which(cmd) {
            symlink(p, bin.join(cmd)).unwrap();
        }
    }
    bin
}

fn run(script: &str, args: &[&str], path: Option<&Path>) -> (i32, String) {
    let mut c = Command::new(root().join("scripts").join(script));
    c.args(args);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let Output {
        status,
        stdout,
        stderr,
        ..
    } = c.output().expect("run the script");
    let text = String::from_utf8_lossy(&stdout).into_owned() + &String::from_utf8_lossy(&stderr);
    (status.code().unwrap_or(-1), text)
}

#[test]
fn check_reports_everything_present_on_this_machine() {
    // The suite runs after scripts/test installed what it needs, so all is there.
    let (code, out) = run("test", &["--check"], None);
    assert_eq!(code, 0, "{out}");
    for what in [
        "ok: rustc",
        "ok: cmake",
        "ok: cc",
        "ok: redis-server",
        "ok: redis-cli",
    ] {
        assert!(out.contains(what), "{what} not reported:\n{out}");
    }
    assert!(out.contains("everything the tests need is here"), "{out}");
    let (code, out) = run("run-example", &["--check"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: cmake") && !out.contains("redis"), "{out}");
}

#[test]
fn check_names_what_is_missing_and_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = bare_path(dir.path(), &[]);
    // An apt-get that would leave a mark if anything called it.
    let mark = dir.path().join("apt-get-called");
    let fake = path.join("apt-get");
    std::fs::write(&fake, format!("#!/bin/sh\ntouch {}\n", mark.display())).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake)
        .status()
        .unwrap();

    let (code, out) = run("test", &["--check"], Some(&path));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ok: rustc"), "{out}");
    for (cmd, deb) in [
        ("cmake", "cmake"),
        ("redis-server", "redis-server"),
        ("redis-cli", "redis-tools"),
    ] {
        assert!(
            out.contains(&format!("missing: {cmd} "))
                && out.contains(&format!("Debian/Ubuntu package: {deb};")),
            "{cmd} not reported missing:\n{out}"
        );
    }
    assert!(out.contains("scripts/test installs it"), "{out}");
    assert!(!mark.exists(), "--check must not install");
}

#[test]
fn without_apt_get_the_packages_are_named_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = bare_path(dir.path(), &[]);
    // Install mode, but no apt-get: the script says what to install (Homebrew names too) and
    // stops before building.
    let (code, out) = run("run-example", &[], Some(&path));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no apt-get here"), "{out}");
    assert!(out.contains("cmake: Homebrew 'cmake'"), "{out}");
    assert!(!out.contains("cargo build"), "{out}");
}

#[test]
fn unknown_options_are_refused() {
    let (code, out) = run("test", &["--chek"], None);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown option --chek"), "{out}");
}
