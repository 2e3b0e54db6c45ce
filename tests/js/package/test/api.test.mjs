// The package's behaviour as a user sees it: plain objects, error classes, re-entrant diff
// handlers, freeing, and what importing it does (nothing) in a fresh process.
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import {
  AlreadyTrackedError,
  BerylError,
  DecodeError,
  InternalError,
  InvalidInputError,
  JsonText,
  NotTrackedError,
  PresenceState,
  UsageError,
} from "beryl-presence";
import { pkgDir, projectDir, runModule } from "./helpers.mjs";

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

describe("metas", () => {
  test("a meta must be a plain object of JSON values: anything JSON would change is refused", () => {
    const state = new PresenceState("a", { incarnation });
    const circular = { name: "loop" };
    circular.self = circular;
    class Point {
      x = 1;
    }
    const refused = [
      [new Map([["a", 1]]), /^meta is a Map:/],
      [new Date(0), /^meta is a Date:/],
      [new Point(), /^meta is a Point:/],
      [[1, 2], /^meta is an array:/],
      ["text", /^meta is a string:/],
      [null, /^meta is null:/],
      [{ when: new Date(0) }, /^meta\.when is a Date:/],
      [{ tags: new Set(["x"]) }, /^meta\.tags is a Set:/],
      [{ nested: { m: new Map() } }, /^meta\.nested\.m is a Map:/],
      [{ n: Number.NaN }, /^meta\.n is NaN:/],
      [{ n: -Infinity }, /^meta\.n is -Infinity:/],
      [{ big: 1n }, /^meta\.big is a bigint:/],
      [{ f() {} }, /^meta\.f is a function:/],
      [{ list: [1, undefined] }, /^meta\.list\[1\] is undefined:/],
      [{ "odd key": { s: Symbol("s") } }, /^meta\["odd key"\]\.s is a symbol:/],
      [{ at: { toJSON: () => "x" } }, /^meta\.at is an object with a toJSON method:/],
      [circular, /^meta\.self is circular/],
    ];
    for (const [meta, message] of refused) {
      assert.throws(
        () => state.track("t", "k", "p", meta),
        (error) => error instanceof UsageError && error.code === "invalid_argument" && message.test(error.message),
        String(message),
      );
    }
    const reading = {};
    Object.defineProperty(reading, "x", { enumerable: true, get: () => { throw new RangeError("no"); } });
    assert.throws(() => state.track("t", "k", "p", reading), (error) => error instanceof UsageError && error.cause instanceof RangeError);
    assert.equal(state.size, 0, "nothing was tracked");
    // Accepted: a null-prototype object, an undefined (optional) property left out, nesting.
    const meta = Object.assign(Object.create(null), { a: 1, skip: undefined, nested: [{ b: [null, true, "s", -0.5] }] });
    const { diff } = state.track("t", "k", "p", meta);
    assert.deepEqual(diff.joins[0].meta, { a: 1, nested: [{ b: [null, true, "s", -0.5] }] });
    assert.throws(() => state.update("t", "k", "p", { at: new Date(0) }), /meta\.at is a Date/);
    assert.equal(state.getByKey("t", "k")[0].meta.a, 1, "a refused update changes nothing");
    state.free();
  });

  test("a track's diff holds its meta as a JSON round trip gives it, frozen", () => {
    const state = new PresenceState("a", { incarnation });
    const proto = JSON.parse('{"__proto__": {"p": 1}}');
    const metas = [
      { z: -0, list: [-0, 1e21, "s"], nested: { deep: [[{}]] } },
      { b: 1, 10: "ten", 2: "two", a: { y: 1, x: undefined } },
      proto,
      { ["__proto__"]: "not a prototype", k: 1 },
      { s: "\u2028 é 😀", t: true, n: null },
    ];
    for (const [index, meta] of metas.entries()) {
      const { diff } = state.track("t", `k${index}`, "p", meta);
      const copy = diff.joins[0].meta;
      const expected = JSON.parse(JSON.stringify(meta));
      assert.deepStrictEqual(copy, expected);
      assert.deepStrictEqual(Object.keys(copy), Object.keys(expected));
      assert.equal(Object.getPrototypeOf(copy), Object.prototype);
      assert.ok(Object.isFrozen(copy));
      // What the wasm side stored is the same meta.
      assert.deepStrictEqual(state.getByKey("t", `k${index}`)[0].meta, copy);
      assert.notEqual(copy, meta);
    }
    assert.ok(Object.is(state.getByKey("t", "k0")[0].meta.z, 0));
    assert.ok(Object.hasOwn(state.getByKey("t", "k2")[0].meta, "__proto__"));
    // Deeper than a copy goes: the full check and a parse of the text, with the same result.
    let deep = { leaf: 1 };
    for (let level = 0; level < 70; level += 1) deep = { deep };
    const limits = { maxMetaDepth: 100 };
    const roomy = new PresenceState("b", { incarnation, limits });
    assert.deepStrictEqual(roomy.track("t", "k", "p", deep).diff.joins[0].meta, JSON.parse(JSON.stringify(deep)));
    roomy.free();
    state.free();
  });
});

describe("diffs", () => {
  test("returned diffs are frozen, and encodeDiff encodes the object it is given", () => {
    const state = new PresenceState("a", { incarnation });
    const { diff } = state.track("room", "alice", "p1", new JsonText('{"v": 1.50, "big": 12345678901234567890}'));
    const [join] = diff.joins;
    for (const part of [diff, diff.joins, diff.leaves, join, join.meta, join.replica]) {
      assert.ok(Object.isFrozen(part), JSON.stringify(part));
    }
    assert.throws(() => {
      join.meta.v = 2;
    }, TypeError);
    assert.throws(() => diff.joins.push(join), TypeError);
    // Untouched, the meta's exact text goes out (number forms a JSON round trip would change).
    assert.match(state.encodeDiff(diff, "room"), /\{"v": 1\.50, "big": 12345678901234567890,"phx_ref":"[^"]+"\}/);
    // A changed copy is encoded as it now is.
    const copy = structuredClone(diff);
    copy.joins[0].meta.v = 3;
    copy.joins[0].meta.extra = "x";
    assert.match(state.encodeDiff(copy, "room"), /\{"v":3,"big":12345678901234567000,"extra":"x","phx_ref":"[^"]+"\}/);
    assert.match(state.encodeDiff([diff, copy], "room"), /"v": 1\.50.*"v":3/);
    copy.joins.pop();
    assert.equal(state.encodeDiff(copy, "room"), '{"joins":{},"leaves":{}}');
    // Merges, untracks and liveness diffs are frozen too.
    const peer = new PresenceState("b", { incarnation });
    const merged = peer.merge(state.takeDelta());
    assert.ok(Object.isFrozen(merged.joins[0].meta));
    assert.ok(Object.isFrozen(state.untrack("room", "alice", "p1").leaves[0]));
    assert.ok(Object.isFrozen(peer.replicaDown(state.replica)));
    // What reads return is a fresh array (of frozen presences).
    assert.ok(!Object.isFrozen(peer.list("room")));
    assert.throws(() => state.encodeDiff(42, "room"), UsageError);
    state.free();
    peer.free();
  });
});

describe("reads", () => {
  test("reads hand out frozen presences, the same objects as earlier reads, in fresh arrays", () => {
    const a = new PresenceState("a", { incarnation });
    const b = new PresenceState("b", { incarnation });
    const tracked = a.track("t", "k", "p1", { flat: 1, s: "x" });
    a.track("t", "k", "p2", { nested: { list: [1, { deep: true }] }, ["__proto__"]: { own: 1 } });
    const merged = b.merge(a.takeDelta());
    for (const [state, diff] of [
      [a, tracked.diff],
      [b, merged],
    ]) {
      const first = state.list("t");
      const second = state.list("t");
      assert.notEqual(first, second);
      assert.notEqual(first[0], second[0]);
      assert.notEqual(first[0].presences, second[0].presences);
      first[0].presences.push("mine");
      first[0].key = "changed";
      assert.deepStrictEqual(second, state.list("t"));
      const [p1, p2] = second[0].presences;
      assert.deepStrictEqual(p1, diff.joins[0]);
      assert.equal(p1, state.list("t")[0].presences[0], "a read hands out what an earlier one did");
      assert.equal(p2, state.getByKey("t", "k")[1]);
      for (const frozen of [p1, p1.meta, p1.replica, p2.meta.nested.list[1]]) assert.ok(Object.isFrozen(frozen));
      assert.throws(() => {
        "use strict";
        p1.meta.flat = 2;
      }, TypeError);
      assert.ok(Object.hasOwn(p2.meta, "__proto__"));
      assert.equal(Object.getPrototypeOf(p2.meta), Object.prototype);
      assert.deepStrictEqual(structuredClone(p2.meta), { nested: { list: [1, { deep: true }] }, ["__proto__"]: { own: 1 } });
    }
    // An update's new meta is listed, not the old one; presences that left are not, and a
    // leave is the presence reads handed out.
    const old = a.getByKey("t", "k")[1];
    a.update("t", "k", "p1", { flat: 3 });
    assert.equal(a.untrack("t", "k", "p2").leaves[0], old);
    const onPeer = b.getByKey("t", "k")[1];
    assert.ok(b.merge(a.takeDelta()).leaves.includes(onPeer));
    for (const state of [a, b]) {
      assert.deepStrictEqual(state.list("t")[0].presences.map((p) => p.meta), [{ flat: 3 }]);
    }
    b.replicaDown(a.replica);
    assert.deepStrictEqual(b.list("t"), []);
    b.replicaUp(a.replica);
    assert.deepStrictEqual(b.list("t"), a.list("t"));
    a.free();
    b.free();
  });

  test("a listing larger than the reads' cache is complete and right", () => {
    const state = new PresenceState("a", { incarnation });
    const count = 40_000;
    for (let i = 0; i < count; i += 1) state.track("t", `k${i}`, "p", { i, tag: [i % 7] });
    for (let round = 0; round < 2; round += 1) {
      const listed = state.list("t");
      assert.equal(listed.length, count);
      for (const group of listed) {
        const { meta } = group.presences[0];
        assert.equal(group.key, `k${meta.i}`);
        assert.deepStrictEqual(meta.tag, [meta.i % 7]);
      }
    }
    state.free();
  });
});

describe("merged diffs", () => {
  test("encodeDiff sends every merged meta's exact text, whatever JSON.stringify would write", () => {
    const a = new PresenceState("a", { incarnation });
    const b = new PresenceState("b", { incarnation });
    const texts = [
      '{"v":1}',
      '{"v": 1}',
      '{"v":1.50}',
      '{"v":1.5}',
      '{"v":-0}',
      '{"v":12345678901234567890}',
      '{"s":"\\u00e9\\/"}',
      '{"s":"é\\n\\"q\\""}',
      '{"b":1,"10":2}',
      '{"a":1,"a":2}',
      '{"o":{"k":[1,{"k":2}]},"__proto__":3}',
    ];
    for (const [index, text] of texts.entries()) a.track("t", `k${index}`, "p", new JsonText(text));
    const diff = b.merge(a.takeDelta());
    assert.equal(diff.joins.length, texts.length);
    // Each meta goes out as its text without the closing brace, then its phx_ref.
    const whole = b.encodeDiff(diff, "t");
    for (const text of texts) assert.ok(whole.includes(`${text.slice(0, -1)},"phx_ref"`), `${text} in ${whole}`);
    // Leaves keep their metas' texts too, after the joins.
    a.untrack("t", "k2", "p");
    a.track("t", "k2", "p", new JsonText('{"v": 2.0}'));
    const next = b.merge(a.takeDelta());
    assert.equal(next.leaves.length, 1);
    const sent = b.encodeDiff(next, "t");
    assert.ok(sent.includes('"v":1.50'), sent);
    assert.ok(sent.includes('"v": 2.0'), sent);
    a.free();
    b.free();
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

  test("every error is a BerylError: an unexpected one is an InternalError keeping the cause", async () => {
    // The package's own translation of what a call threw (the module the package runs).
    const { translate } = await import(pathToFileURL(resolve(pkgDir, "dist/errors.js")).href);
    const cause = new TypeError("unexpected");
    const wrapped = translate(cause);
    assert.ok(wrapped instanceof InternalError && wrapped instanceof BerylError);
    assert.equal(wrapped.code, "internal");
    assert.equal(wrapped.cause, cause);
    assert.match(wrapped.message, /TypeError: unexpected/);
    const odd = Object.create(null);
    assert.equal(translate(odd).cause, odd);
    assert.ok(translate("text") instanceof InternalError);
    const decode = translate(Object.assign(new Error("bad"), { name: "BerylDecodeError", reason: "Truncated" }));
    assert.ok(decode instanceof DecodeError && decode.reason === "Truncated" && decode.cause instanceof Error);
    const usage = new UsageError("freed", "x");
    assert.equal(translate(usage), usage);
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
    for (const text of ["\u0000", "é".repeat(300), "\ud83d\ude00"]) {
      state.track(text, text, text, {});
      assert.equal(state.getByKey(text, text).length, 1);
    }
    // A lone surrogate has no UTF-8 form: "\ud800" and "\udfff" would both arrive as U+FFFD and
    // name one presence, so they are refused rather than changed.
    for (const lone of ["\ud800", "x\udfff", "\udfff\ud800"]) {
      assert.throws(() => state.track(lone, "k", "p"), /lone surrogate/);
      assert.throws(() => state.track("t", lone, "p"), UsageError);
      assert.throws(() => state.getByKey("t", lone), UsageError);
      assert.throws(() => new PresenceState(lone, { incarnation }), UsageError);
    }
    // JSON.stringify escapes a lone surrogate, which is not valid JSON text for the decoder.
    assert.throws(() => state.track("t", "k", "p", { text: "\ud800" }), InvalidInputError);
    assert.throws(() => state.encodeDiff({ joins: [{}], leaves: [] }, "t"), UsageError);
    // Values JSON.stringify or property reads throw on are UsageErrors that keep the cause.
    const circular = { joins: [], leaves: [] };
    circular.joins.push(circular);
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    for (const attempt of [
      () => state.encodeDiff(circular, "t"),
      () => state.encodeDiff({ joins: [{ meta: { n: 1n } }], leaves: [] }, "t"),
      () => state.encodeDiff(revoked, "t"),
      () => state.merge(revoked),
      () => state.track("t", "k", "revoked", revoked),
      () => state.track("t", "k", "getter", { get x() { throw new RangeError("no"); } }),
    ]) {
      assert.throws(attempt, (error) => error instanceof UsageError && error.cause !== undefined);
    }
    let reads = 0;
    const fickle = { toJSON: undefined };
    Object.defineProperty(fickle, "toJSON", { get: () => (reads++ === 0 ? undefined : () => undefined) });
    assert.throws(() => state.track("t", "k", "fickle", fickle), UsageError);
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

  test("a throwing handler does not stop the others nor the call; its error is reported", () => {
    const state = new PresenceState("a", { incarnation });
    const peer = new PresenceState("b", { incarnation });
    const reported = [];
    const hadReportError = Object.hasOwn(globalThis, "reportError");
    const previous = globalThis.reportError;
    globalThis.reportError = (error) => reported.push(error);
    try {
      const boom = new Error("boom");
      let called = 0;
      state.onDiff(() => {
        throw boom;
      });
      state.onDiff(() => {
        called += 1;
      });
      // The track succeeded: its result comes back, and the error goes to reportError.
      const { phxRef, diff } = state.track("t", "k", "p", { n: 1 });
      assert.equal(diff.joins[0].phxRef, phxRef);
      assert.deepEqual(reported, [boom]);
      assert.equal(called, 1);
      assert.equal(state.size, 1);
      // No retry needed (a retry would be an AlreadyTrackedError); the next call works too.
      assert.throws(() => state.track("t", "k", "p", {}), AlreadyTrackedError);
      peer.track("t", "k2", "q", {});
      const merged = state.merge(peer.takeDelta());
      assert.deepEqual(merged.joins.map((p) => p.pid), ["q"]);
      assert.deepEqual(reported, [boom, boom]);
      assert.equal(called, 2);
    } finally {
      if (hadReportError) globalThis.reportError = previous;
      else delete globalThis.reportError;
      state.free();
      peer.free();
    }
  });

  test("without reportError, a handler's error is rethrown from a microtask after the call returned", () => {
    const result = runModule(`
      const { PresenceState } = await import("beryl-presence");
      if (typeof globalThis.reportError !== "undefined") throw new Error("this Node has reportError");
      process.on("uncaughtException", (error) => console.log("uncaught " + error.message));
      const state = new PresenceState("a", { incarnation: "1" });
      state.onDiff(() => { throw new Error("boom"); });
      const { diff } = state.track("t", "k", "p", {});
      console.log("returned " + diff.joins.length);
      await new Promise((done) => setTimeout(done, 10));
      console.log("size " + state.size);
    `);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), ["returned 1", "uncaught boom", "size 1"]);
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

const runtimeModule = (name) => JSON.stringify(pathToFileURL(resolve(projectDir, "runtimes", name)).href);

/**
 * Imports (or requires) the package in a fresh Node process after runtimes/probe.mjs, and
 * runs runtimes/loading.mjs's checks: nothing compiled, instantiated, timed or drawn at
 * import; one instance at first use.
 */
function loadingIn(how, { withoutFinalization = false } = {}) {
  const load =
    how === "require"
      ? `(await import("node:module")).createRequire(${JSON.stringify(`${projectDir}/`)})("beryl-presence")`
      : `await import("beryl-presence")`;
  const result = runModule(`
    ${withoutFinalization ? `await import(${runtimeModule("no-finalization.mjs")});` : ""}
    const { calls } = await import(${runtimeModule("probe.mjs")});
    const pkg = ${load};
    const atImport = [...calls];
    const { checkLoading } = await import(${runtimeModule("loading.mjs")});
    console.log(await checkLoading(pkg, calls, atImport, { sync: true }));
  `);
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  return result.stdout.trim();
}

describe("loading", () => {
  for (const how of ["import", "require"]) {
    test(`${how}: compiles no wasm, sets no timer and draws no random number at load`, () => {
      assert.match(loadingIn(how), /^loading ok with FinalizationRegistry .*new WebAssembly.Instance/);
    });

    test(`${how}: works where FinalizationRegistry is missing`, () => {
      assert.match(loadingIn(how, { withoutFinalization: true }), /^loading ok without FinalizationRegistry/);
    });
  }

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
