// Feeds the payloads beryl generates (tests/vectors/phoenix/*.json, written by the Rust test
// core/tests/vectors.rs) to the unmodified phoenix client, and checks what its Presence reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Presence, Serializer } from "phoenix";

const vectorsDir = fileURLToPath(new URL("../../vectors/phoenix/", import.meta.url));

function loadCase(name) {
  return JSON.parse(readFileSync(`${vectorsDir}${name}.json`, "utf8"));
}

// Plain objects (phoenix builds null-prototype ones) so deepEqual compares content only.
const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

// A key's metas in a stable order, for comparing states built along different paths.
function normalizedList(state) {
  return Presence.list(state, (key, presence) => ({
    key,
    metas: plain(presence.metas).sort((a, b) => (a.phx_ref < b.phx_ref ? -1 : 1)),
  })).sort((a, b) => (a.key < b.key ? -1 : 1));
}

// Applies the case's presence_state then presence_diff with the static API, recording the
// callbacks as they fire (copies: phoenix mutates the objects afterwards).
function replay(vector) {
  const joins = [];
  const leaves = [];
  const onJoin = (key, current, joined) => joins.push({ key, current: plain(current), joined: plain(joined) });
  const onLeave = (key, current, left) => leaves.push({ key, current: plain(current), left: plain(left) });
  const initial = Presence.syncState({}, JSON.parse(vector.state));
  const initialList = normalizedList(initial);
  const stateAfterSnapshot = plain(initial);
  const final = Presence.syncDiff(initial, JSON.parse(vector.diff), onJoin, onLeave);
  return { initialList, stateAfterSnapshot, final, joins, leaves };
}

function decodeFrame(text) {
  let message;
  Serializer.decode(text, (decoded) => {
    message = decoded;
  });
  return message;
}

// The channel side of phoenix's Presence, driven by frames as a socket would deliver them.
class FakeChannel {
  constructor(joinRef) {
    this.handlers = new Map();
    this.currentJoinRef = joinRef;
  }
  on(event, callback) {
    this.handlers.set(event, callback);
  }
  joinRef() {
    return this.currentJoinRef;
  }
  deliver(frameText) {
    const { event, payload } = decodeFrame(frameText);
    this.handlers.get(event)?.(payload);
  }
}

const names = readdirSync(vectorsDir)
  .filter((file) => file.endsWith(".json"))
  .map((file) => file.slice(0, -".json".length));

test("the vectors cover every case the issue lists", () => {
  for (const name of [
    "two_devices_one_leaves",
    "update",
    "leave_and_join_same_key",
    "key_leaves_entirely",
    "multi_topic_diff",
  ]) {
    assert.ok(names.includes(name), `missing vector ${name}`);
  }
});

for (const name of names) {
  test(`${name}: snapshot + diff gives the server's final state`, () => {
    const vector = loadCase(name);
    const { final } = replay(vector);
    const expected = Presence.syncState({}, JSON.parse(vector.final_state));
    assert.deepEqual(normalizedList(final), normalizedList(expected));
  });

  test(`${name}: frames decode with phoenix's serializer and a diff sent before the snapshot is buffered`, () => {
    const vector = loadCase(name);
    const stateFrame = decodeFrame(vector.state_frame);
    assert.equal(stateFrame.join_ref, "1");
    assert.equal(stateFrame.ref, null);
    assert.equal(stateFrame.topic, vector.topic);
    assert.equal(stateFrame.event, "presence_state");
    const diffFrame = decodeFrame(vector.diff_frame);
    assert.equal(diffFrame.join_ref, null);
    assert.equal(diffFrame.event, "presence_diff");
    assert.deepEqual(diffFrame.payload, JSON.parse(vector.diff));

    const channel = new FakeChannel("1");
    const presence = new Presence(channel);
    let syncs = 0;
    presence.onSync(() => syncs++);
    channel.deliver(vector.diff_frame);
    assert.equal(syncs, 0, "a diff before the snapshot waits");
    channel.deliver(vector.state_frame);
    assert.equal(syncs, 1);
    const expected = Presence.syncState({}, JSON.parse(vector.final_state));
    assert.deepEqual(normalizedList(presence.state), normalizedList(expected));
  });

  test(`${name}: every meta carries a phx_ref, unique within the payload`, () => {
    const vector = loadCase(name);
    const diff = JSON.parse(vector.diff);
    assert.deepEqual(Object.keys(diff).sort(), ["joins", "leaves"]);
    for (const payload of [JSON.parse(vector.state), diff.joins, diff.leaves, JSON.parse(vector.final_state)]) {
      const refs = Object.values(payload).flatMap((p) => p.metas.map((m) => m.phx_ref));
      assert.ok(refs.every((ref) => typeof ref === "string" && ref.length > 0));
      assert.equal(new Set(refs).size, refs.length);
    }
  });
}

test("two devices of one key, one leaves: the other device stays", () => {
  const vector = loadCase("two_devices_one_leaves");
  const { initialList, final, joins, leaves } = replay(vector);
  assert.equal(initialList.length, 1);
  assert.deepEqual(initialList[0].metas.map((m) => m.device).sort(), ["laptop", "phone"]);

  const list = normalizedList(final);
  assert.deepEqual(list.map((p) => p.key), ["alice"]);
  assert.equal(list[0].metas.length, 1);
  assert.equal(list[0].metas[0].device, "phone");
  assert.equal(list[0].metas[0].score, 1.5);
  // The meta text is forwarded as tracked: "1.50" reaches the client unchanged.
  assert.match(vector.state, /"score":1\.50,"phx_ref":/);

  assert.equal(joins.length, 0);
  assert.equal(leaves.length, 1);
  assert.equal(leaves[0].key, "alice");
  assert.deepEqual(leaves[0].left.metas.map((m) => m.device), ["laptop"]);
  assert.deepEqual(leaves[0].current.metas.map((m) => m.device), ["phone"]);
});

test("an update replaces the meta, names the previous ref, and the key never leaves", () => {
  const vector = loadCase("update");
  const { stateAfterSnapshot, final, joins, leaves } = replay(vector);
  const oldRef = stateAfterSnapshot.alice.metas[0].phx_ref;

  const list = normalizedList(final);
  assert.equal(list.length, 1);
  assert.equal(list[0].metas.length, 1);
  const meta = list[0].metas[0];
  assert.equal(meta.status, "online");
  assert.equal(meta.typing, true);
  assert.notEqual(meta.phx_ref, oldRef);
  assert.equal(meta.phx_ref_prev, oldRef);

  assert.equal(joins.length, 1);
  assert.equal(joins[0].key, "alice");
  assert.deepEqual(joins[0].current.metas.map((m) => m.phx_ref), [oldRef]);
  assert.equal(leaves.length, 1);
  assert.deepEqual(leaves[0].left.metas.map((m) => m.phx_ref), [oldRef]);
  assert.deepEqual(leaves[0].current.metas.map((m) => m.status), ["online"]);
});

test("a leave and a join of the same key in one diff keep the key with the new connection", () => {
  const vector = loadCase("leave_and_join_same_key");
  const { final, joins, leaves } = replay(vector);
  const list = normalizedList(final);
  assert.deepEqual(list.map((p) => p.key), ["alice"]);
  assert.deepEqual(list[0].metas.map((m) => m.tab), [2]);

  assert.equal(joins.length, 1);
  assert.deepEqual(joins[0].current.metas.map((m) => m.tab), [1]);
  assert.deepEqual(joins[0].joined.metas.map((m) => m.tab), [2]);
  assert.equal(leaves.length, 1);
  assert.deepEqual(leaves[0].left.metas.map((m) => m.tab), [1]);
  assert.deepEqual(leaves[0].current.metas.map((m) => m.tab), [2]);
});

test("a key whose last connection leaves disappears from the list", () => {
  const vector = loadCase("key_leaves_entirely");
  const { initialList, final, joins, leaves } = replay(vector);
  assert.deepEqual(initialList.map((p) => p.key), ["alice", "bob"]);
  assert.deepEqual(normalizedList(final).map((p) => p.key), ["bob"]);
  assert.equal(joins.length, 0);
  assert.equal(leaves.length, 1);
  assert.equal(leaves[0].key, "alice");
  assert.deepEqual(leaves[0].current.metas, []);
  assert.deepEqual(leaves[0].left.metas.map((m) => m.n), [1]);
});

test("a diff spanning two topics is encoded with only the requested topic's entries", () => {
  const vector = loadCase("multi_topic_diff");
  const diff = JSON.parse(vector.diff);
  assert.deepEqual(Object.keys(diff.joins), ["bob"]);
  assert.deepEqual(Object.keys(diff.leaves), ["alice"]);
  for (const other of ["carol", "dave"]) {
    assert.ok(!vector.diff.includes(other), `${other} belongs to room:other`);
  }
  // The other topic did change in the same diff: its steps are part of the case.
  assert.ok(vector.changes.some((step) => step.topic === "room:other"));

  const { final, joins, leaves } = replay(vector);
  assert.deepEqual(normalizedList(final).map((p) => p.key), ["bob"]);
  assert.deepEqual(joins.map((j) => j.key), ["bob"]);
  assert.deepEqual(leaves.map((l) => l.key), ["alice"]);
});
