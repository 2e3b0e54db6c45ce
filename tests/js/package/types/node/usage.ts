// Type-checked by test/types.test.mjs in a Node-only project (lib es2022 + @types/node, no DOM):
// the declarations the "node" import condition selects must compile there.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import {
  LoadError,
  PresenceState,
  SyncNode,
  init,
  initSync,
  type AsyncWasmSource,
  type Diff,
  type WasmModule,
  type WasmSource,
} from "beryl-presence";

// Without a library that declares WebAssembly, only bytes can be passed.
type IsNever<T> = [T] extends [never] ? true : false;
const noModuleType: IsNever<WasmModule> = true;
const bytes: WasmSource = readFileSync(new URL("../wasm/beryl_wasm_bg.wasm", import.meta.url));
initSync(bytes);
const later: AsyncWasmSource = readFile("beryl_wasm_bg.wasm");
await init(later);
await init();

interface Meta {
  status: "online" | "away";
  device?: { kind: string; version: number };
  tags: string[];
}
const state = new PresenceState<Meta>("node-a");
const { diff } = state.track("room", "alice", "p1", { status: "online", tags: [] });
const joined: Diff<Meta> = diff;
// @ts-expect-error: a Date is not JSON
new PresenceState<{ at: Date }>("dates");
// @ts-expect-error: nor is a Map
new PresenceState<{ seen: Map<string, number> }>("maps");
// @ts-expect-error: nor a bigint
new SyncNode<{ n: bigint }>("bigints", { now: 0 });
{
  using scoped = new SyncNode<Meta>("scoped", { now: 0 });
  scoped.tick(1);
}
try {
  await init(new Uint8Array([0]));
} catch (error) {
  if (error instanceof LoadError) {
    const code: "load" | string = error.code;
    void code;
  }
}
state.free();
void [noModuleType, joined];
