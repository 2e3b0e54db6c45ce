#!/usr/bin/env bash
# Installs what a fresh Debian machine with Rust (rustup) and Node lacks for
# building and testing this repository. Idempotent: every step checks first
# and skips what is already there.
#
# Usage:
#   scripts/setup.sh                 # all steps
#   scripts/setup.sh rust apt        # only the named steps
#   SETUP_SKIP="npm" scripts/setup.sh   # all steps but the named ones
#   NPM_DIRS_ONLY="wasm/tools" scripts/setup.sh npm   # npm step for some NPM_DIRS only
#
# Steps (in order): rust nightly apt cargo-fuzz wasm-bindgen npm
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERYL_ROOT"

export DEBIAN_FRONTEND=noninteractive

ALL_STEPS=(rust nightly apt cargo-fuzz wasm-bindgen npm)
# g++: libfuzzer-sys (the fuzz targets) compiles libFuzzer's C++ sources.
APT_PACKAGES=(redis-server redis-tools chromium chromium-driver g++)

# --- rust: wasm32 target, rustfmt and clippy for the active toolchain --------
setup_rust() {
  command -v rustup >/dev/null 2>&1 || die "rustup not found: install Rust with rustup first"
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup first"

  if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    ok "rust target wasm32-unknown-unknown already installed"
  else
    log "installing rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi

  local missing=() comp
  for comp in rustfmt clippy; do
    if rustup component list --installed | grep -q "^${comp}\(-\|$\)"; then
      ok "rust component $comp already installed"
    else
      missing+=("$comp")
    fi
  done
  if ((${#missing[@]})); then
    log "installing rust components: ${missing[*]}"
    rustup component add "${missing[@]}"
  fi
}

# --- nightly: needed by cargo-fuzz ---------------------------------------------
setup_nightly() {
  if rustup toolchain list | grep -q '^nightly-'; then
    ok "rust nightly toolchain already installed ($(rustup run nightly rustc --version))"
  else
    log "installing rust nightly toolchain (minimal profile)"
    rustup toolchain install nightly --profile minimal
  fi
}

# --- apt: redis, chromium, chromedriver ---------------------------------------
dpkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

setup_apt() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found (this script expects Debian)"
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    if dpkg_installed "$pkg"; then
      ok "apt package $pkg already installed"
    else
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    log "installing apt packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# --- cargo-fuzz -----------------------------------------------------------------
setup_cargo_fuzz() {
  if command -v cargo-fuzz >/dev/null 2>&1; then
    ok "cargo-fuzz already installed ($(cargo-fuzz --version 2>/dev/null || echo '?'))"
  else
    log "installing cargo-fuzz (about 1 minute)"
    cargo install cargo-fuzz --locked
  fi
}

# --- wasm-bindgen-cli at the version pinned in Cargo.toml -----------------------
setup_wasm_bindgen() {
  local want have=""
  want="$(pinned_wasm_bindgen_version)"
  if command -v wasm-bindgen >/dev/null 2>&1; then
    have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
  fi
  if [[ "$have" == "$want" ]]; then
    ok "wasm-bindgen $want already installed"
  else
    if [[ -n "$have" ]]; then
      log "installing wasm-bindgen-cli $want (found $have; about 5 minutes)"
    else
      log "installing wasm-bindgen-cli $want (about 5 minutes)"
    fi
    # No --locked: its lockfile wants a webpki-roots release the registry lacks.
    cargo install wasm-bindgen-cli --version "$want" --force
    have="$(wasm-bindgen --version | awk '{print $2}')"
    [[ "$have" == "$want" ]] || die "wasm-bindgen --version prints $have after installing $want"
  fi
}

# --- npm: dependencies of the JS test folders (NPM_DIRS in scripts/lib.sh) -----
npm_install_dirs() {
  if ((${#NPM_DIRS[@]} == 0)); then
    skip "npm: no directories listed in NPM_DIRS (scripts/lib.sh)"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 and npm"
  local dirs=("${NPM_DIRS[@]}") dir
  if [[ -n "${NPM_DIRS_ONLY:-}" ]]; then
    # shellcheck disable=SC2206 # a space-separated list of directories, by design
    dirs=(${NPM_DIRS_ONLY})
  fi
  for dir in "${dirs[@]}"; do
    if [[ ! -f "$BERYL_ROOT/$dir/package.json" ]]; then
      skip "npm: $dir/package.json does not exist yet"
      continue
    fi
    (
      cd "$BERYL_ROOT/$dir"
      # npm writes node_modules/.package-lock.json after a successful install;
      # when it is newer than package.json and the lock file, nothing changed.
      if [[ -z "${FORCE_NPM_INSTALL:-}" && -f node_modules/.package-lock.json &&
        node_modules/.package-lock.json -nt package.json &&
        (! -f package-lock.json || node_modules/.package-lock.json -nt package-lock.json) ]]; then
        ok "npm: $dir already installed"
      elif [[ -f package-lock.json ]]; then
        log "installing npm packages in $dir (npm ci)"
        npm ci --no-audit --no-fund
      else
        log "installing npm packages in $dir (npm install: no package-lock.json)"
        npm install --no-audit --no-fund
      fi
    )
  done
}

# --- driver -----------------------------------------------------------------------
run_setup_step() {
  local step="$1" start=$SECONDS
  log "== setup: $step"
  case "$step" in
    rust) setup_rust ;;
    nightly) setup_nightly ;;
    apt) setup_apt ;;
    cargo-fuzz) setup_cargo_fuzz ;;
    wasm-bindgen) setup_wasm_bindgen ;;
    npm) npm_install_dirs ;;
    *) die "unknown setup step '$step' (known: ${ALL_STEPS[*]})" ;;
  esac
  if ((SECONDS - start > 1)); then
    log "   ($step took $((SECONDS - start)) s)"
  fi
}

main() {
  local steps=() step skipped
  if (($#)); then
    steps=("$@")
  else
    steps=("${ALL_STEPS[@]}")
  fi
  for step in "${steps[@]}"; do
    for skipped in ${SETUP_SKIP:-}; do
      if [[ "$step" == "$skipped" ]]; then
        skip "setup step $step (SETUP_SKIP)"
        continue 2
      fi
    done
    run_setup_step "$step"
  done
  log "setup.sh: done in $SECONDS s"
}

main "$@"
