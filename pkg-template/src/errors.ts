/**
 * The errors beryl-presence throws. Every one is a `BerylError`; `DecodeError` means a message
 * from the network could not be decoded (drop it, log it), `UsageError` and its subclasses mean
 * the call itself was wrong (fix the caller), `InternalError` means the wasm instance failed
 * and is no longer usable.
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

/** The wasm instance trapped; every later call fails with this error too. */
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

/** Turns what the wasm side threw into the matching `BerylError`. */
export function translate(error: unknown): unknown {
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
    switch (error.name) {
      case "BerylDecodeError": {
        const reason = (error as { reason?: unknown }).reason;
        return new DecodeError(message, typeof reason === "string" ? reason : undefined);
      }
      case "BerylInvalidInputError":
        return new InvalidInputError(message);
      case "BerylAlreadyTrackedError":
        return new AlreadyTrackedError(message);
      case "BerylNotTrackedError":
        return new NotTrackedError(message);
      case "BerylLocalReplicaError":
        return new UsageError("local_replica", message);
      case "BerylInvalidArgumentError":
        return new UsageError("invalid_argument", message);
      default:
        return error;
    }
  }
  return error;
}
