/**
 * Browsers and bundlers (Vite, webpack, Rollup): the `.wasm` is referenced with
 * `new URL(..., import.meta.url)`, which bundlers understand without a plugin, and fetched by
 * `await init()`.
 */
import { setLoader } from "./runtime.js";

setLoader({
  async: () => new URL("../wasm/beryl_wasm_bg.wasm", import.meta.url),
  hint: "call `await init()` once before creating a PresenceState (browsers load the wasm asynchronously)",
});

export * from "./index.js";
