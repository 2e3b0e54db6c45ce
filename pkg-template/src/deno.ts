/** Deno: the wasm is read from the package's files on first use (needs `--allow-read`). */
import { setLoader } from "./runtime.js";

declare const Deno: {
  readFileSync(path: URL): Uint8Array;
  readFile(path: URL): Promise<Uint8Array>;
};

const wasmUrl = new URL("../wasm/beryl_wasm_bg.wasm", import.meta.url);

setLoader({
  sync: () => Deno.readFileSync(wasmUrl),
  async: () => Deno.readFile(wasmUrl),
  hint: "the wasm file could not be read (run Deno with --allow-read)",
});

export * from "./index.js";
