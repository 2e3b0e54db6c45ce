#!/usr/bin/env bash
# The main job: builds what it needs, then runs `beryl serve`, one presence node with the
# embedded in-process PubSub, serving Phoenix channels and the live demo page.
#
#   scripts/demo.sh                              # http://127.0.0.1:4000/
#   scripts/demo.sh --listen 127.0.0.1:4001      # ARGS go to `beryl serve` (see --help)
#   scripts/demo.sh --node b --redis redis://127.0.0.1:6379 --listen 127.0.0.1:4001
#
# The demo page's client code uses the beryl-presence package, so the package is built first
# (the wasm32 target, wasm-bindgen-cli and the build tools of wasm/tools are installed when
# missing). Stop the server with Ctrl-C: it tells its peers before it exits.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERYL_ROOT"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup first"
command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 and npm"

NPM_DIRS_ONLY="wasm/tools" bash scripts/setup.sh rust wasm-bindgen npm
bash scripts/build-wasm.sh
cargo build --release -p beryl-native --bin beryl

log ""
log "Starting beryl serve. Open the address printed below (http://127.0.0.1:4000/ unless"
log "--listen says otherwise) in two browser tabs, join a room under two names, and watch."
exec cargo run --release --quiet -p beryl-native --bin beryl -- serve --package-dir "$BERYL_ROOT/pkg" "$@"
