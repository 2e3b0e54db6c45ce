// Load benchmark of `beryl serve`: N WebSocket clients on loopback against one server.
//
//   scripts/bench-server.sh            (builds the release binary, then runs this)
//   BENCH_CLIENTS=2000 BENCH_ROUNDS=30 BERYL_BIN=target/release/beryl node bench.js
//
// Prints join throughput, the time until the join storm's diffs reached every client, and the
// latency from a track to the arrival of its presence_diff at every subscriber (p50/p99).
// Clients speak the V2 protocol by hand (no phoenix.js Presence, whose per-client state would
// dominate the measurement); all of them run in this one Node process, so the figures include
// this process reading every frame on the same 2 cores as the server.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

import WebSocket from "ws";

import { startServer } from "./harness.js";

const N = Number(process.env.BENCH_CLIENTS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const TOPIC = "room:bench";
const CONNECT_BATCH = 200;

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

const ms = (value) => `${value.toFixed(1)} ms`;

class Client {
  constructor(index, socketUrl) {
    this.index = index;
    this.key = `user-${index}`;
    this.ws = new WebSocket(`${socketUrl}/websocket?vsn=2.0.0`, { perMessageDeflate: false });
    this.frames = 0;
    this.watch = null;
    this.replies = new Map();
    this.ws.on("message", (data) => this.receive(data.toString()));
  }

  opened() {
    return new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
  }

  receive(text) {
    this.frames += 1;
    if (text.includes('"phx_reply"')) {
      const [, ref, , , payload] = JSON.parse(text);
      this.replies.get(ref)?.(payload);
      this.replies.delete(ref);
      return;
    }
    if (this.watch !== null && text.includes(this.watch.needle)) {
      const watch = this.watch;
      this.watch = null;
      watch.arrived(performance.now());
    }
  }

  request(frame) {
    return new Promise((resolve) => {
      this.replies.set(frame[1], resolve);
      this.ws.send(JSON.stringify(frame));
    });
  }

  join(topic, key, joinRef) {
    return this.request([joinRef, joinRef, topic, "phx_join", { key, meta: { index: this.index } }]);
  }

  /** Resolves with the arrival time of the next frame containing `needle`. */
  expect(needle) {
    return new Promise((arrived) => {
      this.watch = { needle, arrived };
    });
  }
}

async function main() {
  const server = await startServer({
    node: "bench",
    // Every client comes from 127.0.0.1: the per-address cap must admit them all.
    args: [
      "--heartbeat-timeout-ms",
      "600000",
      "--max-connections",
      String(N + 1_000),
      "--max-connections-per-peer",
      String(N + 1_000),
    ],
  });
  const rss = () => {
    const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  };
  try {
    console.log(`beryl server load benchmark: ${N} WebSocket clients on loopback, one server (${process.env.BERYL_BIN ?? "target/debug/beryl"})`);
    const clients = [];
    for (let start = 0; start < N; start += CONNECT_BATCH) {
      const batch = [];
      for (let i = start; i < Math.min(N, start + CONNECT_BATCH); i += 1) {
        batch.push(new Client(i, server.socketUrl));
      }
      await Promise.all(batch.map((client) => client.opened()));
      clients.push(...batch);
    }
    const rssIdle = rss();

    // Join throughput: every client joins at once; each reply is ok, then its presence_state.
    const joinStart = performance.now();
    const replies = await Promise.all(clients.map((client) => client.join(TOPIC, client.key, "1")));
    const joinSeconds = (performance.now() - joinStart) / 1_000;
    const refused = replies.filter((reply) => reply.status !== "ok").length;
    if (refused > 0) throw new Error(`${refused} joins refused`);
    console.log(`joins: ${N} in ${joinSeconds.toFixed(2)} s = ${Math.round(N / joinSeconds)} joins/s (reply ok received by each client)`);

    const probe = new Client(-1, server.socketUrl);
    await probe.opened();

    // A marker track after the storm: a client that sees it has every earlier diff too, since
    // each socket's frames are delivered in order.
    const settle = clients.map((client) => client.expect('"joins":{"settled"'));
    await probe.join(TOPIC, "settled", "s");
    const settledAt = Math.max(...(await Promise.all(settle)));
    const diffFrames = clients.reduce((sum, client) => sum + client.frames, 0);
    console.log(
      `join storm: ${diffFrames} frames delivered; every client up to date ${((settledAt - joinStart) / 1_000).toFixed(2)} s after the first join`,
    );
    await probe.request(["s", "s-leave", TOPIC, "phx_leave", {}]);
    await Promise.all(clients.map((client) => client.expect('"leaves":{"settled"')));

    // Fan-out latency: a track (a join of a new key) until its presence_diff reaches each
    // subscriber; then an untrack, waited for, before the next round.
    const samples = [];
    const lastArrivals = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const key = `probe-${round}`;
      const arrivals = clients.map((client) => client.expect(`"joins":{"${key}"`));
      const sent = performance.now();
      const joinRef = `p${round}`;
      probe.ws.send(JSON.stringify([joinRef, joinRef, TOPIC, "phx_join", { key }]));
      const times = (await Promise.all(arrivals)).map((at) => at - sent);
      samples.push(...times);
      lastArrivals.push(Math.max(...times));
      const gone = clients.map((client) => client.expect(`"leaves":{"${key}"`));
      probe.ws.send(JSON.stringify([joinRef, `${joinRef}-leave`, TOPIC, "phx_leave", {}]));
      await Promise.all(gone);
    }
    samples.sort((a, b) => a - b);
    lastArrivals.sort((a, b) => a - b);
    console.log(`track -> presence_diff arrival, ${ROUNDS} tracks x ${N} subscribers (${samples.length} samples):`);
    console.log(`  per subscriber:        p50 ${ms(percentile(samples, 50))}  p99 ${ms(percentile(samples, 99))}  max ${ms(samples[samples.length - 1])}`);
    console.log(`  until every subscriber: p50 ${ms(percentile(lastArrivals, 50))}  p99 ${ms(percentile(lastArrivals, 99))}`);
    console.log(`server memory (RSS): ${rssIdle.toFixed(0)} MiB with ${N} idle sockets, ${rss().toFixed(0)} MiB with ${N} presences`);

    for (const client of [...clients, probe]) client.ws.terminate();
  } finally {
    await server.stop();
  }
}

await main();
