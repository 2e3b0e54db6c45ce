// Type-checked by test/types.test.mjs with `tsc --noEmit`: the package's declarations must
// accept what users write and reject what they must not.
import {
  AlreadyTrackedError,
  BerylError,
  DecodeError,
  JsonText,
  PresenceState,
  SyncNode,
  init,
  type Diff,
  type KeyPresences,
  type Presence,
  type ReplicaId,
  type ReplicaStatus,
  type BinaryTransmit,
  type JsonTransmit,
  type PeerInfo,
  type SyncEvent,
  type Tracked,
} from "beryl-presence";

interface Meta {
  status: "online" | "away";
  joined_at: number;
}

await init();
const state = new PresenceState<Meta>("node-a", { limits: { maxMetaBytes: 4096 } });
const tracked: Tracked<Meta> = state.track("room:1", "alice", "p1", { status: "online", joined_at: 1 });
const ref: string = tracked.phxRef;
state.track("room:1", "bob", "p2", new JsonText('{"status":"away","joined_at":2}'));
// @ts-expect-error: the meta must match the state's meta type
state.track("room:1", "carol", "p3", { status: "busy", joined_at: 3 });
// @ts-expect-error: update requires a meta
state.update("room:1", "alice", "p1");
// Metas are JSON: Date, Map, functions and bigint are refused wherever they appear.
// @ts-expect-error: a Date is not JSON
new PresenceState<{ at: Date }>("dates");
// @ts-expect-error: a nested Map is not JSON either
new PresenceState<{ device: { seen: Map<string, number> } }>("maps");
// @ts-expect-error: nor a function
new SyncNode<{ callback: () => void }>("functions", { now: 0 });
// @ts-expect-error: a meta is an object, not a string
new PresenceState<string>("strings");
// @ts-expect-error: nor an array
new PresenceState<number[]>("arrays");
// @ts-expect-error: nor a Map itself
new PresenceState<Map<string, number>>("map");
// Interfaces, optional fields, arrays and tuples of JSON are fine.
interface Rich {
  name: string;
  device?: { kind: "phone" | "desktop"; version: number | null };
  tags: readonly string[];
  position: [number, number];
}
const rich = new PresenceState<Rich>("rich");
rich.track("room:1", "dora", "p9", { name: "Dora", tags: ["a"], position: [1, 2] });
const module: WebAssembly.Module = await WebAssembly.compile(new Uint8Array());
await init(module);

const groups: KeyPresences<Meta>[] = state.list("room:1");
const first: Presence<Meta> | undefined = groups[0]?.presences[0];
const status: "online" | "away" | undefined = first?.meta.status;
const previous: string | null | undefined = first?.phxRefPrev;
const owner: ReplicaId | undefined = first?.replica;
const incarnation: string | undefined = owner?.incarnation;

const binary: Uint8Array | null = state.takeDelta();
const text: string | null = state.takeDelta("json");
// @ts-expect-error: a JSON message is a string, not bytes
const wrong: Uint8Array | null = state.takeDelta("json");
const heartbeat: Uint8Array = state.heartbeat();
const full: string = state.fullState({ format: "json" });
const request: Uint8Array = state.stateRequest({ name: "node-b", incarnation: "42" });
const reply: Uint8Array | null = state.answer(request);

const diff: Diff<Meta> = state.merge(binary ?? new Uint8Array());
const payload: string = state.encodeDiff([diff, tracked.diff], "room:1");
const snapshot: string = state.presenceState("room:1");
const verdict: ReplicaStatus | null = state.replicaStatus({ name: "node-b", incarnation: "42" });
const unsubscribe: () => void = state.onDiff((changes) => {
  const keys: string[] = changes.joins.map((p) => p.key);
  void keys;
});
unsubscribe();

try {
  state.merge("{}");
} catch (error) {
  if (error instanceof DecodeError) {
    const reason: string = error.reason;
    void reason;
  } else if (error instanceof AlreadyTrackedError || error instanceof BerylError) {
    const code: string = error.code;
    void code;
  }
}

{
  using scoped = new PresenceState("scoped");
  scoped.track("t", "k", "p");
}
state.free();

// A replica that replicates as the servers do; the host passes the time and carries messages.
const node = new SyncNode<Meta>("browser-tab", {
  now: Date.now(),
  config: { broadcastIntervalMs: 500, downPeriodMs: 10_000 },
});
const joined: Tracked<Meta> = node.track("room:1", "alice", "p1", { status: "online", joined_at: 1 });
node.update("room:1", "alice", "p1", { status: "away", joined_at: 1 });
node.untrack("room:1", "alice", "p1");
node.untrackAll("p1");
// @ts-expect-error: the node's meta type is enforced
node.track("room:1", "bob", "p2", { status: "gone", joined_at: 2 });
// @ts-expect-error: the time is a number of milliseconds
node.tick(new Date());
node.tick(Date.now());
node.receive(Date.now(), new Uint8Array());
node.receive(Date.now(), "{}");
const out: BinaryTransmit | null = node.pollTransmit();
const to: string | null | undefined = out?.to;
const bytes: Uint8Array | undefined = out?.bytes;
const outJson: JsonTransmit | null = node.pollTransmit("json");
const textOut: string | undefined = outJson?.text;
// @ts-expect-error: a JSON transmit carries text, not bytes
const noBytes: Uint8Array | undefined = node.pollTransmit("json")?.bytes;
const event: SyncEvent<Meta> | null = node.pollEvent();
if (event?.type === "diff") {
  const away: ("online" | "away")[] = event.diff.joins.map((p) => p.meta.status);
  void away;
} else if (event?.type === "peer") {
  const peerStatus: ReplicaStatus = event.status;
  const peerName: string = event.replica.name;
  void [peerStatus, peerName];
}
const timeout: number | null = node.nextTimeout();
const peers: PeerInfo[] = node.peers();
const lastHeard: number | undefined = peers[0]?.lastHeard;
const nodeGroups: KeyPresences<Meta>[] = node.list("room:1");
const nodePresences: Presence<Meta>[] = node.getByKey("room:1", "alice");
const nodeTopics: string[] = node.topics();
const nodeSnapshot: string = node.presenceState("room:1");
// @ts-expect-error: the time is required
new SyncNode("no-clock", {});
node.stop();
node.free();
{
  using scopedNode = new SyncNode("scoped-node", { now: 0, incarnation: "1" });
  scopedNode.tick(1);
}

void [joined, to, bytes, textOut, noBytes, timeout, lastHeard, nodeGroups, nodePresences, nodeTopics, nodeSnapshot];
void [ref, status, previous, incarnation, text, wrong, heartbeat, full, reply, payload, snapshot, verdict];
