// The package's behaviour as a user sees it: plain objects, error classes, re-entrant diff
// handlers, freeing, and what importing it does (nothing) in a fresh process.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import {
  AlreadyTrackedError,
  BerylError,
  DecodeError,
  InvalidInputError,
  JsonText,
  NotTrackedError,
  PresenceState,
  UsageError,
} from "beryl-presence";
import { projectDir } from "./helpers.mjs";

const incarnation = "1000";

describe("values are plain objects and arrays", () => {
  test("list, getByKey, topics and diffs", () => {
    const state = new PresenceState("a", { incarnation });
    const { phxRef, diff } = state.track("room", "alice", "p1", { n: 1, tags: ["x"] });
    assert.equal(Object.getPrototypeOf(diff), Object.prototype);
    assert.ok(Array.isArray(diff.joins));
    assert.equal(diff.joins[0].phxRef, phxRef);
    assert.deepEqual(diff.joins[0].meta, { n: 1, tags: ["x"] });
    assert.deepEqual(diff.joins[0].replica, { name: "a", incarnation });
    const list = state.list("room");
    assert.deepEqual(list, [{ key: "alice", presences: diff.joins }]);
    assert.deepEqual(state.getByKey("room", "alice"), diff.joins);
    assert.deepEqual(state.topics(), ["room"]);
    assert.equal(state.size, 1);
    assert.equal(state.topicSize("room"), 1);
    assert.equal(state.localCounter(), 1);
    for (const value of [list, diff, state.replicas()]) {
      assert.ok(!JSON.stringify(value, (_, v) => (typeof v === "bigint" ? "BIGINT" : v)).includes("BIGINT"));
    }
    state.free();
  });

  test("update names the replaced ref; metas keep their exact text in payloads", () => {
    const state = new PresenceState("a", { incarnation });
    const first = state.track("room", "alice", "p1", new JsonText('{"v": 1.50}'));
    const second = state.update("room", "alice", "p1", { v: 2 });
    assert.equal(second.diff.leaves[0].phxRef, first.phxRef);
    assert.equal(second.diff.joins[0].phxRefPrev, first.phxRef);
    assert.match(state.encodeDiff(second.diff, "room"), /"v": 1\.50,"phx_ref"/);
    assert.equal(state.encodeDiff(second.diff, "elsewhere"), '{"joins":{},"leaves":{}}');
    state.free();
  });
});

describe("errors", () => {
  test("misuse and decode failures are distinguishable BerylErrors", () => {
    const state = new PresenceState("a", { incarnation });
    state.track("t", "k", "p", {});
    assert.throws(() => state.track("t", "k", "p", {}), AlreadyTrackedError);
    assert.throws(() => state.update("t", "k", "nope", {}), NotTrackedError);
    assert.throws(() => state.track("t", "k", "q", new JsonText("[1]")), InvalidInputError);
    assert.throws(() => state.track("t", "k", "q", { phx_ref: "x" }), InvalidInputError);
    assert.throws(() => state.track("t".repeat(2000), "k", "q", {}), InvalidInputError);
    assert.throws(() => state.track(1, "k", "q", {}), (e) => e instanceof UsageError && e.code === "invalid_argument");
    assert.throws(() => state.replicaDown(state.replica), (e) => e instanceof UsageError && e.code === "local_replica");
    assert.throws(() => state.localDeltaSince(-1), (e) => e.code === "invalid_argument");
    assert.throws(() => new PresenceState("b", { incarnation: "-5" }), UsageError);
    assert.throws(() => new PresenceState("b", { limits: { maxKeys: 1 } }), UsageError);
    assert.throws(() => state.merge(new Uint8Array([0xb7, 0x52, 1])), (e) => {
      assert.ok(e instanceof DecodeError && e instanceof BerylError);
      assert.ok(!(e instanceof UsageError));
      assert.equal(e.code, "decode");
      assert.equal(e.reason, "Truncated");
      return true;
    });
    assert.throws(() => state.merge(42), UsageError);
    // After every refusal the state still works.
    assert.equal(state.list("t").length, 1);
    state.free();
  });

  test("hostile inputs never break the instance", () => {
    const state = new PresenceState("a", { incarnation });
    const inputs = [
      new Uint8Array(0),
      new Uint8Array(100_000).fill(0xff),
      Uint8Array.from([0xb7, 0x52, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      "",
      "[".repeat(100_000),
      '{"version":1,"type":"delta"}',
      "\ud800",
    ];
    let seed = 7;
    for (let i = 0; i < 300; i += 1) {
      const bytes = new Uint8Array(1 + (i % 64));
      for (let j = 0; j < bytes.length; j += 1) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        bytes[j] = j < 2 ? [0xb7, 0x52][j] : seed >>> 24;
      }
      inputs.push(bytes);
    }
    for (const input of inputs) {
      assert.throws(() => state.merge(input), DecodeError);
    }
    for (const text of ["\ud800", "\u0000", "é".repeat(300)]) {
      state.track(text, text, text, {});
      assert.equal(state.getByKey(text.toWellFormed(), text.toWellFormed()).length, 1);
    }
    // JSON.stringify escapes a lone surrogate, which is not valid JSON text for the decoder.
    assert.throws(() => state.track("t", "k", "p", { text: "\ud800" }), InvalidInputError);
    assert.throws(() => state.encodeDiff({ joins: [{}], leaves: [] }, "t"), UsageError);
    state.track("ok", "k", "p");
    assert.equal(state.topicSize("ok"), 1);
    state.free();
  });
});

describe("diff handlers", () => {
  test("a handler may call back into the same state, and diffs arrive in order", () => {
    const state = new PresenceState("a", { incarnation });
    const seen = [];
    state.onDiff((diff) => {
      for (const join of diff.joins) {
        seen.push(`join ${join.pid}`);
        // Re-entrant: read and write the state that is delivering this diff.
        assert.equal(state.getByKey("t", "k").some((p) => p.pid === join.pid), true);
        if (join.pid === "p1") state.track("t", "k", "p2", {});
      }
      for (const leave of diff.leaves) seen.push(`leave ${leave.pid}`);
    });
    const second = [];
    const unsubscribe = state.onDiff((diff) => second.push(diff.joins.map((p) => p.pid).join()));
    state.track("t", "k", "p1", {});
    assert.deepEqual(seen, ["join p1", "join p2"]);
    assert.deepEqual(second, ["p1", "p2"], "every handler sees the diffs in the same order");
    unsubscribe();
    state.untrackAll("p1");
    assert.deepEqual(second, ["p1", "p2"]);
    assert.deepEqual(seen.at(-1), "leave p1");
    state.free();
  });

  test("a throwing handler does not stop the others nor corrupt the state", () => {
    const state = new PresenceState("a", { incarnation });
    let called = 0;
    state.onDiff(() => {
      throw new Error("boom");
    });
    state.onDiff(() => {
      called += 1;
    });
    assert.throws(() => state.track("t", "k", "p", {}), /boom/);
    assert.equal(called, 1);
    assert.equal(state.size, 1);
    state.free();
  });
});

describe("memory", () => {
  test("free() and Symbol.dispose release the state; later use is a UsageError", () => {
    const state = new PresenceState("a", { incarnation });
    state.free();
    assert.throws(() => state.list("t"), (e) => e instanceof UsageError && e.code === "freed");
    state.free();
    const other = new PresenceState("b", { incarnation });
    other[Symbol.dispose]();
    assert.throws(() => other.size, UsageError);
  });
});

function runNode(source) {
  return spawnSync(process.execPath, ["--input-type=module", "-e", source], {
    cwd: projectDir,
    encoding: "utf8",
  });
}

describe("loading", () => {
  test("importing compiles no wasm, sets no timer and draws no random number", () => {
    const result = runNode(`
      const calls = [];
      const spy = (object, name) => {
        const original = object[name];
        object[name] = function (...args) { calls.push(name); return original.apply(this, args); };
      };
      spy(WebAssembly, "compile"); spy(WebAssembly, "instantiate");
      spy(globalThis, "setTimeout"); spy(globalThis, "setInterval"); spy(globalThis, "queueMicrotask");
      spy(Math, "random"); spy(crypto, "getRandomValues");
      const OriginalModule = WebAssembly.Module;
      WebAssembly.Module = function (...args) { calls.push("Module"); return new OriginalModule(...args); };
      const pkg = await import("beryl-presence");
      if (calls.length !== 0) throw new Error("at import: " + calls.join());
      if (pkg.isReady()) throw new Error("instantiated at import");
      const state = new pkg.PresenceState("a");
      if (!calls.includes("Module") || !calls.includes("getRandomValues")) throw new Error("first use: " + calls.join());
      console.log("ok", state.replica.incarnation);
    `);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^ok \d+/);
  });

  test("works where FinalizationRegistry is missing", () => {
    const result = runNode(`
      delete globalThis.FinalizationRegistry;
      const { PresenceState } = await import("beryl-presence");
      const state = new PresenceState("a");
      state.track("t", "k", "p", {});
      console.log(state.size);
      state.free();
    `);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "1");
  });

  test("require() gets the CommonJS build with the same API", () => {
    const require = createRequire(import.meta.url);
    const cjs = require("beryl-presence");
    const state = new cjs.PresenceState("a", { incarnation });
    state.track("t", "k", "p", {});
    assert.throws(() => state.merge("{}"), cjs.DecodeError);
    assert.equal(state.list("t")[0].key, "k");
    state.free();
  });
});
