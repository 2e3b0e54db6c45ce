// Bad input on a socket gets an error reply or a close; everyone else keeps being served, and a
// closed socket leaves no presence behind.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { connect, joinRoom, push, rawSocket, startServer, waitFor } from "./harness.js";

let server;
let watcherSocket;
let watcher;

before(async () => {
  server = await startServer({ node: "bad-input-test" });
  watcherSocket = connect(server);
  watcher = await joinRoom(watcherSocket, "room:bad", { key: "watcher" });
});
after(async () => {
  watcherSocket?.disconnect();
  await server?.stop();
});

/** The watcher is still served (a push gets its reply) and the list holds only the watcher. */
async function othersUnaffected() {
  const reply = await push(watcher.channel, "presence:update", { meta: { alive: Date.now() } });
  assert.equal(reply.status, "ok");
  await waitFor(() => watcher.names().join() === "watcher", "only the watcher in room:bad");
  assert.equal(watcher.metas("watcher").length, 1);
}

/** A raw socket joined to room:bad as `key`, seen by the watcher. */
async function joinedRaw(key) {
  const raw = await rawSocket(server);
  raw.send(["1", "1", "room:bad", "phx_join", { key }]);
  const reply = await raw.reply("1");
  assert.equal(reply[4].status, "ok");
  await waitFor(() => watcher.names().includes(key), `the watcher to see ${key}`);
  return raw;
}

test("a malformed frame closes the socket (1007) and its presence leaves", async () => {
  const raw = await joinedRaw("malformed");
  raw.send("this is not a frame");
  const { code, reason } = await raw.closed;
  assert.equal(code, 1007);
  assert.match(reason, /malformed frame/);
  await othersUnaffected();
});

test("a frame of the wrong shape closes the socket", async () => {
  const raw = await joinedRaw("shape");
  raw.send(JSON.stringify({ topic: "room:bad", event: "phx_join" }));
  assert.equal((await raw.closed).code, 1007);
  await othersUnaffected();
});

test("an oversized frame closes the socket (1009)", async () => {
  const raw = await joinedRaw("oversized");
  raw.send(["1", "2", "room:bad", "presence:update", { meta: { blob: "x".repeat(100_000) } }]);
  assert.equal((await raw.closed).code, 1009);
  await othersUnaffected();
});

test("a binary frame closes the socket (1003)", async () => {
  const raw = await joinedRaw("binary");
  raw.send(Buffer.from([0, 1, 2, 3]));
  assert.equal((await raw.closed).code, 1003);
  await othersUnaffected();
});

test("flooding closes the socket (1008)", async () => {
  const raw = await joinedRaw("flood");
  for (let i = 0; i < 1_000; i += 1) {
    raw.send([null, String(i + 10), "phoenix", "heartbeat", {}]);
  }
  const { code, reason } = await raw.closed;
  assert.equal(code, 1008);
  assert.match(reason, /too many messages/);
  await othersUnaffected();
});

test("a join without params gets an error reply and tracks nothing", async () => {
  const raw = await rawSocket(server);
  raw.send(["1", "1", "room:bad", "phx_join", {}]);
  const reply = await raw.reply("1");
  assert.equal(reply[4].status, "error");
  assert.match(reply[4].response.reason, /missing join param "key"/);
  raw.send(["3", "3", "room:bad", "phx_join", null]);
  const noPayload = await raw.reply("3");
  assert.equal(noPayload[4].status, "error");
  assert.ok(noPayload[4].response.reason.length > 0);
  // The socket is still usable: a heartbeat is answered.
  raw.send([null, "2", "phoenix", "heartbeat", {}]);
  assert.equal((await raw.reply("2"))[4].status, "ok");
  raw.ws.close();
  await othersUnaffected();
});

test("the unmodified client is told why its join is refused", async () => {
  const socket = connect(server);
  try {
    await assert.rejects(joinRoom(socket, "room:bad", {}), /missing join param/);
  } finally {
    socket.disconnect();
  }
  await othersUnaffected();
});

test("oversized metas are refused at join and at update", async () => {
  const raw = await rawSocket(server);
  raw.send(["1", "1", "room:bad", "phx_join", { key: "big", meta: { blob: "x".repeat(20_000) } }]);
  const refused = await raw.reply("1");
  assert.equal(refused[4].status, "error");
  assert.match(refused[4].response.reason, /meta/);

  raw.send(["2", "2", "room:bad", "phx_join", { key: "big", meta: { small: true } }]);
  assert.equal((await raw.reply("2"))[4].status, "ok");
  raw.send(["2", "3", "room:bad", "presence:update", { meta: { blob: "y".repeat(20_000) } }]);
  const update = await raw.reply("3");
  assert.equal(update[4].status, "error");
  assert.match(update[4].response.reason, /meta/);
  await waitFor(() => watcher.metas("big")[0]?.small === true, "big listed with its small meta");
  raw.ws.close();
  await waitFor(() => !watcher.names().includes("big"), "big gone after its socket closed");
  await othersUnaffected();
});

test("unknown events and unjoined topics get error replies", async () => {
  const raw = await rawSocket(server);
  raw.send(["1", "1", "room:elsewhere", "presence:update", { meta: {} }]);
  assert.match((await raw.reply("1"))[4].response.reason, /unmatched topic/);
  raw.send(["2", "2", "room:bad", "phx_join", { key: "curious" }]);
  assert.equal((await raw.reply("2"))[4].status, "ok");
  raw.send(["2", "3", "room:bad", "launch_missiles", {}]);
  const unknown = await raw.reply("3");
  assert.equal(unknown[4].status, "error");
  assert.match(unknown[4].response.reason, /unknown event/);
  raw.send([null, "4", "phoenix", "shutdown", {}]);
  assert.equal((await raw.reply("4"))[4].status, "error");
  raw.ws.close();
  await waitFor(() => !watcher.names().includes("curious"), "curious gone after its socket closed");
  await othersUnaffected();
});

test("a socket that vanishes without a close frame leaves no entries behind", async () => {
  const raw = await joinedRaw("vanishing");
  raw.ws.terminate();
  await waitFor(() => !watcher.names().includes("vanishing"), "vanishing gone");
  await othersUnaffected();
});
