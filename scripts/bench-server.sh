#!/usr/bin/env bash
# Load benchmark of the beryl server: builds the release binary, then runs
# tests/js/server/bench.js, which prints join throughput and diff fan-out latency (p50/p99)
# for N WebSocket clients on loopback.
#
#   scripts/bench-server.sh                 # N = 2,000 clients, 30 rounds
#   BENCH_CLIENTS=500 BENCH_ROUNDS=10 scripts/bench-server.sh
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERYL_ROOT"

bash scripts/setup.sh npm
cargo build --release -p beryl-native --bin beryl
# Each client and each server socket is a file descriptor.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export BERYL_BIN="$BERYL_ROOT/target/release/beryl"
(cd tests/js/server && node bench.js)
