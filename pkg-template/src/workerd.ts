/**
 * Cloudflare Workers and workerd: the `.wasm` is imported as a compiled `WebAssembly.Module`
 * (the platform forbids compiling from bytes) and instantiated on first use, not at import.
 */
import wasmModule from "../wasm/beryl_wasm_bg.wasm";
import { setLoader } from "./runtime.js";

setLoader({
  sync: () => wasmModule,
  async: () => wasmModule,
  hint: "the wasm module was not bundled",
});

export * from "./index.js";
