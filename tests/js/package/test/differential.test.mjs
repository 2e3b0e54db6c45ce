// Differential test: seeded random operation sequences run on the native core (the Rust
// example wasm/examples/differential.rs prints the operations, every result and what every
// replica shows) and on the built package here. After every step, every replica's whole
// observable state is compared in full: list() of every topic and getByKey() of every
// (topic, key) (pid, key, meta, refs, phxRefPrev, replica), topics, counts, replica records and
// verdicts, Phoenix states, and the encoded bytes of every message kind (delta, heartbeat
// digest, full state, repair request and reply, liveness, goodbye); so are the step's diffs and
// their presence_diff payloads. Zero divergence is the only pass.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
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
const KEYS = ["alice", "bob", "carol", 'dave"q'];
const STATUSES = ["up", "down", "removed"];

/** The native side's lines, one sequence each, streamed as the example prints them. */
async function* nativeRuns() {
  const child = spawn(
    "cargo",
    ["run", "-q", "--release", "-p", "beryl-wasm", "--example", "differential", "--", "0", String(SEQUENCES)],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((done) => child.on("close", (code) => done(code)));
  for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
    if (line.length > 0) yield JSON.parse(line);
  }
  assert.equal(await exited, 0, stderr);
}

/** What a call returning a diff gave: the diff and its presence_diff payload, or the error. */
function outcome(state, topic, action) {
  let diff;
  try {
    diff = action();
  } catch (error) {
    if (typeof error?.code !== "string") throw error;
    return { error: error.code };
  }
  return { diff, payload: state.encodeDiff(diff, topic) };
}

/** Everything replica `index` shows, built exactly as the native example's `observe`. */
function observe(states, index) {
  const state = states[index];
  const others = states.filter((_, other) => other !== index).map((other) => other.replica);
  const counter = state.localCounter();
  return {
    lists: TOPICS.map((topic) => state.list(topic)),
    byKey: TOPICS.map((topic) => KEYS.map((key) => state.getByKey(topic, key))),
    topics: state.topics(),
    size: state.size,
    topicSizes: TOPICS.map((topic) => state.topicSize(topic)),
    localCounter: counter,
    replicas: state.replicas(),
    statuses: others.map((replica) => state.replicaStatus(replica)),
    presenceStates: TOPICS.map((topic) => state.presenceState(topic)),
    heartbeat: hex(state.heartbeat()),
    heartbeatJson: state.heartbeat("json"),
    fullState: hex(state.fullState()),
    fullStateJson: state.fullState({ format: "json" }),
    fullStateTo: others.map((to) => hex(state.fullState({ to }))),
    localDelta: hex(state.localDeltaSince(Math.floor(counter / 2))),
    localDeltaJson: state.localDeltaSince(Math.floor(counter / 2), "json"),
    stateRequests: others.map((to) => hex(state.stateRequest(to))),
    liveness: others.flatMap((replica) => STATUSES.map((status) => hex(state.liveness(replica, status)))),
    goodbye: hex(state.goodbye()),
    goodbyeJson: state.goodbye("json"),
  };
}

function encoded(message) {
  if (message === null) return "";
  return typeof message === "string" ? Buffer.from(message, "utf8").toString("hex") : hex(message);
}

/** Replays one sequence; returns how many replica observations were compared. */
function replay(run) {
  const states = REPLICAS.map(([name, incarnation]) => new PresenceState(name, { incarnation }));
  // The native observation of each replica, as the text JSON.stringify gives for it.
  const expected = REPLICAS.map(() => "");
  let compared = 0;
  try {
    run.steps.forEach((step, index) => {
      const where = `seed ${run.seed}, step ${index}: ${JSON.stringify(step.op)}`;
      const { op } = step;
      const state = states[op.r];
      switch (op.op) {
        case "track":
          assert.deepEqual(outcome(state, op.topic, () => state.track(op.topic, op.key, op.pid, new JsonText(op.meta)).diff), step.result, where);
          break;
        case "update":
          assert.deepEqual(outcome(state, op.topic, () => state.update(op.topic, op.key, op.pid, new JsonText(op.meta)).diff), step.result, where);
          break;
        case "untrack":
          assert.deepEqual(outcome(state, op.topic, () => state.untrack(op.topic, op.key, op.pid)), step.result, where);
          break;
        case "untrackAll":
          assert.deepEqual(outcome(state, op.topic, () => state.untrackAll(op.pid)), step.result, where);
          break;
        case "broadcast": {
          const message = state.takeDelta(op.json ? "json" : "binary");
          assert.equal(encoded(message), step.message, `${where}: encoded delta`);
          const merges = [];
          [0, 1, 2].filter((t) => t !== op.r).forEach((target, position) => {
            if (message !== null && (op.mask & (1 << position)) !== 0) {
              merges.push(outcome(states[target], op.topic, () => states[target].merge(message)));
            }
          });
          assert.deepEqual(merges, step.merges, `${where}: merges`);
          break;
        }
        case "repair": {
          const format = op.json ? "json" : "binary";
          const request = state.stateRequest(states[op.from].replica, format);
          assert.equal(encoded(request), step.request, `${where}: request`);
          const reply = states[op.from].answer(request);
          assert.equal(encoded(reply), step.reply, `${where}: reply`);
          const merges = reply === null ? [] : [outcome(state, op.topic, () => state.merge(reply))];
          assert.deepEqual(merges, step.merges, `${where}: merge of the reply`);
          break;
        }
        case "liveness": {
          const replica = states[op.of].replica;
          const apply = {
            down: () => state.replicaDown(replica),
            up: () => state.replicaUp(replica),
            removed: () => state.removeReplica(replica),
          }[op.status];
          assert.deepEqual(outcome(state, op.topic, apply), step.result, where);
          break;
        }
        default:
          throw new Error(`unknown op ${op.op}`);
      }
      assert.equal(step.observed.length, states.length);
      states.forEach((_, replica) => {
        if (step.observed[replica] !== null) expected[replica] = JSON.stringify(step.observed[replica]);
        const actual = observe(states, replica);
        if (JSON.stringify(actual) !== expected[replica]) {
          // Only on a divergence: the structural comparison names what differs.
          assert.deepEqual(actual, JSON.parse(expected[replica]), `${where}: replica ${replica}`);
          assert.fail(`${where}: replica ${replica} differs in key order or number form`);
        }
        compared += 1;
      });
    });
  } finally {
    for (const state of states) state.free();
  }
  return compared;
}

test(`${SEQUENCES} seeded sequences: native core and package never diverge`, async () => {
  let sequences = 0;
  let steps = 0;
  let observations = 0;
  for await (const run of nativeRuns()) {
    observations += replay(run);
    steps += run.steps.length;
    sequences += 1;
  }
  assert.equal(sequences, SEQUENCES);
  assert.ok(SEQUENCES >= 1000 || process.env.BERYL_DIFF_SEQUENCES !== undefined, "at least 1,000 sequences");
  console.log(
    `differential: ${sequences} sequences, ${steps} steps, ${observations} replica states compared in full after every step, 0 divergences`,
  );
});
