// Type-checked by test/types.test.mjs in a Workers project: the declarations the "workerd"
// condition selects compile with @cloudflare/workers-types and no DOM library.
import { PresenceState, init, initSync, type WasmModule } from "beryl-presence";

declare const compiled: WebAssembly.Module;
const module: WasmModule = compiled;
initSync(module);

interface Meta {
  status: "online" | "away";
}

export default {
  async fetch(request: Request): Promise<Response> {
    await init();
    using state = new PresenceState<Meta>("edge");
    state.track("room", new URL(request.url).pathname, "p1", { status: "online" });
    // @ts-expect-error: the meta type is enforced
    state.track("room", "x", "p2", { status: "busy" });
    return new Response(state.presenceState("room"), {
      headers: { "content-type": "application/json" },
    });
  },
} satisfies ExportedHandler;
