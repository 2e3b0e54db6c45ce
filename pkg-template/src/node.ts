/** Node.js (ESM): the wasm is read from the package's files on first use. */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { setLoader } from "./runtime.js";

const wasmUrl = new URL("../wasm/beryl_wasm_bg.wasm", import.meta.url);

setLoader({
  sync: () => readFileSync(wasmUrl),
  async: () => readFile(wasmUrl),
  hint: "the wasm file could not be read",
});

export * from "./index.js";
