#!/usr/bin/env bash
# The one command that runs every test of this repository:
#
#   scripts/test.sh
#
# It runs scripts/setup.sh first, then each step below in order and stops at
# the first failure, naming the step that failed.
#
#   setup   scripts/setup.sh (installs what is missing; fast when nothing is)
#   fmt     cargo fmt --all --check
#   clippy  cargo clippy --workspace --all-targets --all-features -- -D warnings
#   test    cargo test --workspace (unit, integration and doc tests)
#   bench   cargo bench --workspace --no-run (benchmarks must compile)
#   wasm    hook_build_wasm     scripts/build-wasm.sh, when it exists, then the
#                               wasm-bindgen tests in Node and headless Chromium
#   js      hook_js_tests       npm test in each NPM_DIRS entry (scripts/lib.sh)
#   redis   hook_redis_tests    Redis-backed tests (tests/redis_cluster.rs and the
#                               crate docs' Redis example), when native/Cargo.toml
#                               has a `redis-tests` feature
#   fuzz    hook_fuzz           every fuzz/fuzz_targets/*.rs for FUZZ_SECONDS
#
# Environment:
#   FUZZ_SECONDS=30   seconds per fuzz target (0 skips fuzzing)
#   TEST_SKIP="..."   space-separated step names to skip, e.g. "fuzz bench"
#   CI=...            when set: no colours, no incremental builds
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERYL_ROOT"

CURRENT_STEP="(start)"
STEP_START=$SECONDS
STEP_TIMES=()

report_failure() {
  if ((BERYL_EXIT_CODE != 0)); then
    printf '\ntest.sh: FAILED in step "%s" (exit code %s)\n' "$CURRENT_STEP" "$BERYL_EXIT_CODE" >&2
  fi
}
# Registered first, so it runs last: after the servers are stopped.
add_cleanup report_failure

end_step() {
  if [[ "$CURRENT_STEP" != "(start)" ]]; then
    STEP_TIMES+=("$(printf '%-8s %5d s' "$CURRENT_STEP" $((SECONDS - STEP_START)))")
  fi
}

# begin_step NAME: prints a banner; returns 1 (skip) when NAME is in TEST_SKIP.
begin_step() {
  end_step
  CURRENT_STEP="$1"
  STEP_START=$SECONDS
  local s
  for s in ${TEST_SKIP:-}; do
    if [[ "$s" == "$1" ]]; then
      printf '\n==> test.sh: %s (skipped: TEST_SKIP)\n' "$1"
      CURRENT_STEP="(start)"
      return 1
    fi
  done
  printf '\n==> test.sh: %s\n' "$1"
}

# ---------------------------------------------------------------------------
# Hook points. Each is a no-op (with a "skip:" line) until the file or
# directory it needs exists.
# ---------------------------------------------------------------------------

# Builds the wasm package (pkg/) with scripts/build-wasm.sh.
hook_build_wasm() {
  if [[ ! -f scripts/build-wasm.sh ]]; then
    skip "wasm: scripts/build-wasm.sh does not exist yet"
    return 0
  fi
  bash scripts/build-wasm.sh
  # The wasm-bindgen tests of beryl-wasm, in Node, then in headless Chromium.
  cargo test -p beryl-wasm --target wasm32-unknown-unknown --test web
  CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" WASM_BINDGEN_USE_BROWSER=1 \
    cargo test -p beryl-wasm --target wasm32-unknown-unknown --test web
}

# Runs `npm test` in every NPM_DIRS entry (see scripts/lib.sh) whose
# package.json has a "test" script. setup.sh installed their dependencies.
hook_js_tests() {
  if ((${#NPM_DIRS[@]} == 0)); then
    skip "js: no directories listed in NPM_DIRS (scripts/lib.sh)"
    return 0
  fi
  local dir
  for dir in "${NPM_DIRS[@]}"; do
    if [[ ! -f "$dir/package.json" ]]; then
      skip "js: $dir/package.json does not exist yet"
      continue
    fi
    if ! node -e 'process.exit(require(process.argv[1]).scripts?.test ? 0 : 1)' \
      "$BERYL_ROOT/$dir/package.json"; then
      skip "js: $dir has no \"test\" script"
      continue
    fi
    log "-- npm test in $dir"
    (cd "$dir" && npm test)
  done
}

# Runs the Redis-backed tests of beryl-native against a throw-away
# redis-server on a free loopback port (BERYL_REDIS_URL points at it): the
# redis_cluster tests, and the crate docs' examples, whose Redis cluster example
# does nothing without BERYL_REDIS_URL (so the test step only compiles it). The
# other tests already ran in the test step.
hook_redis_tests() {
  if ! cargo_toml_has_feature native/Cargo.toml redis-tests; then
    skip "redis: native/Cargo.toml has no \"redis-tests\" feature yet"
    return 0
  fi
  start_redis
  cargo test -p beryl-native --features redis-tests --test redis_cluster -- --test-threads=1
  cargo test -p beryl-native --features redis-tests --doc -- src/lib.rs
  stop_redis
}

# Runs every fuzz target for FUZZ_SECONDS seconds each (nightly + cargo-fuzz).
hook_fuzz() {
  local seconds="${FUZZ_SECONDS:-30}"
  if [[ ! -d fuzz/fuzz_targets ]]; then
    skip "fuzz: fuzz/fuzz_targets does not exist yet"
    return 0
  fi
  if [[ "$seconds" == "0" ]]; then
    # libFuzzer reads -max_total_time=0 as "run forever": skip instead.
    skip "fuzz: FUZZ_SECONDS=0"
    return 0
  fi
  local targets=() f
  for f in fuzz/fuzz_targets/*.rs; do
    [[ -e "$f" ]] && targets+=("$(basename "$f" .rs)")
  done
  if ((${#targets[@]} == 0)); then
    skip "fuzz: no targets in fuzz/fuzz_targets"
    return 0
  fi
  # One build for all targets; each run below then only starts the binary.
  cargo +nightly fuzz build
  local target
  for target in "${targets[@]}"; do
    log "-- fuzz $target for ${seconds} s"
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds"
  done
}

# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------
if begin_step setup; then
  bash scripts/setup.sh
fi

if begin_step fmt; then
  fmt_args=()
  if [[ -n "${CI:-}" ]]; then
    fmt_args=(-- --color never) # rustfmt ignores CARGO_TERM_COLOR
  fi
  cargo fmt --all --check "${fmt_args[@]}"
fi

if begin_step clippy; then
  cargo clippy --workspace --all-targets --all-features -- -D warnings
fi

if begin_step test; then
  cargo test --workspace
fi

if begin_step bench; then
  cargo bench --workspace --no-run
fi

if begin_step wasm; then
  hook_build_wasm
fi

if begin_step js; then
  hook_js_tests
fi

if begin_step redis; then
  hook_redis_tests
fi

if begin_step fuzz; then
  hook_fuzz
fi

end_step
CURRENT_STEP="(done)"
printf '\nstep times:\n'
printf '  %s\n' "${STEP_TIMES[@]}"
printf 'total: %d s\n' "$SECONDS"
echo "test.sh: all steps passed"
