/**
 * `SyncNode`: a full replica that replicates exactly as the beryl servers do, driven by its
 * host. It is sans-I/O: it reads no clock, sets no timer and opens no socket. The host passes
 * the time to `tick` and `receive`, sends what `pollTransmit` hands out, and reads what changed
 * from `pollEvent`.
 */
import { RawSyncEngine } from "../wasm/beryl_wasm.js";
import { UsageError } from "./errors.js";
import { ensureReady } from "./runtime.js";
import {
  call,
  checkStrings,
  diffInput,
  disposeSymbol,
  forgetPresences,
  messageInput,
  metaText,
  newIncarnation,
  newPresenceCache,
  parseDiff,
  readList,
  readPresenceList,
  requireReplica,
  requireString,
  wantsJson,
  type JsonText,
} from "./state.js";
import type {
  BinaryTransmit,
  Diff,
  DiffEvent,
  EncodedMessage,
  JsonMeta,
  JsonObject,
  JsonTransmit,
  KeyPresences,
  MessageFormat,
  PeerInfo,
  Presence,
  ReplicaId,
  ReplicaRecord,
  ReplicaStatus,
  SyncEvent,
  SyncNodeOptions,
  Tracked,
} from "./types.js";

/** How the wasm side opens a diff event; the diff's own text follows, then a closing brace. */
const DIFF_EVENT_PREFIX = '{"type":"diff","diff":';

function requireTime(now: unknown): number {
  if (typeof now !== "number") {
    throw new UsageError(
      "invalid_argument",
      `now must be a number of milliseconds, got ${typeof now}`,
    );
  }
  return now;
}

/**
 * One replica running the replication protocol of the beryl servers: its local presences
 * (`track`, `update`, `untrack`) go out as one delta per broadcast interval, an idle node sends
 * heartbeat digests, removals are sealed so a peer that missed one still repairs it, a peer
 * that fell behind is caught up, and a silent peer is marked down, then removed.
 *
 * Drive it like this: after creating it and after every call that changes it (`track`...,
 * `tick`, `receive`, `stop`), drain `pollTransmit()` (send each message: to every peer when
 * `to` is `null`, else to the replica of that name) and `pollEvent()` (diffs and peer verdicts,
 * in order); call `tick(now)` when `nextTimeout()` is reached. Times are milliseconds on one
 * clock of the host's choice (`Date.now()`, `performance.now()`, or a simulated one).
 *
 * Nothing calls back into the host, so the host may call the node while handling any event.
 */
export class SyncNode<M extends JsonMeta<M> = JsonObject> {
  #raw: RawSyncEngine | undefined;
  /** The presences reads hand out again (see `PresenceCache` in state.ts). */
  #presences = newPresenceCache();
  #replica: ReplicaId;

  /**
   * Creates the node of replica `name` at time `options.now`. It queues a heartbeat at once so
   * peers learn of it. Without `options.incarnation`, one is drawn from `Date.now()` and
   * `crypto.getRandomValues` (pass one to stay deterministic).
   */
  constructor(name: string, options: SyncNodeOptions) {
    requireString("name", name);
    if (typeof options !== "object" || options === null) {
      throw new UsageError("invalid_argument", "options { now, ... } are required");
    }
    const now = requireTime(options.now);
    ensureReady();
    const incarnation =
      options.incarnation === undefined
        ? newIncarnation()
        : requireString("options.incarnation", options.incarnation);
    const config = options.config === undefined ? "" : JSON.stringify(options.config);
    const limits = options.limits === undefined ? "" : JSON.stringify(options.limits);
    this.#raw = call(() => new RawSyncEngine(name, incarnation, config, limits, now));
    this.#replica = Object.freeze({ name, incarnation });
  }

  #engine(): RawSyncEngine {
    if (this.#raw === undefined) {
      throw new UsageError("freed", "this SyncNode was freed; create a new one");
    }
    ensureReady();
    return this.#raw;
  }

  #diff(text: string): Diff<M> {
    const diff = parseDiff<M>(text);
    forgetPresences(this.#presences, diff.leaves);
    return diff;
  }

  #tracked(text: string): Tracked<M> {
    const diff = this.#diff(text);
    return { phxRef: diff.joins[diff.joins.length - 1]?.phxRef ?? "", diff };
  }

  /** This node's replica. */
  get replica(): ReplicaId {
    return this.#replica;
  }

  /**
   * Tracks the connection `pid` of `key` in `topic` with `meta`; it reaches peers with the next
   * broadcast. The diff is returned and also reported by `pollEvent`. Throws
   * `AlreadyTrackedError` if this node already tracks that (topic, key, pid).
   */
  track(topic: string, key: string, pid: string, meta?: M | JsonText): Tracked<M> {
    const engine = this.#engine();
    checkStrings(topic, key, pid);
    const text = metaText(meta);
    return this.#tracked(call(() => engine.track(topic, key, pid, text)));
  }

  /** Replaces the meta of a tracked connection (see `PresenceState.update`). */
  update(topic: string, key: string, pid: string, meta: M | JsonText): Tracked<M> {
    const engine = this.#engine();
    checkStrings(topic, key, pid);
    const text = metaText(meta);
    return this.#tracked(call(() => engine.update(topic, key, pid, text)));
  }

  /** Stops tracking a connection; an empty diff if this node does not track it. */
  untrack(topic: string, key: string, pid: string): Diff<M> {
    const engine = this.#engine();
    checkStrings(topic, key, pid);
    return this.#diff(call(() => engine.untrack(topic, key, pid)));
  }

  /** Stops tracking every connection of `pid` in every topic (for a disconnect). */
  untrackAll(pid: string): Diff<M> {
    const engine = this.#engine();
    checkStrings(pid);
    return this.#diff(call(() => engine.untrackAll(pid)));
  }

  /**
   * Advances the node's clock to `now`: peers silent too long are marked down or removed,
   * deferred repairs go out, and the broadcast is made when its interval is due.
   */
  tick(now: number): void {
    const engine = this.#engine();
    const time = requireTime(now);
    call(() => engine.tick(time));
  }

  /**
   * Handles a message from a peer (binary `Uint8Array` or JSON string) that arrived at `now`.
   * Throws `DecodeError`, changing nothing, if it is not a valid beryl message. Messages from
   * this node's own name, for another replica, or from a stale incarnation are ignored.
   */
  receive(now: number, message: EncodedMessage | ArrayBuffer): void {
    const engine = this.#engine();
    const time = requireTime(now);
    const input = messageInput(message);
    call(() =>
      typeof input === "string"
        ? engine.receiveJson(time, input)
        : engine.receiveBinary(time, input),
    );
  }

  /**
   * The next message to send, or `null` when none is pending. `to` is `null` for a message to
   * every peer, else the name of the one replica it is for.
   */
  pollTransmit(): BinaryTransmit | null;
  pollTransmit(format: "binary"): BinaryTransmit | null;
  pollTransmit(format: "json"): JsonTransmit | null;
  pollTransmit(format: MessageFormat): BinaryTransmit | JsonTransmit | null;
  pollTransmit(format?: MessageFormat): BinaryTransmit | JsonTransmit | null {
    const engine = this.#engine();
    const json = wantsJson(format);
    const next = call(() => engine.pollTransmit(json)) as
      | [string | null, EncodedMessage]
      | undefined;
    if (next === undefined) {
      return null;
    }
    const [to, message] = next;
    return typeof message === "string" ? { to, text: message } : { to, bytes: message };
  }

  /**
   * The next event, or `null`: `{ type: "diff", diff }` when presences became visible or
   * invisible (local changes included), `{ type: "peer", replica, status }` when this node's
   * verdict about a peer changed. Events come in the order they happened.
   */
  pollEvent(): SyncEvent<M> | null {
    const engine = this.#engine();
    const text = call(() => engine.pollEvent());
    if (text === undefined) {
      return null;
    }
    if (text.startsWith(DIFF_EVENT_PREFIX)) {
      const event: DiffEvent<M> = {
        type: "diff",
        diff: this.#diff(text.slice(DIFF_EVENT_PREFIX.length, -1)),
      };
      return Object.freeze(event);
    }
    return JSON.parse(text) as SyncEvent<M>;
  }

  /** When `tick` must be called next (milliseconds on the node's clock); `null` once stopped. */
  nextTimeout(): number | null {
    const engine = this.#engine();
    return call(() => engine.nextTimeout()) ?? null;
  }

  /**
   * Leaves gracefully: queues a goodbye (peers remove this node's presences at once); ticks and
   * messages are ignored afterwards. Send the goodbye before freeing the node.
   */
  stop(): void {
    const engine = this.#engine();
    call(() => engine.stop());
  }

  /** Whether `stop` was called. */
  get stopped(): boolean {
    return this.#engine().isStopped();
  }

  /** The peers this node knows (heard recently enough not to be removed), by replica. */
  peers(): PeerInfo[] {
    const engine = this.#engine();
    return JSON.parse(call(() => engine.peers())) as PeerInfo[];
  }

  /**
   * The visible presences of `topic`, grouped by key (keys sorted): fresh arrays and groups of
   * frozen presences, the objects earlier reads returned for them.
   */
  list(topic: string): KeyPresences<M>[] {
    const engine = this.#engine();
    checkStrings(topic);
    return readList<M>(call(() => engine.list(topic)), engine.words(), this.#presences);
  }

  /** The visible presences of `key` in `topic`: a fresh array of frozen presences. */
  getByKey(topic: string, key: string): Presence<M>[] {
    const engine = this.#engine();
    checkStrings(topic, key);
    return readPresenceList<M>(call(() => engine.getByKey(topic, key)), engine.words(), this.#presences);
  }

  /** Topics with at least one visible presence, sorted. */
  topics(): string[] {
    const engine = this.#engine();
    return JSON.parse(call(() => engine.topics())) as string[];
  }

  /** How many presences are visible, in all topics. */
  get size(): number {
    return this.#engine().size();
  }

  /** How many presences of `topic` are visible. */
  topicSize(topic: string): number {
    const engine = this.#engine();
    checkStrings(topic);
    return call(() => engine.topicSize(topic));
  }

  /** Every replica the state knows (the newest incarnation of each name) with its status. */
  replicas(): ReplicaRecord[] {
    const engine = this.#engine();
    return JSON.parse(call(() => engine.replicas())) as ReplicaRecord[];
  }

  /** What this node believes about `replica`; `null` if unknown or superseded. */
  replicaStatus(replica: ReplicaId): ReplicaStatus | null {
    const engine = this.#engine();
    const { name, incarnation } = requireReplica(replica);
    return (call(() => engine.replicaStatus(name, incarnation)) as ReplicaStatus | undefined) ?? null;
  }

  /** The Phoenix `presence_state` payload of `topic` (JSON text). */
  presenceState(topic: string): string {
    const engine = this.#engine();
    checkStrings(topic);
    return call(() => engine.presenceState(topic));
  }

  /** The Phoenix `presence_diff` payload of `topic`'s part of `diff` (see `PresenceState`). */
  encodeDiff(diff: Diff<M> | readonly Diff<M>[], topic: string): string {
    const engine = this.#engine();
    requireString("topic", topic);
    const text = diffInput(diff);
    return call(() => engine.encodeDiff(text, topic));
  }

  /**
   * Releases the wasm memory of this node now, without a goodbye (peers time it out, as after
   * a crash); later calls throw a `UsageError`.
   */
  free(): void {
    const raw = this.#raw;
    this.#raw = undefined;
    this.#presences = newPresenceCache();
    raw?.free();
  }

  /** Same as `free()`, for `using node = new SyncNode(...)`. */
  [Symbol.dispose](): void {
    this.free();
  }
}

if (disposeSymbol !== Symbol.dispose) {
  Object.defineProperty(SyncNode.prototype, disposeSymbol, {
    value: SyncNode.prototype.free,
    writable: true,
    configurable: true,
  });
}
