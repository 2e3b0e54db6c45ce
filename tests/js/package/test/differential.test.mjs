// Differential test: seeded random operation sequences run on the native core (the Rust
// example wasm/examples/differential.rs prints the operations and every result) and on the
// built package here; after every step the diffs, the encoded messages, the Phoenix payloads
// and every replica's whole visible state must be identical. Zero divergence is the only pass.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { JsonText, PresenceState } from "beryl-presence";
import { hex, repoRoot } from "./helpers.mjs";

const SEQUENCES = Number(process.env.BERYL_DIFF_SEQUENCES ?? 1000);
const REPLICAS = [
  ["node-a", "111411200000010775"],
  ["node-b", "111411200000076311"],
  ["node-c", "111411200000141847"],
];
const TOPICS = ["room:0", "room:1", "lobby é"];

function nativeRuns() {
  const result = spawnSync(
    "cargo",
    ["run", "-q", "-p", "beryl-wasm", "--example", "differential", "--", "0", String(SEQUENCES)],
    { cwd: repoRoot, encoding: "utf8", maxBuffer: 1 << 30 },
  );
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split("\n").filter((line) => line.length > 0);
}

function outcome(action) {
  try {
    return { diff: action() };
  } catch (error) {
    if (typeof error?.code !== "string") throw error;
    return { error: error.code };
  }
}

function snapshot(states) {
  let out = "";
  for (const state of states) {
    for (const topic of TOPICS) out += `${state.presenceState(topic)}|`;
    out += `${JSON.stringify(state.replicas())}|${JSON.stringify(state.topics())}|${state.size};`;
  }
  return out;
}

function toBytes(text) {
  return new Uint8Array(Buffer.from(text, "hex"));
}

function replay(run) {
  const states = REPLICAS.map(([name, incarnation]) => new PresenceState(name, { incarnation }));
  try {
    run.steps.forEach((expected, index) => {
      const where = `seed ${run.seed}, step ${index}: ${JSON.stringify(expected.op)}`;
      const { op } = expected;
      const state = states[op.r];
      switch (op.op) {
        case "track":
          assert.deepEqual(outcome(() => state.track(op.topic, op.key, op.pid, new JsonText(op.meta)).diff), expected.result, where);
          break;
        case "update":
          assert.deepEqual(outcome(() => state.update(op.topic, op.key, op.pid, new JsonText(op.meta)).diff), expected.result, where);
          break;
        case "untrack":
          assert.deepEqual(outcome(() => state.untrack(op.topic, op.key, op.pid)), expected.result, where);
          break;
        case "untrackAll":
          assert.deepEqual(outcome(() => state.untrackAll(op.pid)), expected.result, where);
          break;
        case "broadcast": {
          const message = state.takeDelta(op.json ? "json" : "binary");
          const encoded = message === null ? "" : hex(op.json ? Buffer.from(message, "utf8") : message);
          assert.equal(encoded, expected.message, `${where}: encoded delta`);
          const diffs = [];
          [0, 1, 2].filter((t) => t !== op.r).forEach((target, position) => {
            if (message !== null && (op.mask & (1 << position)) !== 0) {
              diffs.push(states[target].merge(message));
            }
          });
          assert.deepEqual(diffs, expected.diffs, `${where}: merge diffs`);
          break;
        }
        case "repair": {
          const request = state.stateRequest(states[op.from].replica);
          assert.equal(hex(request), expected.request, `${where}: request`);
          const reply = states[op.from].answer(request);
          assert.equal(reply === null ? "" : hex(reply), expected.reply, `${where}: reply`);
          const diff = state.merge(reply ?? toBytes(""));
          assert.deepEqual([diff], expected.diffs, `${where}: merge diff`);
          break;
        }
        case "liveness": {
          const replica = states[op.of].replica;
          const apply = {
            down: () => state.replicaDown(replica),
            up: () => state.replicaUp(replica),
            removed: () => state.removeReplica(replica),
          }[op.status];
          assert.deepEqual(outcome(apply), expected.result, where);
          break;
        }
        default:
          throw new Error(`unknown op ${op.op}`);
      }
      assert.equal(state.presenceState(expected.topic), expected.presenceState, `${where}: presence_state`);
      assert.equal(snapshot(states), expected.snapshot, `${where}: states`);
    });
  } finally {
    for (const state of states) state.free();
  }
}

test(`${SEQUENCES} seeded sequences: native core and package never diverge`, () => {
  const runs = nativeRuns();
  assert.equal(runs.length, SEQUENCES);
  let steps = 0;
  for (const line of runs) {
    const run = JSON.parse(line);
    replay(run);
    steps += run.steps.length;
  }
  console.log(`differential: ${runs.length} sequences, ${steps} steps, 0 divergences`);
});
