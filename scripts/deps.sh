# shellcheck shell=bash
# What hookgate's build and tests need from the system, checked and (unless only checking)
# installed with the platform's package manager. Sourced by scripts/run-example and scripts/test.
#
#   need_build      Rust >= the crate's rust-version, cmake (pingora's zlib-ng), a C/C++ compiler
#                   (ring, zstd, mimalloc)
#   need_test       the above, plus redis-server and redis-cli (the Redis store's tests start
#                   real servers on free ports), and Chromium with chromedriver (the console's
#                   tests drive a real headless browser; once these are required, a missing
#                   browser fails those tests instead of skipping them), kubectl, promtool and
#                   python3-venv (the deploy tests: kustomize, alert rules, schema validation)
#   ensure_deps     installs what is missing; with HOOKGATE_DEPS_CHECK=1 only reports, and
#                   returns 1 when something is missing

HOOKGATE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Each entry: "command (or an absolute path that must exist, or py:MODULE that python3 must
# import)|Debian package|Homebrew formula|why"
DEPS=()

# A command on the PATH, a file when given as an absolute path, or a Python module.
present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    py:*) python3 -c "import ${1#py:}" >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
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
  # fail those tests instead of skipping them; ensure_k8s_validator adds the schema validator).
  DEPS+=("kubectl|kubectl|kubernetes-cli|the deploy tests render deploy/kubernetes with kubectl kustomize")
  DEPS+=("promtool|prometheus|prometheus|the deploy tests check the alert rules and a live /metrics with promtool")
  # Debian's python3 has no ensurepip (so no venv) without python3-venv.
  DEPS+=("py:ensurepip|python3-venv|python|the deploy tests validate manifests with kubernetes-validate (PyPI) in a venv")
  export HOOKGATE_REQUIRE_DEPLOY_TOOLS=1
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
        *) say "ok: $cmd ($(command -v "$cmd"))" ;;
      esac
    else
      say "missing: $cmd — $why (Debian/Ubuntu package: $deb; Homebrew: $brew)"
    fi
  done
}

install_packages() {
  local pkgs=("$@") sudo=()
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
      else
        say "need root to install: ${pkgs[*]} (apt-get install ${pkgs[*]}), and sudo is not here"
        return 1
      fi
    fi
    say "installing with apt-get: ${pkgs[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
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

# kubernetes-validate (PyPI: the Kubernetes JSON schemas, strict) in a venv under target/, for
# tests/it/deploy.rs; created once, pinned.
ensure_k8s_validator() {
  local venv="$HOOKGATE_ROOT/target/k8s-validate"
  [ -x "$venv/bin/kubernetes-validate" ] && return 0
  say "installing kubernetes-validate 1.37.0 into $venv"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==1.37.0" >&2
}
