/** What every runtime entry exports. */
export { JsonText, PresenceState, incarnationFrom, newIncarnation } from "./state.js";
export { SyncNode } from "./sync.js";
export {
  AlreadyTrackedError,
  BerylError,
  DecodeError,
  InternalError,
  InvalidInputError,
  LoadError,
  NotTrackedError,
  UsageError,
} from "./errors.js";
export type { BerylErrorCode } from "./errors.js";
export { init, initSync, isReady } from "./runtime.js";
export type {
  AsyncWasmSource,
  WasmBytes,
  WasmModule,
  WasmResponse,
  WasmSource,
  WasmUrl,
} from "./runtime.js";
export type * from "./types.js";
