// The check the workerd and Deno tests run inside those runtimes: every replication scenario
// of tests/vectors replayed through the package, compared with the golden bytes and text, plus
// a refused message. Returns a summary line; throws on the first difference.
import { DecodeError, PresenceState } from "beryl-presence";
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
  return `${vectors.scenarios.length} scenarios ok`;
}
