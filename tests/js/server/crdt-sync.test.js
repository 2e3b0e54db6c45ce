// The CRDT sync option under faults: a client replica (the beryl-presence package) fed the
// server's replication messages duplicated and reordered ends with exactly the server's list.
// phoenix.js would have to buffer and order diffs to get this right; a merge does not care.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { connect, joinRoom, loadPackage, push, startServer, waitFor } from "./harness.js";

const beryl = await loadPackage();
const TOPIC = "room:crdt";

let server;
const sockets = [];
before(async () => {
  // A missing package fails the run: a skipped test would hide a broken set-up.
  if (!beryl) throw new Error("cannot run the CRDT sync tests: the beryl-presence package is not built (scripts/build-wasm.sh)");
  server = await startServer({ node: "crdt-test" });
});
after(async () => {
  for (const socket of sockets) socket.disconnect();
  await server?.stop();
});

/** A seeded generator, so a failure replays. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Every message delivered twice, in a shuffled order. */
function faulty(messages, seed) {
  const next = random(seed);
  const deliveries = [...messages, ...messages];
  for (let i = deliveries.length - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
  }
  return deliveries;
}

/** Joins `TOPIC` on the CRDT sync option and records every replication message received. */
async function crdtObserver(format) {
  const socket = connect(server);
  sockets.push(socket);
  const channel = socket.channel(TOPIC, { key: `observer-${format}`, sync: "crdt", format });
  const messages = [];
  channel.on("beryl_sync", (payload) => {
    messages.push(format === "binary" ? new Uint8Array(payload) : JSON.stringify(payload));
  });
  await new Promise((resolve, reject) => {
    channel.join().receive("ok", resolve).receive("error", (reply) => reject(new Error(JSON.stringify(reply))));
  });
  return messages;
}

/** The server's list as a Phoenix client sees it: key -> sorted phx_refs. */
function phoenixView(room) {
  return Object.fromEntries(
    room.presence.list((key, { metas }) => [key, metas.map((m) => m.phx_ref).sort()]),
  );
}

function replicaView(replica) {
  return Object.fromEntries(
    replica.list(TOPIC).map((group) => [group.key, group.presences.map((p) => p.phxRef).sort()]),
  );
}

test("duplicated and reordered deliveries end with exactly the server's list", async () => {
  const binaryMessages = await crdtObserver("binary");
  const jsonMessages = await crdtObserver("json");

  // Traffic: joins (several devices of one key), updates, leaves, a dropped connection, and a
  // topic the observers do not follow.
  const clients = [];
  for (const [key, device] of [["ada", "phone"], ["ada", "laptop"], ["bob", "phone"], ["cy", "tv"], ["dee", "car"]]) {
    const socket = connect(server);
    sockets.push(socket);
    clients.push({ socket, room: await joinRoom(socket, TOPIC, { key, meta: { device } }) });
    const elsewhere = connect(server);
    sockets.push(elsewhere);
    await joinRoom(elsewhere, "room:elsewhere", { key });
  }
  assert.equal((await push(clients[0].room.channel, "presence:update", { meta: { device: "phone", away: true } })).status, "ok");
  assert.equal((await push(clients[3].room.channel, "presence:update", { meta: { device: "tv", muted: true } })).status, "ok");
  await new Promise((resolve) => clients[2].room.channel.leave().receive("ok", resolve));
  clients[4].socket.disconnect();

  const watcherSocket = connect(server);
  sockets.push(watcherSocket);
  const watcher = await joinRoom(watcherSocket, TOPIC, { key: "watcher" });
  await waitFor(
    () => watcher.names().join() === "ada,cy,observer-binary,observer-json,watcher" && watcher.metas("ada").length === 2,
    "the server's list to settle",
  );
  const expected = phoenixView(watcher);
  delete expected.watcher; // joined after the observers' messages were taken
  for (const [format, messages] of [["binary", binaryMessages], ["json", jsonMessages]]) {
    await waitFor(() => {
      const replica = new beryl.PresenceState(`settle-${format}`);
      for (const message of messages) replica.merge(message);
      const view = replicaView(replica);
      delete view.watcher;
      return JSON.stringify(view) === JSON.stringify(expected);
    }, `the ${format} observer to receive every change`);
  }

  for (const [format, messages] of [["binary", binaryMessages], ["json", jsonMessages]]) {
    assert.ok(messages.length > 5, `${format}: ${messages.length} messages`);
    for (const seed of [1, 2, 3]) {
      const replica = new beryl.PresenceState(`client-${format}-${seed}`);
      for (const message of faulty(messages, seed)) replica.merge(message);
      const view = replicaView(replica);
      delete view.watcher;
      assert.deepEqual(view, expected, `${format}, seed ${seed}`);
      assert.deepEqual(replica.list("room:elsewhere"), [], "only the followed topic");
      const ada = replica.getByKey(TOPIC, "ada");
      assert.equal(ada.length, 2);
      assert.ok(ada.some((p) => p.meta.away === true && p.phxRefPrev !== null), "the update, with its phx_ref_prev");
    }
  }
});
