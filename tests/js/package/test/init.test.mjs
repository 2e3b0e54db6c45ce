// Initialisation makes one wasm instance whatever the interleaving of init(), initSync() and
// first uses: a state created while init() is pending, two concurrent init() calls (two
// requests in a worker), init() after a synchronous first use, a failed init() retried. Each
// case runs in a fresh Node process, counting every instance WebAssembly makes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { countInstances, pkgDir, runModule } from "./helpers.mjs";

/** Runs `body` after the counting prelude and `pkg = await import(entry)`; returns its output. */
function scenario(body, entry = "beryl-presence") {
  const result = runModule(`
    import assert from "node:assert/strict";
    import { readFile } from "node:fs/promises";
    ${countInstances}
    const pkg = await import(${JSON.stringify(entry)});
    const wasmPath = ${JSON.stringify(`${pkgDir}/wasm/beryl_wasm_bg.wasm`)};
    /** A replica that tracks, and a second that merges its delta: both must see the entry. */
    const roundTrip = (a, b, pid) => {
      a.track("room", "alice", pid, { pid });
      b.merge(a.takeDelta());
      assert.deepEqual(b.getByKey("room", "alice").map((p) => p.pid), a.getByKey("room", "alice").map((p) => p.pid));
    };
    ${body}
    console.log(JSON.stringify({ instances: globalThis.instances, ready: pkg.isReady() }));
  `);
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split("\n").at(-1));
}

describe("one instance whatever the interleaving", () => {
  test("a state created while init() is pending shares the instance init() resolves to", () => {
    const out = scenario(`
      const pending = pkg.init();
      assert.equal(pkg.isReady(), false);
      const early = new pkg.PresenceState("early", { incarnation: "1" });
      early.track("room", "bob", "p0", { n: 1 });
      await pending;
      const late = new pkg.PresenceState("late", { incarnation: "2" });
      roundTrip(early, late, "p1");
      roundTrip(late, early, "p2");
      assert.deepEqual(late.list("room").map((g) => g.key), ["alice", "bob"]);
      assert.equal(early.localCounter(), 2);
      early.free();
      late.free();
    `);
    assert.deepEqual(out, { instances: ["new Instance"], ready: true });
  });

  test("concurrent init() calls (two requests at once) make one instance", () => {
    const out = scenario(`
      const bytes = await readFile(wasmPath);
      const calls = [pkg.init(), pkg.init(), pkg.init(bytes), pkg.init(readFile(wasmPath))];
      const handle = async (name) => {
        await pkg.init();
        return new pkg.PresenceState(name, { incarnation: "1" });
      };
      const [first, second] = await Promise.all([handle("one"), handle("two"), ...calls]);
      roundTrip(first, second, "p1");
      roundTrip(second, first, "p2");
    `);
    assert.deepEqual(out, { instances: ["new Instance"], ready: true });
  });

  test("init() after a synchronous first use resolves without a second instance", () => {
    const out = scenario(`
      const state = new pkg.PresenceState("first", { incarnation: "1" });
      assert.equal(pkg.isReady(), true);
      await pkg.init();
      // Once instantiated, a source given later is not used (not even read).
      await pkg.init({ then: () => { throw new Error("read"); } });
      pkg.initSync(new Uint8Array([0, 1, 2]));
      roundTrip(state, new pkg.PresenceState("second", { incarnation: "2" }), "p1");
    `);
    assert.deepEqual(out, { instances: ["new Instance"], ready: true });
  });

  test("initSync() during a pending init() wins, and the pending init() then resolves", () => {
    const out = scenario(`
      const pending = pkg.init(readFile(wasmPath));
      pkg.initSync(await readFile(wasmPath));
      const state = new pkg.PresenceState("a", { incarnation: "1" });
      await pending;
      roundTrip(state, new pkg.PresenceState("b", { incarnation: "2" }), "p1");
    `);
    assert.deepEqual(out, { instances: ["new Instance"], ready: true });
  });

  test("a failed init() is a LoadError, instantiates nothing, and can be retried", () => {
    const out = scenario(`
      await assert.rejects(pkg.init(new Uint8Array([0, 97, 115, 109])), (error) => {
        assert.ok(error instanceof pkg.LoadError && error instanceof pkg.BerylError, String(error));
        assert.equal(error.code, "load");
        assert.ok(error.cause instanceof Error);
        return true;
      });
      await assert.rejects(pkg.init(Promise.reject(new Error("offline"))), /offline/);
      assert.throws(() => pkg.initSync("not bytes"), pkg.LoadError);
      assert.equal(pkg.isReady(), false);
      assert.deepEqual(globalThis.instances, []);
      await pkg.init();
      roundTrip(new pkg.PresenceState("a", { incarnation: "1" }), new pkg.PresenceState("b", { incarnation: "2" }), "p1");
    `);
    assert.deepEqual(out, { instances: ["new Instance"], ready: true });
  });

  test("browser entry (no synchronous source): use before init() is refused, then one instance", () => {
    const out = scenario(
      `
      assert.throws(() => new pkg.PresenceState("a"), (error) => error instanceof pkg.UsageError && error.code === "not_initialized");
      const pending = pkg.init(readFile(wasmPath));
      assert.throws(() => new pkg.PresenceState("a"), (error) => error.code === "not_initialized");
      await Promise.all([pending, pkg.init()]);
      roundTrip(new pkg.PresenceState("a", { incarnation: "1" }), new pkg.PresenceState("b", { incarnation: "2" }), "p1");
    `,
      `${pkgDir}/dist/browser.js`,
    );
    assert.deepEqual(out, { instances: ["new Instance"], ready: true });
  });
});
