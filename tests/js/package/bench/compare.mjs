// Compares two builds of the package on the same machine, runs interleaved (this machine's
// speed drifts by tens of percent; only alternating runs say anything about a change). Prints
// figures; asserts nothing.
//
//   node bench/compare.mjs OLD_PKG_DIR NEW_PKG_DIR [ROUNDS]
//
// Each run, in a fresh process: 100k tracks over 10k topics (ms), merging their full state into
// a fresh state (ms), 3,000 one-join merges (µs each), 500 lists of a 1,000-presence topic (µs
// each). A package dir is what scripts/build-wasm.sh writes to pkg/ (copy it aside first).
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const self = fileURLToPath(import.meta.url);

async function run(dir) {
  const { PresenceState } = await import(pathToFileURL(resolve(dir, "dist/node.js")).href);
  const meta = (i) => ({ status: "online", joined_at: i });
  let started = performance.now();
  const source = new PresenceState("w1", { incarnation: "1" });
  for (let i = 0; i < 100_000; i += 1) source.track(`room:${i % 10_000}`, `user:${i}`, `pid:${i}`, meta(i));
  source.takeDelta();
  const track = performance.now() - started;
  const full = source.fullState();
  const target = new PresenceState("target", { incarnation: "1" });
  started = performance.now();
  target.merge(full);
  const merge = performance.now() - started;
  let next = 100_000;
  let joins = 0;
  for (let round = 0; round < 3_000; round += 1, next += 1) {
    source.track(`room:${next % 10_000}`, `user:${next}`, `pid:${next}`, meta(next));
    const delta = source.takeDelta();
    started = performance.now();
    target.merge(delta);
    joins += performance.now() - started;
    source.untrack(`room:${next % 10_000}`, `user:${next}`, `pid:${next}`);
    target.merge(source.takeDelta());
  }
  for (let i = 0; i < 1_000; i += 1) source.track("room:lobby", `user:l${i}`, `pid:${i}`, meta(i));
  started = performance.now();
  for (let round = 0; round < 500; round += 1) source.list("room:lobby");
  const list = performance.now() - started;
  return { track, merge, join: (joins / 3_000) * 1000, list: (list / 500) * 1000 };
}

if (process.argv[2] === "--run") {
  console.log(JSON.stringify(await run(process.argv[3])));
} else {
  const [oldDir, newDir, roundsText] = process.argv.slice(2);
  if (oldDir === undefined || newDir === undefined) {
    console.error("usage: node bench/compare.mjs OLD_PKG_DIR NEW_PKG_DIR [ROUNDS]");
    process.exit(2);
  }
  const rounds = Number(roundsText ?? 3);
  const fmt = ({ track, merge, join, list }) =>
    `track 100k ${track.toFixed(0).padStart(5)} ms   merge full ${merge.toFixed(0).padStart(4)} ms   ` +
    `1-join merge ${join.toFixed(1).padStart(5)} µs   list 1,000 ${list.toFixed(0).padStart(5)} µs`;
  for (let round = 0; round < rounds; round += 1) {
    for (const [label, dir] of [
      ["old", oldDir],
      ["new", newDir],
    ]) {
      const result = spawnSync(process.execPath, [self, "--run", resolve(dir)], { encoding: "utf8" });
      if (result.status !== 0) throw new Error(result.stderr);
      console.log(`${label}  ${fmt(JSON.parse(result.stdout))}`);
    }
  }
}
