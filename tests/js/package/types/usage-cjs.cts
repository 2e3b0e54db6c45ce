// The CommonJS declarations (`require` condition) describe the same API.
import berylPresence = require("beryl-presence");

const state = new berylPresence.PresenceState<{ n: number }>("node-a");
const list: berylPresence.KeyPresences<{ n: number }>[] = state.list("t");
// @ts-expect-error: the meta type is enforced here too
state.track("t", "k", "p", { n: "one" });
const node = new berylPresence.SyncNode<{ n: number }>("node-b", { now: 0 });
const event: berylPresence.SyncEvent<{ n: number }> | null = node.pollEvent();
void [list, event];
