// Two `beryl serve` processes on one redis-server: a client on A sees a client on B join and
// leave; B killed without a graceful stop leaves A's view after the down period.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { connect, joinRoom, startServer, waitFor } from "./harness.js";

const REDIS = process.env.BERYL_REDIS_URL;
// Short periods keep the test fast: broadcasts every 100 ms, down after 1 s of silence.
const FAST = ["--broadcast-interval-ms", "100", "--down-after-ms", "1000"];

const servers = [];
const sockets = [];
after(async () => {
  for (const socket of sockets) socket.disconnect();
  for (const server of servers) await server.kill();
});

test("a client on A sees a client on B join and leave; B's crash is noticed after the down period", async () => {
  // npm test (run-tests.sh) always starts a redis-server: without one the set-up is broken.
  assert.ok(REDIS, "BERYL_REDIS_URL is not set: run the tests with npm test, which starts a redis-server");
  const namespace = `beryl-test-${process.pid}-${Date.now()}:`;
  const a = await startServer({ node: "node-a", redis: REDIS, namespace, args: FAST });
  const b = await startServer({ node: "node-b", redis: REDIS, namespace, args: FAST });
  servers.push(a, b);

  const onA = connect(a);
  const onB = connect(b);
  sockets.push(onA, onB);
  const ada = await joinRoom(onA, "room:cluster", { key: "ada", meta: { node: "a" } });
  let bob = await joinRoom(onB, "room:cluster", { key: "bob", meta: { node: "b" } });

  await waitFor(() => ada.names().join() === "ada,bob", "A's client to see bob (on B)");
  await waitFor(() => bob.names().join() === "ada,bob", "B's client to see ada (on A)");
  assert.equal(ada.metas("bob")[0].node, "b");

  await new Promise((resolve) => bob.channel.leave().receive("ok", resolve));
  await waitFor(() => ada.names().join() === "ada", "A's client to see bob leave");

  bob = await joinRoom(onB, "room:cluster", { key: "bob", meta: { node: "b" } });
  await waitFor(() => ada.names().join() === "ada,bob", "A's client to see bob again");

  const killedAt = Date.now();
  await b.kill();
  await waitFor(() => ada.names().join() === "ada", "A's client to see bob gone after B crashed");
  const gone = Date.now() - killedAt;
  assert.ok(gone >= 900, `bob left after ${gone} ms: only silence for the down period removes him`);
  assert.equal(ada.metas("ada").length, 1);
});
