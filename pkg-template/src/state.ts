/** `PresenceState`: one replica's presence state, the same core the beryl servers run. */
import { RawPresenceState, incarnationFromParts } from "../wasm/beryl_wasm.js";
import { BerylError, UsageError, describe, translate } from "./errors.js";
import { ensureReady } from "./runtime.js";
import type {
  Diff,
  DiffHandler,
  EncodedMessage,
  JsonMeta,
  JsonObject,
  KeyPresences,
  MessageFormat,
  Presence,
  PresenceStateOptions,
  ReplicaId,
  ReplicaRecord,
  ReplicaStatus,
  Tracked,
} from "./types.js";

/**
 * The JSON text each returned diff was parsed from, so `encodeDiff` hands the metas back exactly
 * as they were tracked. Returned diffs are frozen (deeply), so the text always matches the
 * object; any other object (a copy, a diff built by hand) is serialised with `JSON.stringify`.
 */
const diffText = new WeakMap<object, string | (() => string)>();

/** Freezes a JSON object or array and everything in it. */
function freezeJson(value: object): void {
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const item: unknown = value[index];
      if (typeof item === "object" && item !== null) freezeJson(item);
    }
  } else {
    for (const key in value) {
      const item: unknown = (value as Record<string, unknown>)[key];
      if (typeof item === "object" && item !== null) freezeJson(item);
    }
  }
}

/** Freezes each presence, with its meta and replica (not the array holding them). */
function freezeEach(presences: readonly { meta: unknown; replica: object }[]): void {
  for (let index = 0; index < presences.length; index += 1) {
    const presence = presences[index]!;
    Object.freeze(presence.replica);
    if (typeof presence.meta === "object" && presence.meta !== null) freezeJson(presence.meta);
    Object.freeze(presence);
  }
}

function freezePresences(presences: readonly { meta: unknown; replica: object }[]): void {
  freezeEach(presences);
  Object.freeze(presences);
}

/** A diff from its JSON text: parsed, frozen, and remembered for `encodeDiff`. */
export function parseDiff<M extends object>(text: string): Diff<M> {
  const diff = JSON.parse(text) as Diff<M>;
  freezePresences(diff.joins);
  freezePresences(diff.leaves);
  Object.freeze(diff);
  diffText.set(diff, text);
  return diff;
}

/** Presences' JSON for `encodeDiff`: each meta as the exact text given, the rest as it is. */
function presencesJson(presences: readonly Presence<object>[], metaTexts: readonly string[]): string {
  let out = "";
  for (let index = 0; index < presences.length; index += 1) {
    const { meta: _, ...rest } = presences[index]!;
    out += `${index > 0 ? "," : ""}{"meta":${metaTexts[index]!},${JSON.stringify(rest).slice(1)}`;
  }
  return `[${out}]`;
}

// The flags of a presence in the compact form (wasm/src/compact.rs): which fields it writes.
const TOPIC = 1;
const KEY = 2;
const REF_PREV = 4;
const REPLICA = 8;
const CANONICAL = 16;
const BIG_COUNTER = 32;

/**
 * Presences reads built, which later reads (and diffs, for the presences they take away) hand
 * out again instead of building them anew: a dot's presence never changes (an update makes a
 * new dot), so an entry is never stale, and the objects are frozen. Keyed by replica (`name`
 * NUL `incarnation`), then by dot counter; an entry goes when its presence leaves, and the
 * whole cache (replicas too) when it holds `PRESENCE_CACHE_MAX` presences.
 */
export interface PresenceCache {
  readonly replicas: Map<string, CachedReplica>;
  size: number;
}

interface CachedReplica {
  /** Its key in `PresenceCache.replicas`. */
  readonly key: string;
  /** The frozen replica object every presence of the replica shares. */
  readonly id: ReplicaId;
  readonly presences: Map<number, Presence<object>>;
}

const PRESENCE_CACHE_MAX = 32_768;

export function newPresenceCache(): PresenceCache {
  return { replicas: new Map(), size: 0 };
}

function cachedReplica(cache: PresenceCache, name: string, incarnation: string): CachedReplica {
  const key = `${name}\u0000${incarnation}`;
  let replica = cache.replicas.get(key);
  if (replica === undefined) {
    replica = { key, id: Object.freeze({ name, incarnation }), presences: new Map() };
    cache.replicas.set(key, replica);
  }
  return replica;
}

/** Keeps `presence` (frozen, of dot `counter`) for later reads. */
function remember(cache: PresenceCache, replica: CachedReplica, counter: number, presence: Presence<object>): void {
  if (cache.size >= PRESENCE_CACHE_MAX) {
    // Replicas go too (so replicas that left do not pile up), except the one being read.
    cache.replicas.clear();
    replica.presences.clear();
    cache.replicas.set(replica.key, replica);
    cache.size = 0;
  }
  replica.presences.set(counter, presence);
  cache.size += 1;
}

/** The counter of a presence's dot: the digits after the last dot of its `phxRef`. */
function counterOf(presence: Presence<object>): number {
  return Number(presence.phxRef.slice(presence.phxRef.lastIndexOf(".") + 1));
}

/** Forgets the presences that left. */
export function forgetPresences(cache: PresenceCache, leaves: readonly Presence<object>[]): void {
  if (cache.size === 0) return;
  for (let index = 0; index < leaves.length; index += 1) {
    const presence = leaves[index]!;
    const { name, incarnation } = presence.replica;
    const replica = cache.replicas.get(`${name}\u0000${incarnation}`);
    if (replica?.presences.delete(counterOf(presence)) === true) cache.size -= 1;
  }
}

/**
 * Presences from the compact form the wasm side writes lists and diffs in: `text` holds their
 * strings one after the other (a topic, key or replica left out when it equals the previous
 * presence's), then the metas as one JSON array; `words` says which fields each presence writes
 * and where each ends. A presence found in `cache` is handed out as it is (its strings are not
 * even sliced); the others are built, frozen with their metas (the metas' array goes through
 * `JSON.parse` once, when the first of them is needed), and cached when `keep`. Presences of
 * one replica share one frozen replica object.
 *
 * `cursor.exact` is set when a meta's text is not the one a JS round trip gives (so
 * `encodeDiff` must be handed that text). `groups`, when given, gets the presences grouped by
 * key (each group's first presence writes its key). Reads `count` presences from word `at` on,
 * continuing the text at `cursor.pos`; leaves `cursor.pos` and `cursor.at` after them.
 */
function readPresences<M extends object>(
  text: string,
  words: Uint32Array,
  cursor: Cursor,
  count: number,
  groups: KeyPresences<M>[] | null,
  cache: PresenceCache,
  keep: boolean,
): Presence<M>[] {
  const out: Presence<M>[] = [];
  let { pos, at, meta: metaIndex } = cursor;
  let metas = cursor.metas as M[] | undefined;
  let exact = false;
  let topic = "";
  let key = "";
  let replica: CachedReplica | undefined;
  let group: Presence<M>[] = [];
  for (let index = 0; index < count; index += 1, metaIndex += 1) {
    // The fields follow one another in the text: each starts where the previous one ended.
    const flags = words[at++]!;
    const start = pos;
    const topicEnd = (flags & TOPIC) !== 0 ? words[at++]! : start;
    const keyEnd = (flags & KEY) !== 0 ? words[at++]! : topicEnd;
    const pidEnd = words[at++]!;
    const refEnd = words[at++]!;
    const prevEnd = (flags & REF_PREV) !== 0 ? words[at++]! : refEnd;
    pos = prevEnd;
    if ((flags & REPLICA) !== 0) {
      const nameEnd = words[at++]!;
      pos = words[at++]!;
      replica = cachedReplica(cache, text.slice(prevEnd, nameEnd), text.slice(nameEnd, pos));
    }
    at += 1; // The meta's end, for metaTexts.
    const counter = words[at++]!;
    if ((flags & CANONICAL) === 0) exact = true;
    const cacheable = (flags & BIG_COUNTER) === 0;
    let presence = cacheable ? (replica!.presences.get(counter) as Presence<M> | undefined) : undefined;
    if (presence !== undefined) {
      // Fields left out of the next presences are this one's.
      topic = presence.topic;
      key = presence.key;
    } else {
      if ((flags & TOPIC) !== 0) topic = text.slice(start, topicEnd);
      if ((flags & KEY) !== 0) key = text.slice(topicEnd, keyEnd);
      metas ??= JSON.parse(text.slice(words[1]!)) as M[];
      const meta = metas[metaIndex]!;
      freezeJson(meta);
      presence = Object.freeze({
        topic,
        key,
        pid: text.slice(keyEnd, pidEnd),
        meta,
        phxRef: text.slice(pidEnd, refEnd),
        phxRefPrev: (flags & REF_PREV) !== 0 ? text.slice(refEnd, prevEnd) : null,
        replica: replica!.id,
      });
      if (keep && cacheable) remember(cache, replica!, counter, presence);
    }
    out.push(presence);
    if (groups !== null) {
      if ((flags & KEY) !== 0) {
        group = [];
        groups.push({ key, presences: group });
      }
      group.push(presence);
    }
  }
  cursor.pos = pos;
  cursor.at = at;
  cursor.meta = metaIndex;
  cursor.metas = metas;
  if (exact) cursor.exact = true;
  return out;
}

/**
 * Where reading the compact form is: text index, word index, meta index; any exact meta; the
 * metas' array once parsed.
 */
interface Cursor {
  pos: number;
  at: number;
  meta: number;
  exact: boolean;
  metas?: object[] | undefined;
}

/** The text of every meta of a compact result, in order (`count` presences from word `at`). */
function metaTextsOf(text: string, words: Uint32Array, at: number, count: number): string[] {
  const metasStart = words[1]!;
  const texts: string[] = [];
  let from = 1; // After the array's "[", then after each ",".
  for (let index = 0; index < count; index += 1) {
    const flags = words[at]!;
    at +=
      3 +
      (flags & TOPIC ? 1 : 0) +
      (flags & KEY ? 1 : 0) +
      (flags & REF_PREV ? 1 : 0) +
      (flags & REPLICA ? 2 : 0);
    const end = words[at]!;
    at += 2; // The meta's end and the counter.
    texts.push(text.slice(metasStart + from, metasStart + end));
    from = end + 1;
  }
  return texts;
}

/** A diff from its compact form: frozen, and its metas' texts remembered for `encodeDiff`. */
export function readDiff<M extends object>(text: string, words: Uint32Array, cache: PresenceCache): Diff<M> {
  const count = words[0]!;
  if (count === 0) {
    return Object.freeze({ joins: NO_PRESENCES, leaves: NO_PRESENCES });
  }
  const cursor: Cursor = { pos: 0, at: 3, meta: 0, exact: false };
  const joinCount = words[2]!;
  // A diff takes the presences reads kept (its leaves usually are), and keeps none itself:
  // most joins are never read, and keeping every one costs more than a read builds later.
  const joins = Object.freeze(readPresences<M>(text, words, cursor, joinCount, null, cache, false));
  const leaves = Object.freeze(readPresences<M>(text, words, cursor, count - joinCount, null, cache, false));
  const diff: Diff<M> = Object.freeze({ joins, leaves });
  if (cursor.exact) {
    // Some meta's text is not what JSON.stringify writes: encodeDiff must send that text.
    const metaTexts = metaTextsOf(text, words, 3, count);
    diffText.set(
      diff,
      () =>
        `{"joins":${presencesJson(joins, metaTexts)},"leaves":${presencesJson(leaves, metaTexts.slice(joins.length))}}`,
    );
  }
  return diff;
}

/** A topic's listing from its compact form: fresh groups of frozen (shared) presences. */
export function readList<M extends object>(text: string, words: Uint32Array, cache: PresenceCache): KeyPresences<M>[] {
  const groups: KeyPresences<M>[] = [];
  const count = words[0]!;
  if (count > 0) {
    const cursor: Cursor = { pos: 0, at: 2, meta: 0, exact: false };
    readPresences(text, words, cursor, count, groups, cache, true);
  }
  return groups;
}

/** Presences from their compact form: a fresh array of frozen (shared) presences. */
export function readPresenceList<M extends object>(
  text: string,
  words: Uint32Array,
  cache: PresenceCache,
): Presence<M>[] {
  const count = words[0]!;
  if (count === 0) return [];
  const cursor: Cursor = { pos: 0, at: 2, meta: 0, exact: false };
  return readPresences(text, words, cursor, count, null, cache, true);
}

/** The frozen empty list of presences that diffs without joins or leaves share. */
const NO_PRESENCES: readonly Presence<never>[] = Object.freeze([]);

/**
 * The diff of a track, built here from what the call was given and the ref the wasm side
 * returned (one join, nothing else can change): the same value `parseDiff` would give for the
 * diff's JSON text, without writing and parsing that text for every track.
 */
export function joinDiff<M extends object>(
  topic: string,
  key: string,
  pid: string,
  metaText: string,
  metaValue: object | undefined,
  metaWasText: boolean,
  phxRef: string,
  replica: ReplicaId,
): Diff<M> {
  let meta = metaValue as M | undefined;
  if (meta === undefined) {
    meta = JSON.parse(metaText) as M;
    freezeJson(meta);
  }
  const presence: Presence<M> = Object.freeze({
    topic,
    key,
    pid,
    meta,
    phxRef,
    phxRefPrev: null,
    replica,
  });
  const diff: Diff<M> = Object.freeze({
    joins: Object.freeze([presence]),
    leaves: NO_PRESENCES,
  });
  if (metaWasText) {
    // Text given by the caller may format numbers or spaces its own way: encodeDiff sends the
    // meta exactly as it was tracked. (An object's JSON.stringify text round-trips as it is.)
    diffText.set(diff, () => `{"joins":${presencesJson([presence], [metaText])},"leaves":[]}`);
  }
  return diff;
}

/**
 * Runs `read` over a caller's value; whatever it throws that is not already one of ours (a
 * revoked Proxy, a getter that throws, a circular or BigInt value met by JSON.stringify) becomes
 * a `UsageError` naming `what`, with the original as its cause.
 */
function reading<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof BerylError) throw error;
    throw new UsageError("invalid_argument", `${what} cannot be read: ${describe(error)}`, {
      cause: error,
    });
  }
}

/** The JSON text `encodeDiff` sends to the wasm side for one diff or an array of diffs. */
export function diffInput(diff: unknown): string {
  const textOf = (one: unknown): string => {
    if (typeof one !== "object" || one === null) {
      throw new UsageError("invalid_argument", "encodeDiff expects a diff { joins, leaves } or an array of diffs");
    }
    const text = diffText.get(one);
    return typeof text === "function" ? text() : (text ?? JSON.stringify(one));
  };
  return reading("the diff", () =>
    Array.isArray(diff) ? `[${diff.map(textOf).join(",")}]` : textOf(diff),
  );
}

/**
 * Reports an error thrown by a handler the way `EventTarget` does: to `globalThis.reportError`
 * where the runtime has it (browsers, Deno, workers), else by rethrowing it from a microtask
 * (Node reports it as an uncaught exception). The call that produced the diff is not affected.
 */
export function reportHandlerError(error: unknown): void {
  const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
  if (typeof report === "function") {
    report.call(globalThis, error);
    return;
  }
  queueMicrotask(() => {
    throw error;
  });
}

/** Symbol.dispose where the runtime has it, the well-known fallback TypeScript uses otherwise. */
export const disposeSymbol: typeof Symbol.dispose =
  (Symbol as { dispose?: typeof Symbol.dispose }).dispose ??
  (Symbol.for("Symbol.dispose") as typeof Symbol.dispose);

/** Runs a wasm call, turning what it throws into the matching `BerylError`. */
export function call<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw translate(error);
  }
}

function randomU16(): number {
  const cryptoApi = (globalThis as { crypto?: { getRandomValues?: <T extends Uint16Array>(array: T) => T } })
    .crypto;
  if (cryptoApi?.getRandomValues !== undefined) {
    return cryptoApi.getRandomValues(new Uint16Array(1))[0] ?? 0;
  }
  return Math.floor(Math.random() * 0x10000);
}

/** A fresh incarnation: the current time in milliseconds and 16 random bits. */
export function newIncarnation(): string {
  ensureReady();
  return call(() => incarnationFromParts(Date.now(), randomU16()));
}

/** The incarnation for a start time in Unix milliseconds and a 16-bit random number. */
export function incarnationFrom(unixMillis: number, random: number): string {
  ensureReady();
  return call(() => incarnationFromParts(unixMillis, random));
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` can cross to the wasm side unchanged: a lone surrogate has no UTF-8 form and
 * would arrive as U+FFFD, so two different strings would name the same presence.
 */
function wellFormed(text: string): boolean {
  const native = (text as { isWellFormed?: () => boolean }).isWellFormed;
  return typeof native === "function" ? native.call(text) : !loneSurrogate.test(text);
}

function notWellFormed(what: string): UsageError {
  return new UsageError(
    "invalid_argument",
    `${what} holds a lone surrogate (half of a UTF-16 pair): it has no UTF-8 form; use String.prototype.toWellFormed() first`,
  );
}

export function requireString(what: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new UsageError("invalid_argument", `${what} must be a string, got ${typeof value}`);
  }
  if (!wellFormed(value)) throw notWellFormed(what);
  return value;
}

export function checkStrings(...values: unknown[]): void {
  for (const value of values) {
    if (typeof value === "string" && !wellFormed(value)) {
      throw notWellFormed("a topic, key or pid");
    }
    if (typeof value !== "string") {
      throw new UsageError(
        "invalid_argument",
        `topic, key and pid must be strings, got ${typeof value}`,
      );
    }
  }
}

export function requireReplica(value: unknown): ReplicaId {
  const replica = value as Partial<ReplicaId> | null | undefined;
  if (
    typeof replica !== "object" ||
    replica === null ||
    typeof replica.name !== "string" ||
    typeof replica.incarnation !== "string"
  ) {
    throw new UsageError(
      "invalid_argument",
      "a replica must be an object { name: string, incarnation: string }",
    );
  }
  return replica as ReplicaId;
}

/**
 * A meta given as JSON text, passed through exactly (key order, number forms, whitespace
 * inside) instead of being serialised with `JSON.stringify`. The text must be a JSON object.
 */
export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = requireString("JSON text", text);
  }
}

function article(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? "an" : "a"} ${noun}`;
}

function kindOf(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (typeof value === "number") return String(value);
  if (typeof value !== "object") return article(typeof value);
  const prototype = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
  if (prototype === Object.prototype || prototype === null) {
    return "an object with a toJSON method";
  }
  const name = prototype.constructor?.name;
  return typeof name === "string" && name !== "" ? article(name) : "an object with a prototype";
}

function notJson(path: string, value: unknown): UsageError {
  return new UsageError(
    "invalid_argument",
    `${path} is ${kindOf(value)}: a meta must be a plain object of JSON values (null, booleans, ` +
      "finite numbers, strings, arrays and plain objects); convert it first (a Date to a string " +
      "or number, a Map to an object)",
  );
}

/** Where a meta stops being JSON: the value at fault and its path, innermost segment first. */
interface NonJson {
  readonly segments: string[];
  readonly value: unknown;
  readonly circular: boolean;
}

function nonJson(value: unknown, circular = false): NonJson {
  return { segments: [], value, circular };
}

function keySegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/**
 * The first value in `value` that is not JSON as it is (so that `JSON.stringify` would change it
 * silently), or `undefined`. Paths are only built for a failure: metas are checked on every
 * track and update.
 */
function findNonJson(value: unknown, ancestors: object[]): NonJson | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : nonJson(value);
    case "object": {
      if (value === null) return undefined;
      if (ancestors.includes(value)) return nonJson(value, true);
      ancestors.push(value);
      let found: NonJson | undefined;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) {
          found = nonJson(value);
        } else {
          for (let index = 0; index < value.length && found === undefined; index += 1) {
            const item: unknown = value[index];
            found = item === undefined ? nonJson(item) : findNonJson(item, ancestors);
            found?.segments.push(`[${index}]`);
          }
        }
      } else {
        const prototype: unknown = Object.getPrototypeOf(value);
        if (
          (prototype !== Object.prototype && prototype !== null) ||
          typeof (value as { toJSON?: unknown }).toJSON === "function"
        ) {
          found = nonJson(value);
        } else {
          const record = value as Record<string, unknown>;
          const keys = Object.keys(record);
          for (let index = 0; index < keys.length && found === undefined; index += 1) {
            const key = keys[index]!;
            const item = record[key];
            // An undefined property is left out, as JSON.stringify does (an optional field).
            if (item !== undefined) {
              found = findNonJson(item, ancestors);
              found?.segments.push(keySegment(key));
            }
          }
        }
      }
      ancestors.pop();
      return found;
    }
    default:
      return nonJson(value);
  }
}

/** Throws unless `value` is JSON as it is, naming the first value at fault by its path. */
function checkJson(value: unknown, path: string): void {
  const found = findNonJson(value, []);
  if (found === undefined) return;
  const at = path + found.segments.reverse().join("");
  if (found.circular) {
    throw new UsageError("invalid_argument", `${at} is circular: a meta must be JSON`);
  }
  throw notJson(at, found.value);
}

/** What `frozenCopy` returns for a value that is not JSON as it is. */
const NOT_JSON: unique symbol = Symbol("not JSON");

/** Nesting beyond which `frozenCopy` gives up (a cycle, or a meta the limits refuse anyway). */
const COPY_DEPTH = 64;

/**
 * A frozen copy of `value` equal to `JSON.parse(JSON.stringify(value))`, or `NOT_JSON` where
 * that would change it: the same checks as `findNonJson`, without building paths, in the walk
 * that copies it. A track's diff holds the copy; its JSON text is the copy's, so a getter read
 * twice cannot make the two differ.
 */
function frozenCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      // JSON has no -0: a round trip gives 0.
      return Number.isFinite(value) ? (value === 0 ? 0 : value) : NOT_JSON;
    case "object": {
      if (value === null) return null;
      if (depth > COPY_DEPTH) return NOT_JSON;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return NOT_JSON;
        const out: unknown[] = [];
        for (let index = 0; index < value.length; index += 1) {
          const item: unknown = value[index];
          const copy = item === undefined ? NOT_JSON : frozenCopy(item, depth + 1);
          if (copy === NOT_JSON) return NOT_JSON;
          out.push(copy);
        }
        return Object.freeze(out);
      }
      const prototype: unknown = Object.getPrototypeOf(value);
      if (
        (prototype !== Object.prototype && prototype !== null) ||
        typeof (value as { toJSON?: unknown }).toJSON === "function"
      ) {
        return NOT_JSON;
      }
      const record = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const keys = Object.keys(record);
      for (let index = 0; index < keys.length; index += 1) {
        const key = keys[index]!;
        const item = record[key];
        // An undefined property is left out, as JSON.stringify does.
        if (item === undefined) continue;
        const copy = frozenCopy(item, depth + 1);
        if (copy === NOT_JSON) return NOT_JSON;
        if (key === "__proto__") {
          // As JSON.parse makes it: an own property, not the prototype.
          Object.defineProperty(out, key, { value: copy, enumerable: true, writable: true, configurable: true });
        } else {
          out[key] = copy;
        }
      }
      return Object.freeze(out);
    }
    default:
      return NOT_JSON;
  }
}

/**
 * A track's meta as a frozen copy, when it is a plain object of JSON values that can be read
 * without throwing; otherwise `undefined`, and `metaText` either refuses it with the precise
 * reason or, for a `JsonText`, `undefined` or a meta only a full check accepts, gives its text.
 */
function frozenMetaCopy(meta: unknown): object | undefined {
  if (typeof meta !== "object" || meta === null) {
    return undefined;
  }
  let copy: unknown;
  try {
    // A revoked Proxy throws even from instanceof and Array.isArray.
    copy = meta instanceof JsonText || Array.isArray(meta) ? NOT_JSON : frozenCopy(meta, 0);
  } catch {
    return undefined;
  }
  return copy === NOT_JSON ? undefined : (copy as object);
}

export function metaText(meta: unknown): string {
  try {
    return metaTextOf(meta);
  } catch (error) {
    if (error instanceof BerylError) throw error;
    // A getter that throws, or a revoked Proxy, for example.
    throw new UsageError("invalid_argument", `meta cannot be read as JSON: ${describe(error)}`, {
      cause: error,
    });
  }
}

function metaTextOf(meta: unknown): string {
  if (meta === undefined) {
    return "{}";
  }
  if (meta instanceof JsonText) {
    return meta.text;
  }
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
    throw new UsageError(
      "invalid_argument",
      `meta is ${Array.isArray(meta) ? "an array" : kindOf(meta)}: it must be a plain object of JSON values (or omitted for {})`,
    );
  }
  checkJson(meta, "meta");
  const text = JSON.stringify(meta) as string | undefined;
  if (text === undefined) {
    // Only a toJSON that answered differently on a second read gets here.
    throw new UsageError("invalid_argument", "meta is not JSON: JSON.stringify gave nothing");
  }
  return text;
}

export function messageInput(message: unknown): EncodedMessage {
  return reading("the replication message", () => messageBytes(message));
}

function messageBytes(message: unknown): EncodedMessage {
  if (typeof message === "string" || message instanceof Uint8Array) {
    return message;
  }
  if (message instanceof ArrayBuffer) {
    return new Uint8Array(message);
  }
  if (ArrayBuffer.isView(message)) {
    return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  }
  throw new UsageError(
    "invalid_argument",
    "a replication message must be a Uint8Array (binary) or a string (JSON)",
  );
}

export function wantsJson(format: unknown): boolean {
  if (format === undefined || format === "binary") {
    return false;
  }
  if (format === "json") {
    return true;
  }
  throw new UsageError("invalid_argument", `format must be "binary" or "json", got ${String(format)}`);
}

/**
 * One replica's presence state: its own connections (`track`, `update`, `untrack`) and
 * everything merged from other replicas (`merge`). The meta type `M` is what `track` accepts
 * and what reads return; metas travel as JSON, so `M` must be a plain object type of JSON
 * values (`JsonMeta` refuses `Date`, `Map`, functions, arrays... at compile time, and `track`
 * refuses any non-plain object at run time).
 *
 * Diffs are returned by every call that changes something and also delivered to `onDiff`
 * handlers, after the call returned: a handler may call back into the same state. Returned
 * diffs are frozen.
 */
export class PresenceState<M extends JsonMeta<M> = JsonObject> {
  #raw: RawPresenceState | undefined;
  #replica: ReplicaId;
  /** The presences reads hand out again (see `PresenceCache`). */
  #presences: PresenceCache = newPresenceCache();
  /** What the local replica's refs start with: a track's ref is this and its counter. */
  #refPrefix: string;
  #handlers: DiffHandler<M>[] = [];
  #queue: Diff<M>[] = [];
  #delivering = false;

  /**
   * Creates the state of replica `name`. Without `options.incarnation`, one is derived from
   * `Date.now()` and `crypto.getRandomValues`, now (never at module load).
   */
  constructor(name: string, options: PresenceStateOptions = {}) {
    requireString("name", name);
    ensureReady();
    const incarnation =
      options.incarnation === undefined
        ? newIncarnation()
        : requireString("options.incarnation", options.incarnation);
    const limits = options.limits === undefined ? "" : JSON.stringify(options.limits);
    this.#raw = call(() => new RawPresenceState(name, incarnation, limits));
    this.#replica = Object.freeze({ name, incarnation });
    this.#refPrefix = this.#raw.refPrefix();
  }

  #state(): RawPresenceState {
    if (this.#raw === undefined) {
      throw new UsageError("freed", "this PresenceState was freed; create a new one");
    }
    ensureReady();
    return this.#raw;
  }

  /** The diff a call on `state` returned as compact text (its words are taken here). */
  #diff(state: RawPresenceState, text: string): Diff<M> {
    const diff = readDiff<M>(text, state.words(), this.#presences);
    forgetPresences(this.#presences, diff.leaves);
    if (diff.joins.length > 0 || diff.leaves.length > 0) {
      this.#emit(diff);
    }
    return diff;
  }

  #emit(diff: Diff<M>): void {
    if (this.#handlers.length === 0) {
      return;
    }
    this.#queue.push(diff);
    if (this.#delivering) {
      // A handler caused this change: it is delivered after the current one, in order.
      return;
    }
    this.#delivering = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        for (const handler of [...this.#handlers]) {
          try {
            handler(next);
          } catch (error) {
            reportHandlerError(error);
          }
        }
      }
    } finally {
      this.#delivering = false;
    }
  }

  /** This state's replica. */
  get replica(): ReplicaId {
    return this.#replica;
  }

  /**
   * Calls `handler` with every non-empty diff from now on, after the call that produced it has
   * returned. Returns a function that unsubscribes. A handler that throws does not stop the
   * others nor the call that produced the diff (which returns its result as usual): the error
   * is reported as `EventTarget` reports a listener's, to `globalThis.reportError` where the
   * runtime has it, else rethrown from a microtask (an uncaught exception in Node).
   */
  onDiff(handler: DiffHandler<M>): () => void {
    if (typeof handler !== "function") {
      throw new UsageError("invalid_argument", "onDiff expects a function");
    }
    this.#handlers.push(handler);
    return () => {
      this.#handlers = this.#handlers.filter((h) => h !== handler);
    };
  }

  /**
   * Tracks the connection `pid` of `key` in `topic` with `meta`. Throws `AlreadyTrackedError`
   * if this replica already tracks that (topic, key, pid).
   */
  track(topic: string, key: string, pid: string, meta?: M | JsonText): Tracked<M> {
    const state = this.#state();
    checkStrings(topic, key, pid);
    const copy = frozenMetaCopy(meta);
    const text = copy === undefined ? metaText(meta) : JSON.stringify(copy);
    // Joined, the arguments cross to the wasm side in one copy.
    const counter = call(() => state.track(topic + key + pid + text, topic.length, key.length, pid.length));
    const phxRef = this.#refPrefix + String(counter);
    const diff = joinDiff<M>(topic, key, pid, text, copy, meta instanceof JsonText, phxRef, this.#replica);
    this.#emit(diff);
    return { phxRef, diff };
  }

  /**
   * Replaces the meta of a tracked connection: the old presence leaves and a new one, with a
   * new `phxRef` and `phxRefPrev` naming the old one, joins. Throws `NotTrackedError` if this
   * replica does not track it.
   */
  update(topic: string, key: string, pid: string, meta: M | JsonText): Tracked<M> {
    const state = this.#state();
    checkStrings(topic, key, pid);
    const text = metaText(meta);
    const diff = this.#diff(state, call(() => state.update(topic, key, pid, text)));
    return { phxRef: diff.joins[diff.joins.length - 1]?.phxRef ?? "", diff };
  }

  /** Stops tracking a connection; an empty diff if this replica does not track it. */
  untrack(topic: string, key: string, pid: string): Diff<M> {
    const state = this.#state();
    checkStrings(topic, key, pid);
    return this.#diff(state, call(() => state.untrack(topic, key, pid)));
  }

  /** Stops tracking every connection of `pid` in every topic (for a disconnect). */
  untrackAll(pid: string): Diff<M> {
    const state = this.#state();
    checkStrings(pid);
    return this.#diff(state, call(() => state.untrackAll(pid)));
  }

  /**
   * The visible presences of `topic`, grouped by key (keys sorted): fresh arrays and groups of
   * frozen presences, the objects earlier reads returned for them.
   */
  list(topic: string): KeyPresences<M>[] {
    const state = this.#state();
    checkStrings(topic);
    return readList<M>(call(() => state.list(topic)), state.words(), this.#presences);
  }

  /** The visible presences of `key` in `topic`: a fresh array of frozen presences. */
  getByKey(topic: string, key: string): Presence<M>[] {
    const state = this.#state();
    checkStrings(topic, key);
    return readPresenceList<M>(call(() => state.getByKey(topic, key)), state.words(), this.#presences);
  }

  /** Topics with at least one visible presence, sorted. */
  topics(): string[] {
    const state = this.#state();
    return JSON.parse(call(() => state.topics())) as string[];
  }

  /** How many presences are visible, in all topics. */
  get size(): number {
    return this.#state().size();
  }

  /** How many presences of `topic` are visible. */
  topicSize(topic: string): number {
    const state = this.#state();
    checkStrings(topic);
    return call(() => state.topicSize(topic));
  }

  /** The highest counter this replica has used (one per track or update). */
  localCounter(): number {
    return this.#state().localCounter();
  }

  /** Hides a replica's presences (it went silent); the diff has a leave for each. */
  replicaDown(replica: ReplicaId): Diff<M> {
    const state = this.#state();
    const { name, incarnation } = requireReplica(replica);
    return this.#diff(state, call(() => state.replicaDown(name, incarnation)));
  }

  /** Shows a replica's presences again; the diff has a join for each. */
  replicaUp(replica: ReplicaId): Diff<M> {
    const state = this.#state();
    const { name, incarnation } = requireReplica(replica);
    return this.#diff(state, call(() => state.replicaUp(name, incarnation)));
  }

  /** Removes a replica for good: only a newer incarnation of its name is accepted afterwards. */
  removeReplica(replica: ReplicaId): Diff<M> {
    const state = this.#state();
    const { name, incarnation } = requireReplica(replica);
    return this.#diff(state, call(() => state.removeReplica(name, incarnation)));
  }

  /** What this state believes about `replica`; `null` if unknown or superseded. */
  replicaStatus(replica: ReplicaId): ReplicaStatus | null {
    const state = this.#state();
    const { name, incarnation } = requireReplica(replica);
    return (call(() => state.replicaStatus(name, incarnation)) as ReplicaStatus | undefined) ?? null;
  }

  /** Every known replica (the newest incarnation of each name) with its status. */
  replicas(): ReplicaRecord[] {
    const state = this.#state();
    return JSON.parse(call(() => state.replicas())) as ReplicaRecord[];
  }

  /**
   * Merges a replication message from a peer (binary `Uint8Array` or JSON string) and returns
   * what became visible or invisible. Deltas and state replies are merged, a goodbye removes
   * its sender, a liveness verdict is applied; heartbeats and state requests change nothing
   * (see `answer`). Throws `DecodeError`, leaving the state unchanged, if the message is not
   * a valid beryl message.
   */
  merge(message: EncodedMessage | ArrayBuffer): Diff<M> {
    const state = this.#state();
    const input = messageInput(message);
    return this.#diff(
      state,
      call(() => (typeof input === "string" ? state.mergeJson(input) : state.mergeBinary(input))),
    );
  }

  /**
   * The local changes (tracks, updates, untracks) since the previous call, as one delta
   * message to broadcast to peers; `null` if nothing changed.
   */
  takeDelta(): Uint8Array | null;
  takeDelta(format: "binary"): Uint8Array | null;
  takeDelta(format: "json"): string | null;
  takeDelta(format: MessageFormat): EncodedMessage | null;
  takeDelta(format?: MessageFormat): EncodedMessage | null {
    const state = this.#state();
    const json = wantsJson(format);
    return (call(() => state.takeDelta(json)) as EncodedMessage | undefined) ?? null;
  }

  /**
   * This replica's own presences created after its counter `after` (see `localCounter`), as a
   * delta message. Entries removed since are not in it: removals travel in `takeDelta`.
   */
  localDeltaSince(after: number, format?: "binary"): Uint8Array;
  localDeltaSince(after: number, format: "json"): string;
  localDeltaSince(after: number, format?: MessageFormat): EncodedMessage;
  localDeltaSince(after: number, format?: MessageFormat): EncodedMessage {
    const state = this.#state();
    const json = wantsJson(format);
    if (typeof after !== "number") {
      throw new UsageError("invalid_argument", "after must be a number");
    }
    return call(() => state.localDeltaSince(json, after)) as EncodedMessage;
  }

  /**
   * A liveness verdict about `replica`, for the client replicas this one feeds, so they hide
   * and show exactly what this replica does (`merge` applies it on their side).
   */
  liveness(replica: ReplicaId, status: ReplicaStatus, format?: "binary"): Uint8Array;
  liveness(replica: ReplicaId, status: ReplicaStatus, format: "json"): string;
  liveness(replica: ReplicaId, status: ReplicaStatus, format?: MessageFormat): EncodedMessage;
  liveness(replica: ReplicaId, status: ReplicaStatus, format?: MessageFormat): EncodedMessage {
    const state = this.#state();
    const json = wantsJson(format);
    const { name, incarnation } = requireReplica(replica);
    const verdict = requireString("status", status);
    return call(() => state.liveness(json, name, incarnation, verdict)) as EncodedMessage;
  }

  /**
   * Everything this replica shares (its own presences and those of replicas it considers up),
   * as a delta message: a snapshot for a new peer. With `to`, that peer's own presences are
   * left out.
   */
  fullState(options?: { to?: ReplicaId; format?: "binary" }): Uint8Array;
  fullState(options: { to?: ReplicaId; format: "json" }): string;
  fullState(options?: { to?: ReplicaId; format?: MessageFormat }): EncodedMessage;
  fullState(options: { to?: ReplicaId; format?: MessageFormat } = {}): EncodedMessage {
    const state = this.#state();
    const json = wantsJson(options.format);
    const to = options.to === undefined ? undefined : requireReplica(options.to);
    return call(() => state.fullState(json, to?.name, to?.incarnation)) as EncodedMessage;
  }

  /** A heartbeat: this replica's digest, so peers notice what they or it are missing. */
  heartbeat(format?: "binary"): Uint8Array;
  heartbeat(format: "json"): string;
  heartbeat(format?: MessageFormat): EncodedMessage;
  heartbeat(format?: MessageFormat): EncodedMessage {
    const state = this.#state();
    const json = wantsJson(format);
    return call(() => state.heartbeat(json)) as EncodedMessage;
  }

  /** A request to `to` for everything this replica is missing. */
  stateRequest(to: ReplicaId, format?: "binary"): Uint8Array;
  stateRequest(to: ReplicaId, format: "json"): string;
  stateRequest(to: ReplicaId, format?: MessageFormat): EncodedMessage;
  stateRequest(to: ReplicaId, format?: MessageFormat): EncodedMessage {
    const state = this.#state();
    const json = wantsJson(format);
    const { name, incarnation } = requireReplica(to);
    return call(() => state.stateRequest(json, name, incarnation)) as EncodedMessage;
  }

  /** A goodbye: peers remove this replica's presences at once. Send it before shutting down. */
  goodbye(format?: "binary"): Uint8Array;
  goodbye(format: "json"): string;
  goodbye(format?: MessageFormat): EncodedMessage;
  goodbye(format?: MessageFormat): EncodedMessage {
    const state = this.#state();
    const json = wantsJson(format);
    return call(() => state.goodbye(json)) as EncodedMessage;
  }

  /**
   * The reply a message calls for, in the message's own format: for a state request addressed
   * to this replica, a state reply with what the requester is missing; `null` otherwise.
   */
  answer(message: Uint8Array | ArrayBuffer): Uint8Array | null;
  answer(message: string): string | null;
  answer(message: EncodedMessage | ArrayBuffer): EncodedMessage | null;
  answer(message: EncodedMessage | ArrayBuffer): EncodedMessage | null {
    const state = this.#state();
    const input = messageInput(message);
    const reply = call(() =>
      typeof input === "string" ? state.answerJson(input) : state.answerBinary(input),
    ) as EncodedMessage | undefined;
    return reply ?? null;
  }

  /**
   * The Phoenix `presence_state` payload of `topic` (JSON text):
   * `{"<key>": {"metas": [{...meta, "phx_ref": "..."}]}}`.
   */
  presenceState(topic: string): string {
    const state = this.#state();
    checkStrings(topic);
    return call(() => state.presenceState(topic));
  }

  /**
   * The Phoenix `presence_diff` payload (JSON text) of `topic`'s part of `diff`:
   * `{"joins": {...}, "leaves": {...}}`. An array of diffs is encoded as their concatenation
   * (for example everything that changed since the last broadcast). Diffs returned by this
   * package are frozen and keep their metas' exact text (number forms, key order); any other
   * object of the same shape (a copy, a diff built by hand) is encoded as it is, its metas
   * serialised with `JSON.stringify`.
   */
  encodeDiff(diff: Diff<M> | readonly Diff<M>[], topic: string): string {
    const state = this.#state();
    requireString("topic", topic);
    const text = diffInput(diff);
    return call(() => state.encodeDiff(text, topic));
  }

  /** Releases the wasm memory of this state now. Later calls throw a `UsageError`. */
  free(): void {
    const raw = this.#raw;
    this.#raw = undefined;
    this.#handlers = [];
    this.#presences = newPresenceCache();
    raw?.free();
  }

  /** Same as `free()`, for `using state = new PresenceState(...)`. */
  [Symbol.dispose](): void {
    this.free();
  }
}

// Where the runtime lacks Symbol.dispose, the method is reachable under the fallback symbol.
if (disposeSymbol !== Symbol.dispose) {
  Object.defineProperty(PresenceState.prototype, disposeSymbol, {
    value: PresenceState.prototype.free,
    writable: true,
    configurable: true,
  });
}

