// The check the workerd and Deno tests run inside those runtimes: every replication scenario
// of tests/vectors replayed through the package, compared with the golden bytes and text, plus
// a refused message, and two SyncNodes replicating on a simulated clock. Returns a summary
// line; throws on the first difference.
import { DecodeError, PresenceState, SyncNode } from "beryl-presence";
import { Cluster } from "../test/cluster.mjs";

function hex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** `vectors`: `{ scenarios, binaries: {name: hex}, texts: {name: text} }`. */
export function runScenarios(vectors) {
  for (const scenario of vectors.scenarios) {
    const cluster = new Cluster(scenario.replicas);
    for (const step of scenario.steps) cluster.apply(step);
    const binary = hex(cluster.message(scenario.message, "binary"));
    if (binary !== vectors.binaries[scenario.name]) {
      throw new Error(`${scenario.name}: binary differs: ${binary}`);
    }
    const text = cluster.message(scenario.message, "json");
    if (text !== vectors.texts[scenario.name]) {
      throw new Error(`${scenario.name}: JSON differs: ${text}`);
    }
    cluster.free();
  }
  const state = new PresenceState("edge");
  let refused = false;
  try {
    state.merge(new Uint8Array([1, 2, 3]));
  } catch (error) {
    refused = error instanceof DecodeError;
  }
  if (!refused) throw new Error("garbage was not refused with a DecodeError");
  state.track("room:1", "alice", "p1", { status: "online" });
  const seen = [];
  state.onDiff((diff) => seen.push(state.list("room:1").length + diff.joins.length));
  state.track("room:1", "bob", "p2", {});
  if (seen[0] !== 3) throw new Error(`re-entrant handler saw ${seen[0]}`);
  state.free();
  syncNodesReplicate();
  return `${vectors.scenarios.length} scenarios ok`;
}

/** Two SyncNodes on a simulated clock: a track reaches the peer with the next broadcast. */
function syncNodesReplicate() {
  const config = { broadcastIntervalMs: 100, downPeriodMs: 1000 };
  const a = new SyncNode("a", { now: 0, incarnation: "1", config });
  const b = new SyncNode("b", { now: 0, incarnation: "2", config });
  const carry = (from, to, now) => {
    for (let out = from.pollTransmit(); out !== null; out = from.pollTransmit()) to.receive(now, out.bytes);
  };
  a.track("room:1", "alice", "p1", { status: "online" });
  for (let now = 0; now <= 300; now += 50) {
    for (const node of [a, b]) if (node.nextTimeout() <= now) node.tick(now);
    carry(a, b, now);
    carry(b, a, now);
  }
  if (JSON.stringify(b.list("room:1")) !== JSON.stringify(a.list("room:1")) || b.size !== 1) {
    throw new Error(`SyncNode did not replicate: ${JSON.stringify(b.list("room:1"))}`);
  }
  a.free();
  b.free();
}
