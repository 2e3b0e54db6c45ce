// Type-checked by test/types.test.mjs with `tsc --noEmit`: the package's declarations must
// accept what users write and reject what they must not.
import {
  AlreadyTrackedError,
  BerylError,
  DecodeError,
  JsonText,
  PresenceState,
  init,
  type Diff,
  type KeyPresences,
  type Presence,
  type ReplicaId,
  type ReplicaStatus,
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

void [ref, status, previous, incarnation, text, wrong, heartbeat, full, reply, payload, snapshot, verdict];
