// Prints the gzipped size of what each entry of the built package (pkg/) loads: every JS file
// the entry reaches through its static imports (as esbuild resolves them) plus the .wasm, each
// file gzipped on its own (-9, as a server would send them), against the 60 KB goal. Prints
// figures only; asserts nothing.
//
//   node scripts/package-size.mjs [PKG_DIR]     (run by scripts/build-wasm.sh)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkgDir = resolve(process.argv[2] ?? join(root, "pkg"));
const { build } = createRequire(join(root, "wasm/tools/package.json"))("esbuild");
const GOAL_KB = 60;

const gzipped = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;

const entries = [
  ["node (import)", "dist/node.js", "node"],
  ["node (require)", "dist/index.cjs", "node"],
  ["browser / bundlers", "dist/browser.js", "browser"],
  ["workerd", "dist/workerd.js", "neutral"],
  ["deno", "dist/deno.js", "neutral"],
];

const wasm = join(pkgDir, "wasm/beryl_wasm_bg.wasm");
const wasmGz = gzipped(wasm);
console.log(
  `size: wasm ${kb(readFileSync(wasm).length)} raw, ${kb(wasmGz)} gzipped; each entry loads:`,
);
for (const [label, entry, platform] of entries) {
  const result = await build({
    entryPoints: [join(pkgDir, entry)],
    bundle: true,
    write: false,
    outdir: join(pkgDir, ".size"),
    format: entry.endsWith(".cjs") ? "cjs" : "esm",
    platform,
    external: ["*.wasm", "node:*"],
    metafile: true,
    logLevel: "silent",
  });
  const files = Object.keys(result.metafile.inputs).map((input) => resolve(input));
  const js = files.reduce((sum, file) => sum + gzipped(file), 0);
  const total = js + wasmGz;
  const names = files.map((file) => relative(pkgDir, file)).join(", ");
  console.log(
    `size:   ${label.padEnd(19)} ${String(files.length).padStart(2)} JS files ${kb(js).padStart(8)} + wasm = ${kb(total).padStart(8)} gzipped (goal ${GOAL_KB} KB${total > GOAL_KB * 1024 ? `, over by ${kb(total - GOAL_KB * 1024)}` : ""})  [${names}]`,
  );
}
