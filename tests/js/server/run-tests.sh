#!/usr/bin/env bash
# npm test: builds `beryl`, starts a throw-away redis-server for the cluster test (scripts/lib.sh
# start_redis, stopped on exit), then runs every *.test.js with node:test.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../../scripts/lib.sh
. "$here/../../../scripts/lib.sh"
cd "$BERYL_ROOT"
cargo build -p beryl-native --bin beryl
start_redis
cd "$here"
# One file at a time: the machine has 2 cores, and each file starts its own servers.
node --test --test-concurrency=1 "$@"
