#!/usr/bin/env bash
# Builds the npm package beryl-presence into pkg/ (gitignored):
#
#   scripts/build-wasm.sh
#
# 1. cargo builds beryl-wasm for wasm32-unknown-unknown (profile wasm-release, a higher inline
#    threshold than opt-level "z" has);
# 2. wasm-bindgen --target web writes the JS glue (one glue serves every runtime: each entry
#    point hands it the module its own way);
# 3. wasm-opt -Oz from the npm package binaryen shrinks the .wasm (never Debian's binaryen:
#    its modules fail to load);
# 4. tsc compiles the TS wrapper and runtime entries of pkg-template/src to ESM + .d.ts,
#    esbuild bundles the Node entry with the glue into a CommonJS file for `require` and
#    minifies every JS file shipped;
# 5. pkg/ gets package.json, README.md, dist/ and wasm/; scripts/package-size.mjs prints, per
#    entry, the gzipped size of every JS file it loads plus the .wasm, against the 60 KB goal.
#
# The tools come from wasm/tools (npm ci there: scripts/setup.sh npm does it).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BERYL_ROOT"

TOOLS="$BERYL_ROOT/wasm/tools/node_modules/.bin"
for tool in wasm-opt tsc esbuild; do
  [[ -x "$TOOLS/$tool" ]] || die "$TOOLS/$tool missing: run scripts/setup.sh npm (npm ci in wasm/tools)"
done
command -v wasm-bindgen >/dev/null 2>&1 || die "wasm-bindgen not found: run scripts/setup.sh wasm-bindgen"
want="$(pinned_wasm_bindgen_version)"
have="$(wasm-bindgen --version | awk '{print $2}')"
[[ "$have" == "$want" ]] || die "wasm-bindgen $have installed but the crate is pinned to $want: run scripts/setup.sh wasm-bindgen"

STAGE="$BERYL_ROOT/wasm/tools/stage"
OUT="$BERYL_ROOT/pkg"
# Wherever cargo puts its output (CARGO_TARGET_DIR, build.target-dir, or target/).
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).target_directory')"
WASM_IN="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/beryl_wasm.wasm"

log "-- cargo build (wasm32, profile wasm-release)"
# opt-level "z" inlines almost nothing, so the hot paths call one-line accessors and the
# standard library's push and clone as calls. An inline threshold of 40 (LLVM's default is 5
# under "z", 50 under "s") makes tracks, merges and lists 30-45% faster in Node for about 8 KB
# more, gzipped: this script prints the size, `npm run bench` in tests/js/package the speed.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:-} -Cllvm-args=-inline-threshold=40" \
  cargo build --profile wasm-release --target wasm32-unknown-unknown -p beryl-wasm

rm -rf "$STAGE"
mkdir -p "$STAGE/wasm"
log "-- wasm-bindgen --target web"
wasm-bindgen --target web --out-dir "$STAGE/wasm" --out-name beryl_wasm "$WASM_IN"
log "-- wasm-opt -Oz"
"$TOOLS/wasm-opt" -Oz --strip-debug --strip-producers \
  "$STAGE/wasm/beryl_wasm_bg.wasm" -o "$STAGE/wasm/beryl_wasm_bg.opt.wasm"
mv "$STAGE/wasm/beryl_wasm_bg.opt.wasm" "$STAGE/wasm/beryl_wasm_bg.wasm"
# Only used by wasm-bindgen's own loaders; the package never imports it.
rm -f "$STAGE/wasm/beryl_wasm_bg.wasm.d.ts"

log "-- tsc (ESM + declarations)"
cp -r pkg-template/src "$STAGE/src"
cp pkg-template/tsconfig.json "$STAGE/tsconfig.json"
cp pkg-template/package.json "$STAGE/package.json" # "type": "module" makes tsc emit ESM
"$TOOLS/tsc" -p "$STAGE/tsconfig.json"
rm -f "$STAGE/dist/wasm-module.d.ts"

log "-- esbuild (CommonJS bundle for require; every shipped JS file minified)"
# --keep-names: error classes take their `name` from the class (`new.target.name`).
"$TOOLS/esbuild" "$STAGE/dist/node-cjs.js" --bundle --format=cjs --platform=node \
  --target=node18 --minify --keep-names --log-level=warning \
  --log-override:empty-import-meta=silent --outfile="$STAGE/dist/index.cjs"
# Each ES module on its own (not bundled): entries share runtime.js, so one init serves all.
for module in "$STAGE"/dist/*.js "$STAGE/wasm/beryl_wasm.js"; do
  "$TOOLS/esbuild" "$module" --format=esm --target=es2022 --minify --keep-names \
    --log-level=warning --allow-overwrite --outfile="$module"
done
# Declarations for require(): the ESM ones, renamed so TypeScript reads them as CommonJS.
mkdir -p "$STAGE/dist/cjs"
for declaration in "$STAGE"/dist/*.d.ts; do
  name="$(basename "$declaration" .d.ts)"
  sed -E 's/(from "\.\/[^"]+)\.js"/\1.cjs"/g' "$declaration" >"$STAGE/dist/cjs/$name.d.cts"
done
rm -f "$STAGE/dist/node-cjs.js" "$STAGE/dist/node-cjs.d.ts" "$STAGE/dist/cjs/node.d.cts" \
  "$STAGE/dist/cjs/browser.d.cts" "$STAGE/dist/cjs/workerd.d.cts" "$STAGE/dist/cjs/deno.d.cts"

log "-- assemble pkg/"
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$STAGE/dist" "$STAGE/wasm" "$OUT/"
cp pkg-template/package.json pkg-template/README.md "$OUT/"
for license in LICENSE-MIT LICENSE-APACHE LICENSE; do
  [[ -f "$license" ]] && cp "$license" "$OUT/"
done

# Every JS file each entry loads (its static import graph) plus the .wasm, gzipped.
node scripts/package-size.mjs "$OUT"
ok "pkg/ built (beryl-presence $(node -p 'require("./pkg/package.json").version'))"
