/**
 * Loading the wasm module, lazily. Importing the package compiles nothing, starts no timer and
 * draws no random number (Cloudflare Workers forbid all three at global scope): each runtime
 * entry only registers where its bytes or module come from, and the first state created (or an
 * explicit `init()`) instantiates it.
 *
 * There is one instance, whatever the interleaving of `init()`, `initSync()` and first uses:
 * instantiating is always synchronous and happens once (the glue's `initSync` does nothing when
 * an instance exists). `init()` only fetches and compiles the module asynchronously, then
 * instantiates the compiled module synchronously, unless a synchronous first use (or
 * `initSync`) got there first, in which case the compiled module is dropped. States created
 * before, during or after a pending `init()` therefore all use the same instance.
 */
import { initSync as glueInitSync } from "../wasm/beryl_wasm.js";
import { LoadError, UsageError, checkHealthy, describe, translate } from "./errors.js";

/**
 * A compiled `WebAssembly.Module`. Typed through the global `WebAssembly` of the project's own
 * libraries (DOM, web workers, Cloudflare's workers types...) so that these declarations need
 * none of them: where no library declares `WebAssembly`, it is `never` and only bytes fit.
 */
export type WasmModule = typeof globalThis extends {
  WebAssembly: { Module: abstract new (...args: never[]) => infer Module };
}
  ? Module
  : never;

/** The bytes of the package's `.wasm` file. */
export type WasmBytes = ArrayBuffer | ArrayBufferView;

/** What a runtime can hand to `initSync`: a compiled module or the bytes of the `.wasm`. */
export type WasmSource = WasmModule | WasmBytes;

/** What `init()` reads from a fetch `Response` (any runtime's `Response` has it). */
export interface WasmResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A URL `init()` fetches the `.wasm` from (a `URL` object or anything with an `href`). */
export interface WasmUrl {
  readonly href: string;
}

/**
 * What `init()` accepts: anything `initSync` accepts, a URL (string or object) to fetch, a fetch
 * `Response`, or a promise of a module, bytes or response.
 */
export type AsyncWasmSource =
  | WasmSource
  | WasmUrl
  | string
  | WasmResponse
  | PromiseLike<WasmSource | WasmResponse>;

interface Loader {
  /** Where a synchronous first use gets the module; absent where only `await init()` works. */
  sync?: () => WasmSource;
  /** Where `init()` without an argument gets the module. */
  async: () => AsyncWasmSource;
  /** Says how to initialise where `sync` is absent, or what to check when loading fails. */
  hint: string;
}

let loader: Loader | undefined;
let ready = false;
let pending: Promise<void> | undefined;

/** Called once by each runtime entry at import: registers, loads nothing. */
export function setLoader(next: Loader): void {
  loader = next;
}

function loadFailure(error: unknown, hint?: string): LoadError {
  if (error instanceof LoadError) {
    return error;
  }
  const message = error instanceof Error ? error.message : describe(error);
  return new LoadError(
    `beryl-presence could not load its wasm module: ${message}${hint === undefined ? "" : ` (${hint})`}`,
    { cause: error },
  );
}

/** Instantiates the module now if it is not yet, or explains why it cannot. */
export function ensureReady(): void {
  checkHealthy();
  if (ready) {
    return;
  }
  const sync = loader?.sync;
  if (sync === undefined) {
    throw new UsageError(
      "not_initialized",
      `beryl-presence is not initialised yet: ${loader?.hint ?? "await init() first"}`,
    );
  }
  let source: WasmSource;
  try {
    source = sync();
  } catch (error) {
    throw loadFailure(error, loader?.hint);
  }
  instantiate(source);
}

/** The one place an instance is made; a no-op once one exists. */
function instantiate(source: WasmSource): void {
  if (ready) {
    return;
  }
  try {
    glueInitSync({ module: source as WebAssembly.Module | BufferSource });
  } catch (error) {
    // A trap while starting is the instance failing (and poisons it); anything else is a
    // source that is not this package's module.
    throw typeof WebAssembly !== "undefined" && error instanceof WebAssembly.RuntimeError
      ? translate(error)
      : loadFailure(error);
  }
  ready = true;
}

/**
 * Instantiates the module synchronously from a compiled module or the `.wasm` bytes. Does
 * nothing once the module is instantiated (by an earlier call, `init()` or a first use).
 */
export function initSync(source: WasmSource): void {
  checkHealthy();
  instantiate(source);
}

// Not a type guard: `WebAssembly.Module` is an empty interface, so its negation would be never.
function isWasmModule(value: unknown): boolean {
  return typeof WebAssembly !== "undefined" && value instanceof WebAssembly.Module;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function isResponse(value: unknown): value is WasmResponse {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { arrayBuffer?: unknown }).arrayBuffer === "function" &&
    typeof (value as { ok?: unknown }).ok === "boolean"
  );
}

/** Fetches and compiles what `init()` was given, without instantiating it. */
async function compile(source: unknown): Promise<WebAssembly.Module> {
  let value: unknown = isThenable(source) ? await source : source;
  if (isWasmModule(value)) {
    return value as WebAssembly.Module;
  }
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return WebAssembly.compile(value as BufferSource);
  }
  if (typeof value === "string") {
    value = await fetch(value);
  } else if (typeof value === "object" && value !== null && "href" in value && !isResponse(value)) {
    value = await fetch(String((value as WasmUrl).href));
  }
  if (isResponse(value)) {
    if (!value.ok) {
      throw new Error(`fetching ${value.url} failed: ${value.status} ${value.statusText}`);
    }
    const mime = value.headers.get("content-type")?.split(";")[0]?.trim();
    if (
      mime === "application/wasm" &&
      typeof WebAssembly.compileStreaming === "function" &&
      typeof Response === "function" &&
      value instanceof Response
    ) {
      return WebAssembly.compileStreaming(value);
    }
    return WebAssembly.compile(await value.arrayBuffer());
  }
  throw new TypeError(
    "init(source) takes a WebAssembly.Module, the .wasm bytes, a URL, a fetch Response, or a promise of one",
  );
}

/**
 * Loads and compiles the module, then instantiates it; resolves when states can be created.
 * Needed before the first state in browsers; elsewhere optional. Calls made while one is
 * pending share it, and once the module is instantiated (by any path) it resolves at once:
 * the first instance is the only one, and a later `source` is not used.
 */
export function init(source?: AsyncWasmSource): Promise<void> {
  try {
    checkHealthy();
  } catch (error) {
    return Promise.reject(error);
  }
  if (ready) {
    return Promise.resolve();
  }
  if (pending === undefined) {
    let chosen: AsyncWasmSource | undefined;
    try {
      chosen = source ?? loader?.async();
    } catch (error) {
      return Promise.reject(loadFailure(error, loader?.hint));
    }
    if (chosen === undefined) {
      return Promise.reject(
        new UsageError("not_initialized", "no wasm source: pass one to init(source)"),
      );
    }
    const hint = source === undefined ? loader?.hint : undefined;
    const loading = compile(chosen).then(
      (compiled) => {
        // A synchronous first use may have instantiated meanwhile: then this does nothing.
        instantiate(compiled as WasmSource);
      },
      (error: unknown) => {
        throw loadFailure(error, hint);
      },
    );
    pending = loading.then(
      () => {
        pending = undefined;
      },
      (error: unknown) => {
        pending = undefined;
        throw error;
      },
    );
  }
  return pending;
}

/** Whether the module is instantiated. */
export function isReady(): boolean {
  return ready;
}
