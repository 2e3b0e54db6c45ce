// The worker test/runtimes.test.mjs bundles the way Cloudflare's tooling does (esbuild with
// the conditions workerd, worker, browser; .wasm imports left as CompiledWasm modules) and runs
// with `workerd test`. probe.mjs comes first, so it sees what importing the package does.
//
// env.MODE picks the test: "scenarios" checks loading, then replays the vectors' scenarios;
// "race" makes two concurrent requests the first users of the package in the isolate, one
// awaiting a slow init(), the other creating a state at once: one instance must serve both.
import { calls } from "./probe.mjs";
import * as pkg from "beryl-presence";
import wasmModule from "beryl-presence/beryl_wasm_bg.wasm";
import vectors from "beryl-test:vectors";
import { checkLoading } from "./loading.mjs";
import { runScenarios } from "./scenarios.mjs";

const atImport = [...calls];
const instances = () => calls.filter((call) => /Instance|instantiate/.test(call)).length;
const later = (ms, value) => new Promise((done) => setTimeout(() => done(value), ms));

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    let init;
    if (pathname === "/slow-init") {
      // Resolves after the other request has used the package synchronously.
      init = pkg.init(later(50, wasmModule));
      await init;
    } else {
      await later(10);
    }
    const state = new pkg.PresenceState(pathname.slice(1), { incarnation: "5" });
    state.track("room", pathname.slice(1), "p1", { from: pathname });
    const delta = state.takeDelta();
    state.free();
    return new Response(delta, { headers: { "x-instances": String(instances()) } });
  },

  async test(controller, env) {
    if (env.MODE === "race") {
      if (pkg.isReady()) throw new Error("something used the package before the race");
      const responses = await Promise.all([
        env.SELF.fetch("http://worker/slow-init"),
        env.SELF.fetch("http://worker/at-once"),
      ]);
      const merged = new pkg.PresenceState("collector", { incarnation: "9" });
      for (const response of responses) {
        if (!response.ok) throw new Error(`request failed: ${response.status} ${await response.text()}`);
        merged.merge(new Uint8Array(await response.arrayBuffer()));
      }
      const keys = merged.list("room").map((group) => group.key).join(",");
      if (keys !== "at-once,slow-init") throw new Error(`states of the two requests do not interoperate: ${keys}`);
      if (instances() !== 1) throw new Error(`two requests made ${instances()} instances: ${calls.join(", ")}`);
      merged.free();
      console.log("workerd: two concurrent first requests shared one instance");
      return;
    }
    console.log(`workerd: ${await checkLoading(pkg, calls, atImport, { sync: true })}`);
    console.log(`workerd: ${runScenarios(vectors)}`);
  },
};
