// What importing beryl-presence and its first use do, checked the same way in every runtime:
// the import compiles nothing, instantiates nothing, sets no timer, queues no microtask and
// draws no random number; the first use (after `await init()` where the entry has no
// synchronous source) instantiates exactly once and draws the incarnation's random bits.
// `calls` comes from probe.mjs, `atImport` is its copy taken right after the import.

function fail(message) {
  throw new Error(`loading: ${message}`);
}

export async function checkLoading(pkg, calls, atImport, { sync }) {
  if (atImport.length !== 0) fail(`importing the package called ${atImport.join(", ")}`);
  if (pkg.isReady()) fail("the module was instantiated at import");
  if (!sync) {
    let refused = false;
    try {
      new pkg.PresenceState("early");
    } catch (error) {
      refused = error instanceof pkg.UsageError && error.code === "not_initialized";
    }
    if (!refused) fail("a state was created before init() where the entry needs it");
    await pkg.init();
  }
  const state = new pkg.PresenceState("first-use");
  const peer = new pkg.PresenceState("peer", { incarnation: "7" });
  state.track("room", "alice", "p1", { n: 1 });
  peer.merge(state.takeDelta());
  if (peer.list("room")[0]?.presences[0]?.meta.n !== 1) fail("the first states do not work");
  state.free();
  peer.free();
  const instances = calls.filter((call) => /Instance|instantiate/.test(call));
  if (instances.length !== 1) fail(`expected one instance, got ${instances.join(", ") || "none"}`);
  if (!calls.includes("crypto.getRandomValues")) fail(`the incarnation drew no random bits: ${calls.join(", ")}`);
  const finalization = typeof FinalizationRegistry === "undefined" ? "without" : "with";
  return `loading ok ${finalization} FinalizationRegistry (at import: nothing; first use: ${[...new Set(calls)].join(", ")})`;
}
