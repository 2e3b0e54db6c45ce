# shellcheck shell=bash
# Shared helpers for scripts/setup.sh, scripts/test.sh and scripts/demo.sh.
# Source it; do not run it:   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Guard against double sourcing (setup.sh and test.sh may both pull it in).
if [[ -n "${BERYL_LIB_SOURCED:-}" ]]; then
  return 0
fi
BERYL_LIB_SOURCED=1

# Repository root (the parent of scripts/), whatever the caller's cwd.
BERYL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BERYL_ROOT

# Binaries installed by `cargo install` must be found by later steps.
BERYL_CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in
  *":$BERYL_CARGO_BIN:"*) ;;
  *) export PATH="$BERYL_CARGO_BIN:$PATH" ;;
esac

# Quieter, reproducible output in CI.
if [[ -n "${CI:-}" ]]; then
  export CARGO_TERM_COLOR=never
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

# ---------------------------------------------------------------------------
# JS package directories (relative to the repository root).
#
# Every directory listed here gets `npm ci` (or `npm install` when it has no
# package-lock.json) in scripts/setup.sh (function npm_install_dirs), and
# `npm test` in scripts/test.sh (function hook_js_tests). Directories that do
# not exist yet are skipped with a note. Add new JS test folders here, e.g.
#   NPM_DIRS=(tests/js tests/workerd)
# ---------------------------------------------------------------------------
# shellcheck disable=SC2034 # used by setup.sh and test.sh
NPM_DIRS=(tests/js/phoenix-compat wasm/tools tests/js/package tests/js/server)

# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------
log()  { printf '%s\n' "$*"; }
ok()   { printf 'ok: %s\n' "$*"; }
skip() { printf 'skip: %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (not root and no sudo)"
  fi
}

# ---------------------------------------------------------------------------
# EXIT cleanups: register commands that must run however the script ends.
# They run in reverse order of registration; BERYL_EXIT_CODE holds the
# script's exit status while they run.
# ---------------------------------------------------------------------------
BERYL_CLEANUPS=()
BERYL_EXIT_CODE=0

beryl_on_exit() {
  BERYL_EXIT_CODE=$?
  local i
  for ((i = ${#BERYL_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${BERYL_CLEANUPS[i]}" || true
  done
  exit "$BERYL_EXIT_CODE"
}
trap beryl_on_exit EXIT

add_cleanup() {
  BERYL_CLEANUPS+=("$1")
}

# ---------------------------------------------------------------------------
# Cargo.toml helpers
# ---------------------------------------------------------------------------

# The exact version pinned for the wasm-bindgen crate in the root Cargo.toml
# [workspace.dependencies], e.g. `wasm-bindgen = "=0.2.130"` or
# `wasm-bindgen = { version = "=0.2.130", ... }`. Prints 0.2.130.
pinned_wasm_bindgen_version() {
  local line version
  line="$(awk '
    /^[[:space:]]*\[/ { in_sec = ($0 ~ /^[[:space:]]*\[workspace\.dependencies\][[:space:]]*$/); next }
    in_sec && /^[[:space:]]*wasm-bindgen[[:space:]]*=/ { print; exit }
  ' "$BERYL_ROOT/Cargo.toml")"
  [[ -n "$line" ]] || die "no wasm-bindgen entry in [workspace.dependencies] of $BERYL_ROOT/Cargo.toml"
  version="$(printf '%s\n' "$line" | grep -oE '"=[0-9]+\.[0-9]+\.[0-9]+[^"]*"' | head -n1 | tr -d '"=')" || true
  [[ -n "$version" ]] || die "wasm-bindgen is not pinned with \"=X.Y.Z\" in Cargo.toml: $line"
  printf '%s\n' "$version"
}

# Succeeds when the [features] table of the given Cargo.toml declares FEATURE.
cargo_toml_has_feature() {
  local toml="$1" feature="$2"
  [[ -f "$toml" ]] || return 1
  awk -v f="$feature" '
    /^[[:space:]]*\[/ { in_sec = ($0 ~ /^[[:space:]]*\[features\][[:space:]]*$/); next }
    in_sec {
      line = $0
      sub(/^[[:space:]]*/, "", line)
      sub(/^"/, "", line)
      n = index(line, "=")
      if (n == 0) next
      key = substr(line, 1, n - 1)
      sub(/[[:space:]"]*$/, "", key)
      if (key == f) { found = 1; exit }
    }
    END { exit !found }
  ' "$toml"
}

# ---------------------------------------------------------------------------
# Redis: a throw-away server on a free loopback port.
#
#   start_redis          # sets REDIS_PORT, REDIS_PID, exports BERYL_REDIS_URL
#   ...tests...
#   stop_redis           # also runs automatically on EXIT
# ---------------------------------------------------------------------------
REDIS_PID=""
REDIS_PORT=""
REDIS_DIR=""
REDIS_CLEANUP_ADDED=""

# Succeeds when nothing listens on 127.0.0.1:PORT.
port_is_free() {
  local port="$1"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    return 1
  fi
  return 0
}

# Prints a loopback TCP port that nothing listens on right now.
free_port() {
  local port tries
  for ((tries = 0; tries < 200; tries++)); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if port_is_free "$port"; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  die "could not find a free loopback port"
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not installed (run scripts/setup.sh)"
  command -v redis-cli >/dev/null 2>&1 || die "redis-cli not installed (run scripts/setup.sh)"
  if [[ -n "$REDIS_PID" ]]; then
    return 0
  fi
  REDIS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/beryl-redis.XXXXXX")"
  if [[ -z "$REDIS_CLEANUP_ADDED" ]]; then
    add_cleanup stop_redis
    REDIS_CLEANUP_ADDED=1
  fi

  local attempt port pid i
  for ((attempt = 1; attempt <= 5; attempt++)); do
    port="$(free_port)"
    # --dir keeps any stray dump files out of the repository.
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$REDIS_DIR" --daemonize no >"$REDIS_DIR/redis-$port.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
      if ! kill -0 "$pid" 2>/dev/null; then
        break # exited (port taken in the meantime?): try another port
      fi
      if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]; then
        REDIS_PID="$pid"
        REDIS_PORT="$port"
        export BERYL_REDIS_URL="redis://127.0.0.1:$port"
        log "redis-server started on 127.0.0.1:$port (pid $pid)"
        return 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    warn "redis-server did not come up on port $port (attempt $attempt):"
    tail -n 5 "$REDIS_DIR/redis-$port.log" >&2 || true
  done
  die "could not start redis-server"
}

stop_redis() {
  if [[ -n "$REDIS_PID" ]]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    log "redis-server on port $REDIS_PORT stopped (pid $REDIS_PID)"
    REDIS_PID=""
    REDIS_PORT=""
    unset BERYL_REDIS_URL
  fi
  if [[ -n "$REDIS_DIR" ]]; then
    rm -rf "$REDIS_DIR"
    REDIS_DIR=""
  fi
}
