#!/usr/bin/env bash
# Runs the demo: three replicas exchanging presence state.
#
#   scripts/demo.sh [ARGS...]     # ARGS go to the example
#
# Only the set-up the demo needs runs first (DEMO_SETUP_STEPS, names of
# scripts/setup.sh steps); today that is nothing beyond cargo.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERYL_ROOT"

DEMO_SETUP_STEPS=()

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup first"
if ((${#DEMO_SETUP_STEPS[@]})); then
  bash scripts/setup.sh "${DEMO_SETUP_STEPS[@]}"
fi

cargo run --release -p beryl-core --example three_replicas -- "$@"
