// Workloads W1-W4 of the core benchmark against the built package in Node, printed next to the
// same workloads run natively through the same facade (wasm/examples/workloads.rs). Prints
// figures; asserts nothing. Each workload first runs once untimed, on both sides, so the figures
// are the steady state a long-lived process sees, not V8 compiling the code as it goes.
//
//   npm run bench             (BENCH_NO_1M=1 skips the 1M-presence replica)
import { spawnSync } from "node:child_process";
import { PresenceState } from "beryl-presence";
import { repoRoot } from "../test/helpers.mjs";

const with1m = !process.env.BENCH_NO_1M;
const meta = (i) => ({ status: "online", joined_at: i });
let states = 0;
const fresh = (name) => new PresenceState(`${name}-${states++}`, { incarnation: "1" });

function tracked(name, n) {
  const state = fresh(name);
  for (let i = 0; i < n; i += 1) state.track(`room:${i % 10_000}`, `user:${i}`, `pid:${i}`, meta(i));
  state.takeDelta();
  return state;
}

function holding(n) {
  const source = tracked("source", n);
  const state = fresh("bench");
  state.merge(source.fullState());
  return { state, source };
}

/** Times `rounds` merges; `at` ({ next, oldest }: the next user to join and to leave) moves on. */
function churn(state, source, at, joins, leaves, rounds) {
  let { next, oldest } = at;
  let seconds = 0;
  for (let round = 0; round < rounds; round += 1) {
    for (let j = 0; j < joins; j += 1, next += 1) {
      source.track(`room:${next % 10_000}`, `user:${next}`, `pid:${next}`, meta(next));
    }
    for (let l = 0; l < leaves; l += 1, oldest += 1) {
      source.untrack(`room:${oldest % 10_000}`, `user:${oldest}`, `pid:${oldest}`);
    }
    const delta = source.takeDelta();
    const started = performance.now();
    state.merge(delta);
    seconds += (performance.now() - started) / 1000;
    if (leaves === 0) {
      for (let i = next - joins; i < next; i += 1) {
        source.untrack(`room:${i % 10_000}`, `user:${i}`, `pid:${i}`);
      }
      state.merge(source.takeDelta());
    }
  }
  Object.assign(at, { next, oldest });
  return rounds / seconds;
}

function wasmFigures() {
  const out = {};
  tracked("w1-warm-up", 100_000).free();
  let started = performance.now();
  const w1 = tracked("w1", 100_000);
  out["W1 track (tracks/s)"] = 100_000 / ((performance.now() - started) / 1000);

  const full = w1.fullState();
  const warmUp = fresh("w2-warm-up");
  warmUp.merge(full);
  warmUp.free();
  const target = fresh("w2");
  started = performance.now();
  target.merge(full);
  out["W2 merge full state (presences/s)"] = 100_000 / ((performance.now() - started) / 1000);
  w1.free();
  target.free();

  let { state, source } = holding(200_000);
  let at = { next: 200_000, oldest: 0 };
  churn(state, source, at, 50, 50, 50);
  out["W3 100-op delta into 200k (deltas/s)"] = churn(state, source, at, 50, 50, 200);
  state.free();
  source.free();
  for (const size of with1m ? [1_000, 100_000, 1_000_000] : [1_000, 100_000]) {
    ({ state, source } = holding(size));
    const label = { 1000: "1k", 100000: "100k", 1000000: "1M" }[size];
    at = { next: size, oldest: 0 };
    churn(state, source, at, 1, 0, 1_000);
    out[`W3 1-join delta into ${label} (deltas/s)`] = churn(state, source, at, 1, 0, 1_000);
    state.free();
    source.free();
  }

  const w4 = tracked("w4", 199_000);
  for (let i = 1_000_000; i < 1_001_000; i += 1) w4.track("room:lobby", `user:${i}`, `pid:${i}`, meta(i));
  const rounds = 2_000;
  for (let r = 0; r < rounds / 10; r += 1) w4.list("room:lobby");
  started = performance.now();
  for (let r = 0; r < rounds; r += 1) w4.list("room:lobby");
  out["W4 list 1,000 of 200k (lists/s)"] = rounds / ((performance.now() - started) / 1000);
  w4.free();
  return out;
}

function nativeFigures() {
  const args = ["run", "-q", "--release", "-p", "beryl-wasm", "--example", "workloads"];
  if (!with1m) args.push("--", "--no-1m");
  const result = spawnSync("cargo", args, { cwd: repoRoot, encoding: "utf8", maxBuffer: 1 << 24 });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout.trim().split("\n").at(-1));
}

const native = nativeFigures();
const wasm = wasmFigures();
const fmt = (n) => (n === undefined ? "-" : Math.round(n).toLocaleString("en-US"));
console.log(`${"workload".padEnd(40)} ${"native".padStart(12)} ${"wasm".padStart(12)}  wasm/native`);
for (const name of Object.keys(wasm)) {
  const ratio = native[name] ? (wasm[name] / native[name]).toFixed(2) : "-";
  console.log(`${name.padEnd(40)} ${fmt(native[name]).padStart(12)} ${fmt(wasm[name]).padStart(12)}  ${ratio}`);
}
console.log("(native: the same facade compiled natively; core-only figures: cargo bench -p beryl-core --bench presence)");
