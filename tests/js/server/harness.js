// Starting `beryl serve` processes and connecting clients to them, for the end-to-end tests.
// Servers listen on port 0 (the kernel picks a free one) and print their address; every server
// started here is killed when the test process exits, whatever the outcome.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { Presence, Socket } from "phoenix";
import WebSocket from "ws";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BERYL = process.env.BERYL_BIN ?? path.join(ROOT, "target/debug/beryl");
export const OUT_DIR = path.join(ROOT, "tests/out/server");
export const PACKAGE_DIR = path.join(ROOT, "pkg");

const running = new Set();
process.on("exit", () => {
  for (const child of running) {
    child.kill("SIGKILL");
  }
});

/** Starts `beryl serve` on a free loopback port; resolves once it prints its address. */
export async function startServer({ node, redis, namespace, args = [] } = {}) {
  if (!existsSync(BERYL)) {
    throw new Error(`${BERYL} does not exist: build it with cargo build -p beryl-native --bin beryl`);
  }
  const argv = ["serve", "--listen", "127.0.0.1:0", "--package-dir", PACKAGE_DIR];
  if (node !== undefined) argv.push("--node", node);
  if (redis !== undefined) argv.push("--redis", redis);
  if (namespace !== undefined) argv.push("--redis-namespace", namespace);
  argv.push(...args);
  const child = spawn(BERYL, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  running.add(child);
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const address = await new Promise((resolve, reject) => {
    let stdout = "";
    const onData = (chunk) => {
      stdout += chunk;
      const match = /listening on http:\/\/([0-9.]+:[0-9]+)\//.exec(stdout);
      if (match) {
        child.stdout.off("data", onData);
        child.stdout.resume();
        resolve(match[1]);
      }
    };
    child.stdout.on("data", onData);
    exited.then(({ code, signal }) =>
      reject(new Error(`beryl serve exited (${code ?? signal}) before listening:\n${stderr}`)),
    );
  });
  return {
    node,
    address,
    url: `http://${address}/`,
    socketUrl: `ws://${address}/socket`,
    child,
    exited,
    stderr: () => stderr,
    /** A graceful stop (SIGTERM): the node says goodbye to its peers. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
      }
      return exited;
    },
    /** A crash (SIGKILL): the peers only notice by silence. */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
      }
      return exited;
    },
  };
}

/** Polls `probe` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor(probe, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what} (last: ${describe(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function describe(value) {
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** An unmodified phoenix.js Socket over the `ws` package. */
export function connect(server, params = {}) {
  const socket = new Socket(server.socketUrl, {
    transport: WebSocket,
    params,
    heartbeatIntervalMs: 5_000,
    reconnectAfterMs: () => 100,
    rejoinAfterMs: () => 100,
    timeout: 5_000,
  });
  socket.connect();
  return socket;
}

/**
 * Joins `topic` with phoenix.js's Channel and Presence. `names()` lists the keys present,
 * `metas(key)` their metas; `events` records every presence frame received.
 */
export async function joinRoom(socket, topic, params) {
  const channel = socket.channel(topic, params);
  const presence = new Presence(channel);
  const events = { states: 0, diffs: [] };
  channel.on("presence_state", () => {
    events.states += 1;
  });
  channel.on("presence_diff", (diff) => {
    events.diffs.push(diff);
  });
  await new Promise((resolve, reject) => {
    channel
      .join()
      .receive("ok", resolve)
      .receive("error", (reply) => reject(new Error(`join refused: ${JSON.stringify(reply)}`)))
      .receive("timeout", () => reject(new Error("join timed out")));
  });
  const names = () => presence.list((key) => key).sort();
  const metas = (key) => presence.list((id, { metas }) => (id === key ? metas : null)).find(Boolean) ?? [];
  return { channel, presence, events, names, metas };
}

/** Pushes on a channel and resolves with the reply status and response. */
export function push(channel, event, payload) {
  return new Promise((resolve, reject) => {
    channel
      .push(event, payload)
      .receive("ok", (response) => resolve({ status: "ok", response }))
      .receive("error", (response) => resolve({ status: "error", response }))
      .receive("timeout", () => reject(new Error(`${event} timed out`)));
  });
}

/** A raw WebSocket speaking the V2 protocol by hand, for input phoenix.js never sends. */
export async function rawSocket(server) {
  const ws = new WebSocket(`${server.socketUrl}/websocket?vsn=2.0.0`);
  const frames = [];
  const waiters = [];
  const closed = new Promise((resolve) => {
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on("message", (data, isBinary) => {
    frames.push(isBinary ? data : JSON.parse(data.toString()));
    for (const waiter of [...waiters]) waiter();
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return {
    ws,
    frames,
    closed,
    send(frame) {
      ws.send(typeof frame === "string" || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
    },
    /** The first frame (from now or already received) matching `predicate`. */
    next(predicate, what = "a frame") {
      return waitFor(() => frames.find(predicate), what);
    },
    reply(ref) {
      return waitFor(
        () => frames.find((f) => Array.isArray(f) && f[1] === ref && f[3] === "phx_reply"),
        `the reply to ref ${ref}`,
      );
    },
  };
}

/** The built beryl-presence package for Node, or null when it has not been built. */
export async function loadPackage() {
  const entry = path.join(PACKAGE_DIR, "dist/node.js");
  if (!existsSync(entry)) return null;
  return import(pathToFileURL(entry).href);
}

export function outputDir() {
  mkdirSync(OUT_DIR, { recursive: true });
  return OUT_DIR;
}
