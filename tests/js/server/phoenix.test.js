// The unmodified phoenix client (Socket over `ws`, Channel, Presence) against `beryl serve`.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { connect, joinRoom, push, startServer, waitFor } from "./harness.js";

let server;
before(async () => {
  server = await startServer({ node: "phoenix-test" });
});
after(async () => {
  await server?.stop();
});

test("two clients each list both; a meta update is one update; a reconnect gets the state again without duplicates; a disconnect is seen as a leave", async () => {
  const adaSocket = connect(server);
  const bobSocket = connect(server);
  try {
    const ada = await joinRoom(adaSocket, "room:lobby", { key: "ada", meta: { status: "online" } });
    const bob = await joinRoom(bobSocket, "room:lobby", { key: "bob", meta: { status: "online" } });

    await waitFor(() => ada.names().join() === "ada,bob", "ada to list ada and bob");
    await waitFor(() => bob.names().join() === "ada,bob", "bob to list ada and bob");
    assert.equal(ada.metas("ada").length, 1);
    assert.equal(bob.metas("ada").length, 1);
    const firstRef = bob.metas("ada")[0].phx_ref;
    assert.equal(typeof firstRef, "string");

    // A meta update: one presence_diff carrying the new meta (with phx_ref_prev) and the
    // leave of the old ref, which phoenix.js applies as an update of ada's only meta.
    const updates = [];
    bob.presence.onJoin((key, current, joined) => {
      if (key === "ada" && current) updates.push(joined.metas.map((m) => m.status));
    });
    const diffsBefore = bob.events.diffs.length;
    const reply = await push(ada.channel, "presence:update", { meta: { status: "away" } });
    assert.equal(reply.status, "ok");
    await waitFor(() => bob.metas("ada")[0]?.status === "away", "bob to see ada away");
    const diff = bob.events.diffs.slice(diffsBefore).find((d) => d.joins.ada);
    assert.ok(diff, "a presence_diff with ada's new meta");
    const joined = diff.joins.ada.metas;
    assert.equal(joined.length, 1);
    assert.equal(joined[0].status, "away");
    assert.equal(joined[0].phx_ref_prev, firstRef);
    assert.deepEqual(
      diff.leaves.ada.metas.map((m) => m.phx_ref),
      [firstRef],
      "the same diff leaves the old ref",
    );
    assert.equal(bob.metas("ada").length, 1, "an update, not a second device");
    assert.equal(
      bob.events.diffs.slice(diffsBefore).filter((d) => d.joins.ada || d.leaves.ada).length,
      1,
      "the update is one presence_diff",
    );
    assert.deepEqual(updates, [["away"]]);

    // Bob's connection drops and comes back: phoenix.js rejoins, gets presence_state again, and
    // nobody is listed twice.
    const statesBefore = bob.events.states;
    bobSocket.disconnect();
    await waitFor(() => ada.names().join() === "ada", "ada to see bob leave on disconnect");
    bobSocket.connect();
    await waitFor(() => bob.events.states > statesBefore, "a new presence_state after reconnecting");
    await waitFor(() => bob.names().join() === "ada,bob", "bob to list both after reconnecting");
    await waitFor(() => ada.names().join() === "ada,bob", "ada to see bob back");
    assert.equal(bob.metas("bob").length, 1, "no duplicate of bob after reconnecting");
    assert.equal(bob.metas("ada").length, 1, "no duplicate of ada after reconnecting");
    assert.equal(ada.metas("bob").length, 1);

    // Ada disconnects for good: bob sees her leave.
    adaSocket.disconnect();
    await waitFor(() => bob.names().join() === "bob", "bob to see ada leave");
  } finally {
    adaSocket.disconnect();
    bobSocket.disconnect();
  }
});

test("several tabs of one user are several metas of one key; leaving one leaves the other", async () => {
  const tabs = [connect(server), connect(server)];
  const watcherSocket = connect(server);
  try {
    const watcher = await joinRoom(watcherSocket, "room:tabs", { key: "watcher" });
    const first = await joinRoom(tabs[0], "room:tabs", { key: "cy", meta: { tab: 1 } });
    await joinRoom(tabs[1], "room:tabs", { key: "cy", meta: { tab: 2 } });
    await waitFor(() => watcher.metas("cy").length === 2, "two metas for cy");
    await new Promise((resolve) => first.channel.leave().receive("ok", resolve));
    await waitFor(() => watcher.metas("cy").length === 1, "one meta left for cy");
    assert.equal(watcher.metas("cy")[0].tab, 2);
  } finally {
    for (const socket of [...tabs, watcherSocket]) socket.disconnect();
  }
});
