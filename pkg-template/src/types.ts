/** Shapes of the values beryl-presence hands out and accepts. */

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object: the default shape of a meta. */
export type JsonObject = { [key: string]: Json };

/** What JSON keeps as it is. */
export type JsonPrimitive = null | boolean | number | string;

/**
 * Every property of `T` is JSON, recursively: `Date`, `Map`, `Set`, functions, `bigint` and
 * `symbol` are refused wherever they appear. Optional (undefined) properties are allowed: they
 * are left out, as `JSON.stringify` does.
 */
export type JsonCompatible<T> = { [K in keyof T]: JsonCompatibleValue<T[K]> };

/**
 * The constraint on a meta type `M` (`M extends JsonMeta<M>`): an object (not a primitive, not
 * an array or other iterable) whose properties are `JsonCompatible`. TypeScript cannot tell a
 * plain object from a class instance that only has data fields; the run-time check in
 * `track`/`update` refuses those too.
 */
export type JsonMeta<M> = object & JsonCompatible<M> & { readonly [Symbol.iterator]?: never };

/** One value inside a meta, as `JsonCompatible` accepts it. */
export type JsonCompatibleValue<V> = V extends Json | undefined
  ? V
  : V extends (...args: never[]) => unknown
    ? never
    : V extends readonly unknown[]
      ? { [I in keyof V]: JsonCompatibleValue<V[I]> }
      : V extends object
        ? JsonCompatible<V>
        : never;

/**
 * The identity of one running instance of a node: its name and an incarnation. The incarnation
 * is a decimal string because it is a 64-bit integer, larger than JS numbers hold exactly.
 */
export interface ReplicaId {
  readonly name: string;
  readonly incarnation: string;
}

/**
 * One tracked connection as readers and diffs see it: frozen, down to its meta (a
 * `PresenceState` hands the same object out again to later reads).
 */
export interface Presence<M extends object = JsonObject> {
  readonly topic: string;
  /** Groups the connections of one user (for example a user id). */
  readonly key: string;
  /** One connection of the key (for example a socket id). */
  readonly pid: string;
  readonly meta: M;
  /** Unique per tracked entry and identical on every node that holds it. */
  readonly phxRef: string;
  /** For an entry created by `update`, the `phxRef` of the entry it replaced. */
  readonly phxRefPrev: string | null;
  /** The replica that owns the entry: the only one that may update or remove it. */
  readonly replica: ReplicaId;
}

/**
 * What one call changed: presences that became visible and those that stopped being visible,
 * ordered by topic. An update shows as the old presence in `leaves` and the new one (whose
 * `phxRefPrev` names the old one) in `joins`. Diffs the package returns are frozen, down to
 * their metas (so `encodeDiff` can send each meta's exact text): copy one to change it.
 */
export interface Diff<M extends object = JsonObject> {
  readonly joins: readonly Presence<M>[];
  readonly leaves: readonly Presence<M>[];
}

/** The presences of one key in a topic, one per connection, ordered by creation. */
export interface KeyPresences<M extends object = JsonObject> {
  readonly key: string;
  readonly presences: Presence<M>[];
}

/** The result of `track` and `update`. */
export interface Tracked<M extends object = JsonObject> {
  /** The `phx_ref` of the new entry. */
  readonly phxRef: string;
  readonly diff: Diff<M>;
}

/** What a state believes about a replica. */
export type ReplicaStatus = "up" | "down" | "removed";

/** A known replica (the newest incarnation of its name) and its status. */
export interface ReplicaRecord {
  readonly replica: ReplicaId;
  readonly status: ReplicaStatus;
}

/** Bounds on what a state accepts, locally and from the network. Missing fields keep defaults. */
export interface Limits {
  /** Longest topic in bytes (default 1024). */
  maxTopicBytes?: number;
  /** Longest key in bytes (default 1024, at most 65535). */
  maxKeyBytes?: number;
  /** Longest pid in bytes (default 1024, at most 65535). */
  maxPidBytes?: number;
  /** Largest meta in bytes of JSON text (default 16384). */
  maxMetaBytes?: number;
  /** Deepest nesting inside a meta; the meta object itself is depth 1 (default 16). */
  maxMetaDepth?: number;
}

/** Options of `new PresenceState(name, options)`. */
export interface PresenceStateOptions {
  /**
   * The incarnation, as a decimal string of a 64-bit integer. A restarted node must use a
   * larger one than before. Default: the current time in milliseconds and 16 random bits,
   * drawn when the state is created.
   */
  incarnation?: string;
  limits?: Limits;
}

/** How replication messages are encoded: compact binary, or JSON text. */
export type MessageFormat = "binary" | "json";

/** A replication message as it travels: binary bytes or JSON text. */
export type EncodedMessage = Uint8Array | string;

/** Called with every non-empty diff a state produces, after the call that produced it returned. */
export type DiffHandler<M extends object = JsonObject> = (diff: Diff<M>) => void;

/**
 * Timing and size settings of a `SyncNode`; missing fields keep the defaults, which are those
 * of the native servers. Times are milliseconds. Settings that cannot work together (a down
 * period shorter than two heartbeat periods, a permanent-down period shorter than the down
 * period) are refused with a `UsageError`.
 */
export interface SyncConfig {
  /** How often local changes go out, as one delta per interval (default 1500). */
  broadcastIntervalMs?: number;
  /** With nothing to send, a heartbeat goes out every this many intervals (default 1). */
  heartbeatEvery?: number;
  /** A peer silent this long is marked down and its presences hidden (default 30000). */
  downPeriodMs?: number;
  /** A peer silent this long is removed for good (default 1200000, 20 minutes). */
  permanentDownPeriodMs?: number;
  /** Shortest time between two state requests, or two replies, to one peer (default 3000). */
  repairBackoffMs?: number;
  /** How many recent own changes (in dots) are kept to catch a peer up (default 4096). */
  catchUpLimit?: number;
  /** The most out-of-order ranges a repair may carry before a full one is sent (default 10000). */
  repairRangeLimit?: number;
}

/** Options of `new SyncNode(name, options)`. */
export interface SyncNodeOptions {
  /** The time now, in milliseconds, on the clock every later call will use. */
  now: number;
  /**
   * The incarnation, as a decimal string of a 64-bit integer; a restarted node must use a
   * larger one. Default: `Date.now()` and 16 random bits, drawn when the node is created.
   */
  incarnation?: string;
  config?: SyncConfig;
  limits?: Limits;
}

/** A message a `SyncNode` wants sent, in binary. */
export interface BinaryTransmit {
  /** The name of the one replica it is for; `null` for every peer. */
  readonly to: string | null;
  readonly bytes: Uint8Array;
}

/** A message a `SyncNode` wants sent, as JSON text. */
export interface JsonTransmit {
  /** The name of the one replica it is for; `null` for every peer. */
  readonly to: string | null;
  readonly text: string;
}

/** Presences became visible or invisible (a local change, a merge, or a peer's liveness). */
export interface DiffEvent<M extends object = JsonObject> {
  readonly type: "diff";
  readonly diff: Diff<M>;
}

/**
 * This node's verdict about a peer changed: `down` (silent for the down period), `up` (heard
 * again), `removed` (gone for good: goodbye, permanent-down period, newer incarnation).
 */
export interface PeerEvent {
  readonly type: "peer";
  readonly replica: ReplicaId;
  readonly status: ReplicaStatus;
}

/** What `SyncNode.pollEvent` reports, in the order it happened. */
export type SyncEvent<M extends object = JsonObject> = DiffEvent<M> | PeerEvent;

/** A peer a `SyncNode` knows. */
export interface PeerInfo {
  readonly replica: ReplicaId;
  /** Whether it is marked down. */
  readonly down: boolean;
  /** When it was last heard, in milliseconds. */
  readonly lastHeard: number;
}
