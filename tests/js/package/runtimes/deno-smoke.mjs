// Run by test/runtimes.test.mjs: `deno run --allow-read runtimes/deno-smoke.mjs VECTORS_DIR`.
// `beryl-presence` resolves through node_modules and the package's "deno" export.
import { runScenarios } from "./scenarios.mjs";

const dir = Deno.args[0];
const scenarios = JSON.parse(Deno.readTextFileSync(`${dir}/scenarios.json`));
const binaries = {};
const texts = {};
for (const { name } of scenarios) {
  const bytes = Deno.readFileSync(`${dir}/replication/${name}.bin`);
  binaries[name] = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  texts[name] = Deno.readTextFileSync(`${dir}/replication/${name}.json`).replace(/\n$/, "");
}
console.log(`deno: resolved ${import.meta.resolve("beryl-presence")}`);
console.log(`deno: ${runScenarios({ scenarios, binaries, texts })}`);
