/**
 * Loading the wasm module, lazily. Importing the package compiles nothing, starts no timer and
 * draws no random number (Cloudflare Workers forbid all three at global scope): each runtime
 * entry only registers where its bytes or module come from, and the first state created (or an
 * explicit `init()`) instantiates it.
 */
import glueInit, { initSync as glueInitSync } from "../wasm/beryl_wasm.js";
import { UsageError, checkHealthy, translate } from "./errors.js";

/** What a runtime can hand to `initSync`: a compiled module or the bytes of the `.wasm`. */
export type WasmSource = WebAssembly.Module | BufferSource;

/** What `init()` accepts: anything `initSync` accepts, a URL, a fetch `Response`, or a promise. */
export type AsyncWasmSource = WasmSource | URL | string | Response | Promise<Response | WasmSource>;

interface Loader {
  /** Where a synchronous first use gets the module; absent where only `await init()` works. */
  sync?: () => WasmSource;
  /** Where `init()` without an argument gets the module. */
  async: () => AsyncWasmSource;
  /** Says how to initialise where `sync` is absent. */
  hint: string;
}

let loader: Loader | undefined;
let ready = false;
let pending: Promise<void> | undefined;

/** Called once by each runtime entry at import: registers, loads nothing. */
export function setLoader(next: Loader): void {
  loader = next;
}

/** Instantiates the module now if it is not yet, or explains why it cannot. */
export function ensureReady(): void {
  checkHealthy();
  if (ready) {
    return;
  }
  if (loader?.sync === undefined) {
    throw new UsageError(
      "not_initialized",
      `beryl-presence is not initialised yet: ${loader?.hint ?? "await init() first"}`,
    );
  }
  initSync(loader.sync());
}

/** Instantiates the module synchronously from a compiled module or the `.wasm` bytes. */
export function initSync(source: WasmSource): void {
  checkHealthy();
  if (ready) {
    return;
  }
  try {
    glueInitSync({ module: source });
  } catch (error) {
    throw translate(error);
  }
  ready = true;
}

/**
 * Loads and instantiates the module; resolves when states can be created. Needed before the
 * first state in browsers; elsewhere optional. Calling it again is cheap.
 */
export function init(source?: AsyncWasmSource): Promise<void> {
  checkHealthy();
  if (ready) {
    return Promise.resolve();
  }
  if (pending === undefined) {
    const chosen = source ?? loader?.async();
    if (chosen === undefined) {
      return Promise.reject(
        new UsageError("not_initialized", "no wasm source: pass one to init(source)"),
      );
    }
    const loading = glueInit({ module_or_path: chosen }).then(
      () => {
        ready = true;
      },
      (error: unknown) => {
        pending = undefined;
        throw translate(error);
      },
    );
    pending = loading;
    return loading;
  }
  return pending;
}

/** Whether the module is instantiated. */
export function isReady(): boolean {
  return ready;
}
