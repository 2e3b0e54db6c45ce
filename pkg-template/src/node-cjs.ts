/** Node.js (CommonJS, bundled into `dist/index.cjs`): the wasm is read on first use. */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setLoader } from "./runtime.js";

// The bundle sits in dist/, next to the ESM build.
const wasmPath = join(__dirname, "..", "wasm", "beryl_wasm_bg.wasm");

setLoader({
  sync: () => readFileSync(wasmPath),
  async: () => readFile(wasmPath),
  hint: "the wasm file could not be read",
});

export * from "./index.js";
