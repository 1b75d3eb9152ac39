//! The README's entry points (scripts/test, scripts/run-example): their dependency check reports
//! what is there and what is missing, and never installs anything in `--check` mode or on a
//! system without apt-get; what they install through apt-get is in the Debian archive, and
//! installs without questions through sudo.

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
        "ok: promtool",
        "ok: systemd-analyze",
        // The program, not bash's builtin.
        "ok: kill (/",
        // From PyPI, in the venv under target/ (kubectl is in no Debian archive here).
        "ok: kubectl (",
        "ok: kubernetes-validate (",
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
fn help_is_the_header_comment_and_nothing_else() {
    for script in ["test", "run-example"] {
        let (code, out) = run(script, &["--help"], None);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(&format!("scripts/{script} --check")), "{out}");
        assert!(!out.contains("set -euo") && !out.contains("# "), "{out}");
    }
}

#[test]
fn unknown_options_are_refused() {
    let (code, out) = run("test", &["--chek"], None);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown option --chek"), "{out}");
}

/// A script on `bin` with `body` after `#!/bin/sh`.
fn fake(bin: &Path, name: &str, body: &str) {
    let f = bin.join(name);
    let _ = std::fs::remove_file(&f);
    std::fs::write(&f, format!("#!/bin/sh\n{body}\n")).unwrap();
    let ok = Command::new("chmod").arg("+x").arg(&f).status().unwrap();
    assert!(ok.success());
}

#[test]
fn apt_get_runs_noninteractive_through_sudo() {
    // Not root, with a sudo that resets the environment as sudo's env_reset does: a
    // DEBIAN_FRONTEND set in front of sudo would never reach apt-get (which could then stop at
    // a debconf question).
    let dir = tempfile::tempdir().unwrap();
    let path = bare_path(dir.path(), &["env"]);
    let log = dir.path().join("apt-get.log");
    fake(&path, "id", "echo 1000");
    fake(&path, "sudo", "exec env -i PATH=\"$PATH\" \"$@\"");
    fake(
        &path,
        "apt-get",
        &format!(
            "echo \"${{DEBIAN_FRONTEND:-unset}} $*\" >> {}",
            log.display()
        ),
    );
    let (code, out) = run("run-example", &[], Some(&path));
    // The fake apt-get installs nothing, so the script stops there, before building.
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("still missing after the install"), "{out}");
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let install = calls
        .lines()
        .find(|l| l.contains(" install "))
        .unwrap_or_else(|| panic!("no apt-get install:\n{calls}\n{out}"));
    assert!(
        install.starts_with("noninteractive install -y ") && install.contains(" cmake"),
        "{install}"
    );
}

#[test]
fn every_debian_package_the_scripts_install_is_in_the_archive() {
    // scripts/test sets this where apt-get is, after making sure the package lists are there.
    let required = std::env::var("HOOKGATE_REQUIRE_APT_LISTS").as_deref() == Ok("1");
    let skip = |why: &str| {
        assert!(!required, "{why}");
        eprintln!("SKIPPED: {why}");
    };
    let Some(apt_cache) = which("apt-cache") else {
        return skip("no apt-cache here: the Debian names are not checked");
    };
    // The archive's versions of a package, one a line; nothing for a package only installed
    // (from a source no longer configured) and for a name that is no package.
    let madison = |pkg: &str| {
        let out = Command::new(&apt_cache)
            .args(["madison", pkg])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    if madison("apt").trim().is_empty() {
        return skip("apt-cache knows no archive (no apt-get update yet)");
    }
    assert!(madison("hookgate-no-such-package").trim().is_empty());
    let out = Command::new("bash")
        .arg("-c")
        .arg(". scripts/deps.sh && need_test && debian_packages")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let packages: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    for p in ["cmake", "prometheus", "redis-server", "chromium-driver"] {
        assert!(packages.iter().any(|x| x == p), "{p} not in {packages:?}");
    }
    for p in &packages {
        let versions = madison(p);
        assert!(
            versions
                .lines()
                .any(|l| l.split('|').next().map(str::trim) == Some(p.as_str())),
            "{p}, named in scripts/deps.sh, is not a package of this machine's Debian archive \
             (apt-cache madison {p}: {versions:?}): apt-get install of the missing set would \
             fail as a whole"
        );
    }
}

#[test]
fn services_the_installed_packages_start_are_stopped_and_disabled() {
    // Debian's redis-server and prometheus start (and enable) a service on install; under
    // systemd the script stops and disables those it just installed, and touches no other.
    let dir = tempfile::tempdir().unwrap();
    let path = bare_path(dir.path(), &[]);
    let log = dir.path().join("calls.log");
    let systemd_run = dir.path().join("run-systemd-system");
    std::fs::create_dir(&systemd_run).unwrap();
    for cmd in ["apt-get", "systemctl", "sudo"] {
        fake(
            &path,
            cmd,
            &format!("echo \"{cmd} $*\" >> {}", log.display()),
        );
    }
    // Not root, as a developer: through sudo (whose fake only logs).
    fake(&path, "id", "echo 1000");
    let mut c = Command::new(root().join("scripts/test"));
    c.env("PATH", &path)
        .env("HOOKGATE_SYSTEMD_RUN", &systemd_run);
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{text}");
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    for unit in ["redis-server", "prometheus"] {
        assert!(
            calls.contains(&format!("sudo systemctl disable --now {unit}\n")),
            "{unit} not disabled:\n{calls}\n{text}"
        );
    }
    assert_eq!(calls.matches("systemctl").count(), 2, "{calls}");

    // Without systemd (a container) and nothing of theirs installed: no systemctl at all.
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_dir(&systemd_run).unwrap();
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!calls.contains("systemctl"), "{calls}");
}

/// The README's first command runs the example config with a published default secret
/// (`change-me`): its listeners stay on loopback, so nobody else can post signed events to it
/// (before: `listen = "0.0.0.0:8080"`).
#[test]
fn the_example_config_listens_on_loopback_only() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/hookgate.toml"))
        .unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let server = doc["server"].as_table().unwrap();
    for key in ["listen", "admin_listen"] {
        let addr: std::net::SocketAddr = server[key].as_str().unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback(), "server.{key} = {addr}");
    }
}
