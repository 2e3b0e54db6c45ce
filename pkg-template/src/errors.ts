/**
 * The errors beryl-presence throws. Every one is a `BerylError`; `DecodeError` means a message
 * from the network could not be decoded (drop it, log it), `UsageError` and its subclasses mean
 * the call itself was wrong (fix the caller), `LoadError` means the wasm module could not be
 * loaded (fix the source, call `init()` again), `InternalError` means the package failed in a
 * way it does not expect (the wasm instance trapped, or a bug; `cause` holds what was thrown).
 */

/** Machine-readable reason carried by every `BerylError`. */
export type BerylErrorCode =
  | "decode"
  | "invalid_input"
  | "already_tracked"
  | "not_tracked"
  | "local_replica"
  | "invalid_argument"
  | "not_initialized"
  | "freed"
  | "load"
  | "internal";

/** The base class of every error this package throws. */
export class BerylError extends Error {
  /** Why the call failed. */
  readonly code: BerylErrorCode;

  constructor(code: BerylErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A replication message could not be decoded; the state is unchanged. */
export class DecodeError extends BerylError {
  /** The decoder's refusal, for programs: `"BadMagic"`, `"Truncated"`, `"TooDeep"`... */
  readonly reason: string;

  constructor(message: string, reason = "Invalid", options?: { cause?: unknown }) {
    super("decode", message, options);
    this.reason = reason;
  }
}

/** The call was wrong: a bad argument, a freed state, a missing `init()`. */
export class UsageError extends BerylError {}

/** A topic, key, pid or meta was refused: too long, too deep, not a JSON object, reserved key. */
export class InvalidInputError extends UsageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid_input", message, options);
  }
}

/** `track` of a (topic, key, pid) this replica already tracks: call `update` instead. */
export class AlreadyTrackedError extends UsageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("already_tracked", message, options);
  }
}

/** `update` of a (topic, key, pid) this replica does not track: `track` it first. */
export class NotTrackedError extends UsageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("not_tracked", message, options);
  }
}

/**
 * The wasm module could not be loaded or instantiated (a failed fetch, an unreadable file, bytes
 * that are not this package's module); nothing was instantiated, so `init()` may be retried.
 */
export class LoadError extends BerylError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("load", message, options);
  }
}

/**
 * The package failed in a way it does not expect; `cause` holds what was thrown. When the wasm
 * instance trapped, it can no longer be used and every later call fails with this error too.
 */
export class InternalError extends BerylError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("internal", message, options);
  }
}

let poisonedBy: unknown = undefined;
let poisoned = false;

/** Throws if an earlier call left the wasm instance unusable. */
export function checkHealthy(): void {
  if (poisoned) {
    throw new InternalError(
      "the beryl-presence wasm instance failed earlier and can no longer be used; reload the module",
      { cause: poisonedBy },
    );
  }
}

/** Turns what the wasm side threw into the matching `BerylError`, keeping it as the cause. */
export function translate(error: unknown): BerylError {
  if (error instanceof BerylError) {
    return error;
  }
  if (typeof WebAssembly !== "undefined" && error instanceof WebAssembly.RuntimeError) {
    poisoned = true;
    poisonedBy = error;
    return new InternalError(`the beryl-presence wasm instance failed: ${error.message}`, {
      cause: error,
    });
  }
  if (error instanceof Error) {
    const message = error.message;
    const options = { cause: error };
    switch (error.name) {
      case "BerylDecodeError": {
        const reason = (error as { reason?: unknown }).reason;
        return new DecodeError(message, typeof reason === "string" ? reason : undefined, options);
      }
      case "BerylInvalidInputError":
        return new InvalidInputError(message, options);
      case "BerylAlreadyTrackedError":
        return new AlreadyTrackedError(message, options);
      case "BerylNotTrackedError":
        return new NotTrackedError(message, options);
      case "BerylLocalReplicaError":
        return new UsageError("local_replica", message, options);
      case "BerylInvalidArgumentError":
        return new UsageError("invalid_argument", message, options);
      default:
        return new InternalError(`unexpected error in beryl-presence: ${error.name}: ${message}`, options);
    }
  }
  return new InternalError(`unexpected error in beryl-presence: ${describe(error)}`, {
    cause: error,
  });
}

/** `String(value)`, for values whose conversion throws too. */
export function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
