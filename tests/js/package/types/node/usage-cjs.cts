// The CommonJS declarations (`require` condition) in the same Node-only project.
import berylPresence = require("beryl-presence");

const state = new berylPresence.PresenceState<{ n: number }>("node-a");
const list: berylPresence.KeyPresences<{ n: number }>[] = state.list("t");
// @ts-expect-error: the meta type is enforced here too
state.track("t", "k", "p", { n: "one" });
void list;
