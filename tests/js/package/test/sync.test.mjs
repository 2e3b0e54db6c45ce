// SyncNode: the replication engine of the native servers, driven from JS. Nodes exchange
// messages through an in-memory bus that drops, duplicates and reorders them (seeded); once the
// faults stop, every node must hold exactly the presences their owners still track.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, test } from "node:test";
import { DecodeError, PresenceState, SyncNode, UsageError } from "beryl-presence";
import { hex, projectDir, readJson, repoRoot, vectorsDir } from "./helpers.mjs";

const CONFIG = {
  broadcastIntervalMs: 100,
  downPeriodMs: 1_000,
  permanentDownPeriodMs: 60_000,
  repairBackoffMs: 300,
};
const TOPICS = ["room:0", "room:1"];
const KEYS = ["alice", "bob", "carol"];
const PIDS = ["p0", "p1", "p2"];

/** mulberry32: small, seedable, the same on every run. */
function rng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, below: (n) => Math.floor(next() * n), chance: (p) => next() < p };
}

/**
 * Nodes, a clock and a network. Messages a node hands out are queued per recipient with a delay;
 * with faults on, some are dropped, some delivered twice, and delays vary so they overtake each
 * other. `cut` names nodes that neither send nor receive (a partition).
 */
class Sim {
  constructor(seed, names, { format = () => "binary" } = {}) {
    this.random = rng(seed);
    this.now = 0;
    this.faults = { drop: 0, duplicate: 0, maxDelay: 5 };
    this.cut = new Set();
    /** Drops what a sender's next transmits carry to a recipient: `${from}>${to}`. */
    this.block = new Set();
    this.inFlight = [];
    this.nodes = new Map();
    this.views = new Map();
    this.peerEvents = [];
    this.sent = 0;
    for (const [index, name] of names.entries()) {
      const node = new SyncNode(name, {
        now: 0,
        incarnation: String(1000 + index),
        config: CONFIG,
      });
      this.nodes.set(name, { node, format: format(name) });
      this.views.set(name, new Map());
    }
    this.flushAll();
  }

  node(name) {
    return this.nodes.get(name).node;
  }

  names() {
    return [...this.nodes.keys()];
  }

  /** Drains a node's transmits onto the bus and its events into its diff-built view. */
  flush(name) {
    const { node, format } = this.nodes.get(name);
    for (let out = node.pollTransmit(format); out !== null; out = node.pollTransmit(format)) {
      const payload = format === "json" ? out.text : out.bytes;
      assert.equal(typeof payload, format === "json" ? "string" : "object");
      if (this.cut.has(name)) continue;
      const targets = out.to === null ? this.names().filter((n) => n !== name) : [out.to];
      for (const to of targets) {
        if (this.block.has(`${name}>${to}`)) continue;
        if (this.random.chance(this.faults.drop)) continue;
        const copies = this.random.chance(this.faults.duplicate) ? 2 : 1;
        for (let i = 0; i < copies; i += 1) {
          const at = this.now + 1 + this.random.below(this.faults.maxDelay);
          this.inFlight.push({ at, to, payload });
          this.sent += 1;
        }
      }
    }
    const view = this.views.get(name);
    for (let event = node.pollEvent(); event !== null; event = node.pollEvent()) {
      if (event.type === "diff") {
        // Leaves first: an update's leave and join have different refs.
        for (const leave of event.diff.leaves) {
          assert.ok(view.delete(leave.phxRef), `${name}: leave of unseen ${leave.phxRef}`);
        }
        for (const join of event.diff.joins) {
          assert.ok(!view.has(join.phxRef), `${name}: join of visible ${join.phxRef}`);
          view.set(join.phxRef, join);
        }
      } else {
        assert.equal(event.type, "peer");
        this.peerEvents.push({ at: this.now, node: name, peer: event.replica.name, status: event.status });
      }
    }
  }

  flushAll() {
    for (const name of this.names()) this.flush(name);
  }

  /** Advances the clock by `ms`, one millisecond at a time, delivering and ticking. */
  run(ms, onStep = () => {}) {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 1;
      const due = this.inFlight.filter((m) => m.at <= this.now);
      this.inFlight = this.inFlight.filter((m) => m.at > this.now);
      for (const message of due) {
        if (this.cut.has(message.to)) continue;
        this.node(message.to).receive(this.now, message.payload);
        this.flush(message.to);
      }
      for (const name of this.names()) {
        const node = this.node(name);
        const due = node.nextTimeout();
        if (due !== null && due <= this.now) {
          node.tick(this.now);
          this.flush(name);
        }
      }
      onStep();
    }
  }

  free() {
    for (const { node } of this.nodes.values()) node.free();
  }
}

/** Every visible presence of a node, in a comparable form. */
function everything(node) {
  return TOPICS.flatMap((topic) => node.list(topic));
}

function refsOf(node) {
  return everything(node)
    .flatMap((group) => group.presences.map((p) => p.phxRef))
    .sort();
}

describe("SyncNode", () => {
  test("three nodes under drops, duplicates and reorders converge with no ghosts", () => {
    let divergedUnderFaults = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const sim = new Sim(seed, ["a", "b", "c"], { format: (name) => (name === "c" ? "json" : "binary") });
      sim.faults = { drop: 0.3, duplicate: 0.2, maxDelay: 250 };
      // What each owner still tracks: `${topic}|${key}|${pid}` -> meta.
      const owned = new Map(sim.names().map((name) => [name, new Map()]));
      const ops = rng(seed * 7919);
      sim.run(3_000, () => {
        if (!ops.chance(0.05)) return;
        const name = sim.names()[ops.below(3)];
        const node = sim.node(name);
        const mine = owned.get(name);
        const topic = TOPICS[ops.below(TOPICS.length)];
        const key = KEYS[ops.below(KEYS.length)];
        const pid = PIDS[ops.below(PIDS.length)];
        const id = `${topic}|${key}|${pid}`;
        const roll = ops.next();
        if (roll < 0.45) {
          if (mine.has(id)) return;
          const meta = { n: ops.below(100) };
          const { diff } = node.track(topic, key, pid, meta);
          assert.equal(diff.joins.length, 1);
          mine.set(id, meta);
        } else if (roll < 0.7) {
          if (!mine.has(id)) return;
          const meta = { n: ops.below(100), updated: true };
          node.update(topic, key, pid, meta);
          mine.set(id, meta);
        } else if (roll < 0.9) {
          const diff = node.untrack(topic, key, pid);
          assert.equal(diff.leaves.length, mine.has(id) ? 1 : 0);
          mine.delete(id);
        } else {
          node.untrackAll(pid);
          for (const owned of [...mine.keys()]) if (owned.endsWith(`|${pid}`)) mine.delete(owned);
        }
        sim.flush(name);
      });
      assert.ok(sim.sent > 50, `seed ${seed}: traffic flowed (${sim.sent} messages)`);

      const lists = sim.names().map((name) => JSON.stringify(everything(sim.node(name))));
      if (new Set(lists).size > 1) divergedUnderFaults += 1;

      // Faults stop: delays stay short, nothing is lost. Long enough for repairs and backoffs.
      sim.faults = { drop: 0, duplicate: 0, maxDelay: 5 };
      sim.run(3_000);

      const expected = [...owned.entries()]
        .flatMap(([name, mine]) => [...mine.entries()].map(([id, meta]) => `${name}|${id}|${JSON.stringify(meta)}`))
        .sort();
      const reference = everything(sim.node("a"));
      for (const name of sim.names()) {
        const node = sim.node(name);
        const visible = everything(node)
          .flatMap((group) =>
            group.presences.map((p) => `${p.replica.name}|${p.topic}|${p.key}|${p.pid}|${JSON.stringify(p.meta)}`),
          )
          .sort();
        assert.deepEqual(visible, expected, `seed ${seed}: ${name} holds exactly what the owners track`);
        assert.deepEqual(everything(node), reference, `seed ${seed}: ${name} lists what a lists`);
        assert.deepEqual(
          [...sim.views.get(name).keys()].sort(),
          refsOf(node),
          `seed ${seed}: ${name}'s events add up to its list`,
        );
        assert.deepEqual(
          node.peers().map((p) => [p.replica.name, p.down]),
          sim.names().filter((n) => n !== name).map((n) => [n, false]),
        );
      }
      sim.free();
    }
    assert.ok(divergedUnderFaults > 0, "the faults left some nodes apart for the protocol to repair");
  });

  test("a removal whose delta was lost is repaired though its owner changes nothing after", () => {
    const sim = new Sim(11, ["a", "b"]);
    sim.run(500);
    const a = sim.node("a");
    const b = sim.node("b");
    a.track("room:0", "alice", "p0", { v: 1 });
    a.track("room:0", "bob", "p1", { v: 1 });
    sim.flush("a");
    sim.run(300);
    assert.equal(b.topicSize("room:0"), 2);

    a.untrack("room:0", "alice", "p0");
    sim.flush("a");
    // The broadcast that carries the removal never reaches b.
    sim.block.add("a>b");
    const due = a.nextTimeout();
    sim.run(due - sim.now + 1);
    sim.block.delete("a>b");
    assert.equal(b.getByKey("room:0", "alice").length, 1, "b missed the removal");

    // a stays idle: only heartbeats, whose digest shows b the seal it lacks.
    sim.run(1_000);
    assert.deepEqual(b.getByKey("room:0", "alice"), []);
    assert.deepEqual(b.list("room:0"), a.list("room:0"));
    assert.deepEqual([...sim.views.get("b").keys()].sort(), refsOf(b));
    sim.free();
  });

  test("a silent node is marked down after the down period, then up when heard again", () => {
    const sim = new Sim(21, ["a", "b", "c"]);
    sim.node("c").track("room:1", "carol", "p0", { here: true });
    sim.flush("c");
    sim.run(500);
    for (const name of ["a", "b"]) assert.equal(sim.node(name).topicSize("room:1"), 1);

    sim.cut.add("c");
    const silentFrom = sim.now;
    sim.run(1_400);
    for (const name of ["a", "b"]) {
      const down = sim.peerEvents.find((e) => e.node === name && e.peer === "c" && e.status === "down");
      assert.ok(down, `${name} marked c down`);
      assert.ok(down.at - silentFrom >= CONFIG.downPeriodMs - 200, "not before the down period");
      assert.equal(sim.node(name).topicSize("room:1"), 0, `${name} hides c's presences`);
      assert.equal(sim.views.get(name).size, 0, `${name} reported the leave`);
      assert.equal(sim.node(name).peers().find((p) => p.replica.name === "c").down, true);
    }
    assert.equal(sim.node("c").topicSize("room:1"), 1, "c keeps its own presences");

    sim.cut.delete("c");
    sim.run(500);
    for (const name of ["a", "b"]) {
      assert.ok(sim.peerEvents.some((e) => e.node === name && e.peer === "c" && e.status === "up"));
      assert.equal(sim.node(name).topicSize("room:1"), 1, `${name} shows c's presences again`);
      assert.deepEqual(sim.node(name).list("room:1"), sim.node("c").list("room:1"));
    }
    sim.free();
  });

  test("stop() sends a goodbye: peers remove the node at once", () => {
    const sim = new Sim(31, ["a", "b"]);
    sim.node("b").track("room:0", "bob", "p0", {});
    sim.flush("b");
    sim.run(300);
    assert.equal(sim.node("a").size, 1);
    sim.node("b").stop();
    assert.equal(sim.node("b").stopped, true);
    assert.equal(sim.node("b").nextTimeout(), null);
    sim.flush("b");
    sim.run(10);
    assert.equal(sim.node("a").size, 0);
    assert.ok(sim.peerEvents.some((e) => e.node === "a" && e.peer === "b" && e.status === "removed"));
    assert.deepEqual(sim.node("a").peers(), []);
    sim.free();
  });

  test("a hostile message is refused with DecodeError and changes nothing", () => {
    const sim = new Sim(41, ["a", "b"]);
    sim.node("b").track("room:0", "bob", "p0", { v: 1 });
    sim.flush("b");
    sim.run(300);
    const a = sim.node("a");
    const before = { list: a.list("room:0"), peers: a.peers(), next: a.nextTimeout(), replicas: a.replicas() };
    const hostile = [
      new Uint8Array([0xb7, 0x52, 1]),
      new Uint8Array(10_000).fill(0xff),
      "",
      "[".repeat(100_000),
      '{"version":1,"type":"delta"}',
      '{"version":1,"type":"heartbeat","from":{"name":"x","incarnation":"1"}}',
    ];
    for (const message of hostile) {
      assert.throws(() => a.receive(sim.now, message), (error) => error instanceof DecodeError && error.code === "decode");
    }
    assert.equal(a.pollTransmit(), null, "nothing to send");
    assert.equal(a.pollEvent(), null, "nothing happened");
    assert.deepEqual(
      { list: a.list("room:0"), peers: a.peers(), next: a.nextTimeout(), replicas: a.replicas() },
      before,
    );
    assert.throws(() => a.receive(sim.now, 42), (error) => error instanceof UsageError);
    sim.run(300);
    assert.equal(a.topicSize("room:0"), 1, "still replicating");
    sim.free();
  });

  test("arguments and settings are checked; freed nodes refuse calls", () => {
    assert.throws(() => new SyncNode("a", { now: 0, config: { downPeriodMs: 10 } }), (e) => e instanceof UsageError && e.code === "invalid_argument" && /down period/.test(e.message));
    assert.throws(() => new SyncNode("a", { now: 0, config: { broadcastInterval: 5 } }), UsageError);
    assert.throws(() => new SyncNode("a", {}), UsageError);
    assert.throws(() => new SyncNode("a", { now: -1 }), UsageError);
    const node = new SyncNode("a", { now: Date.now() });
    assert.match(node.replica.incarnation, /^\d+$/);
    assert.throws(() => node.tick(Number.NaN), UsageError);
    assert.throws(() => node.tick("5"), UsageError);
    assert.throws(() => node.track("t", "k", "p", { phx_ref: 1 }), (e) => e.code === "invalid_input");
    node.track("t", "k", "p", {});
    assert.throws(() => node.track("t", "k", "p", {}), (e) => e.code === "already_tracked");
    assert.throws(() => node.update("t", "k", "q", {}), (e) => e.code === "not_tracked");
    node.free();
    assert.throws(() => node.list("t"), (e) => e instanceof UsageError && e.code === "freed");
    node.free();
    const scoped = new SyncNode("b", { now: 0 });
    scoped[Symbol.dispose]();
    assert.throws(() => scoped.size, UsageError);
  });

  test("reads hand out frozen presences, the same objects as earlier reads, in fresh arrays", () => {
    const node = new SyncNode("a", { now: 0, incarnation: "1" });
    node.track("t", "k", "p1", { n: { deep: [1] } });
    node.track("t", "k", "p2", { n: 2 });
    const first = node.list("t");
    const second = node.list("t");
    assert.notEqual(first, second);
    assert.deepStrictEqual(first, second);
    const [p1, p2] = second[0].presences;
    assert.equal(p1, first[0].presences[0]);
    assert.equal(p2, node.getByKey("t", "k")[1]);
    for (const frozen of [p1, p1.meta, p1.meta.n.deep, p1.replica]) assert.ok(Object.isFrozen(frozen));
    assert.ok(!Object.isFrozen(first) && !Object.isFrozen(first[0].presences));
    const left = node.untrack("t", "k", "p1").leaves[0];
    assert.deepStrictEqual(left, p1);
    assert.deepStrictEqual(node.getByKey("t", "k"), [p2]);
    node.update("t", "k", "p2", { n: 3 });
    assert.deepStrictEqual(node.list("t")[0].presences.map((p) => p.meta), [{ n: 3 }]);
    node.free();
  });

  test("the host may call the node while handling its events", () => {
    const node = new SyncNode("a", { now: 0, incarnation: "1" });
    node.track("t", "k", "p0", {});
    const seen = [];
    for (let event = node.pollEvent(); event !== null; event = node.pollEvent()) {
      for (const join of event.diff.joins) {
        seen.push(join.pid);
        assert.equal(node.getByKey("t", "k").length >= 1, true);
        if (join.pid === "p0") node.track("t", "k", "p1", {});
      }
    }
    assert.deepEqual(seen, ["p0", "p1"]);
    const first = node.pollTransmit();
    assert.equal(first.to, null);
    assert.ok(first.bytes instanceof Uint8Array);
    node.free();
  });

  test("diffs encode as Phoenix payloads with the metas' exact text", () => {
    const node = new SyncNode("a", { now: 0, incarnation: "1" });
    node.track("t", "k", "p", { v: 1 });
    const event = node.pollEvent();
    assert.equal(event.type, "diff");
    assert.match(node.encodeDiff(event.diff, "t"), /^\{"joins":\{"k":\{"metas":\[\{"v":1,"phx_ref":"/);
    assert.match(node.presenceState("t"), /"k":\{"metas"/);
    node.free();
  });

  test("the golden replication messages of tests/vectors are received as PresenceState merges them", () => {
    const scenarios = readJson(resolve(vectorsDir, "scenarios.json"));
    let checked = 0;
    for (const scenario of scenarios) {
      if (scenario.message.type !== "delta") continue;
      const bytes = new Uint8Array(readFileSync(resolve(vectorsDir, "replication", `${scenario.name}.bin`)));
      const node = new SyncNode("observer", { now: 0, incarnation: "5" });
      const state = new PresenceState("observer", { incarnation: "5" });
      node.receive(1, bytes);
      state.merge(bytes);
      for (const topic of node.topics()) assert.deepEqual(node.list(topic), state.list(topic), scenario.name);
      assert.deepEqual(node.topics(), state.topics());
      assert.ok(node.peers().some((p) => p.replica.name === scenario.message.from), "the sender is a peer");
      node.free();
      state.free();
      checked += 1;
    }
    assert.ok(checked > 0, "some scenarios end with a delta");
  });

  test("works where FinalizationRegistry is missing", () => {
    const result = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `
        delete globalThis.FinalizationRegistry;
        const { SyncNode } = await import("beryl-presence");
        const a = new SyncNode("a", { now: 0 });
        const b = new SyncNode("b", { now: 0 });
        a.track("t", "k", "p", {});
        a.tick(a.nextTimeout());
        for (let m = a.pollTransmit(); m; m = a.pollTransmit()) b.receive(1500, m.bytes);
        console.log(b.size);
        a.free(); b.free();
      `,
      ],
      { cwd: projectDir, encoding: "utf8" },
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "1");
  });
});

/** The native engine of wasm/examples/sync_peer.rs, one command and one JSON answer at a time. */
async function nativePeer(name, incarnation) {
  const build = spawnSync("cargo", ["build", "-q", "-p", "beryl-wasm", "--example", "sync_peer"], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  assert.equal(build.status, 0, build.stderr);
  const child = spawn(
    "cargo",
    ["run", "-q", "-p", "beryl-wasm", "--example", "sync_peer", "--", name, incarnation, JSON.stringify(CONFIG)],
    { cwd: repoRoot, stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async ask(...fields) {
      child.stdin.write(`${fields.join("\t")}\n`);
      const { value, done } = await lines.next();
      assert.ok(!done, "the native peer answered");
      return JSON.parse(value);
    },
    close() {
      child.stdin.end();
      return new Promise((done) => child.on("close", done));
    },
  };
}

test("a SyncNode replicates with the native engine, repairing a lost removal", async () => {
  const native = await nativePeer("native", "2000");
  const node = new SyncNode("js", { now: 0, incarnation: "1000", config: CONFIG });
  const random = rng(99);
  let dropping = true;
  const toNative = [];
  const toJs = [];
  const take = (answer) => {
    for (const [to, payload] of answer.tx) {
      assert.ok(to === null || to === "js");
      toJs.push(new Uint8Array(Buffer.from(payload, "hex")));
    }
  };
  const drainJs = () => {
    for (let out = node.pollTransmit(); out !== null; out = node.pollTransmit()) {
      assert.ok(out.to === null || out.to === "native");
      toNative.push(out.bytes);
    }
    while (node.pollEvent() !== null);
  };
  try {
    node.track("room:0", "alice", "p0", { side: "js" });
    node.track("room:0", "carol", "p2", { side: "js" });
    take(await native.ask("track", "room:0", "bob", "p1", '{"side":"native"}'));
    take(await native.ask("track", "room:1", "dave", "p3", '{"side":"native"}'));
    for (let now = 0; now <= 4_000; now += 10) {
      if (now === 1_000) node.untrack("room:0", "alice", "p0");
      if (now === 1_200) take(await native.ask("untrack", "room:1", "dave", "p3"));
      // Until 2 s, a third of the messages each way are lost, and the broadcasts that carry the
      // two removals (made at 1000 and 1200) always are.
      if (now === 2_000) dropping = false;
      const due = node.nextTimeout();
      if (due !== null && due <= now) node.tick(now);
      drainJs();
      take(await native.ask("tick", String(now)));
      for (const bytes of toNative.splice(0)) {
        if (now === 1_000 || (dropping && random.chance(0.34))) continue;
        take(await native.ask("recv", String(now), hex(bytes)));
      }
      for (const bytes of toJs.splice(0)) {
        if (now === 1_200 || (dropping && random.chance(0.34))) continue;
        node.receive(now, bytes);
      }
      drainJs();
      // Checked before the next heartbeat shows the gap.
      if (now === 1_050) {
        const alice = (await native.ask("list", "room:0")).list.filter((g) => g.key === "alice");
        assert.equal(alice.length, 1, "the native peer missed the removal of alice");
      }
      if (now === 1_250) {
        assert.equal(node.topicSize("room:1"), 1, "the SyncNode missed the removal of dave");
      }
    }
    for (const topic of ["room:0", "room:1"]) {
      const nativeList = (await native.ask("list", topic)).list;
      assert.deepEqual(node.list(topic), nativeList, topic);
    }
    const pids = node.list("room:0").flatMap((g) => g.presences.map((p) => `${p.pid}:${p.meta.side}`));
    assert.deepEqual(pids.sort(), ["p1:native", "p2:js"]);
    assert.deepEqual(node.list("room:1"), []);
  } finally {
    node.free();
    await native.close();
  }
});
