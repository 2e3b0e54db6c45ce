// Run by test/runtimes.test.mjs:
//   deno run --allow-read runtimes/deno-smoke.mjs VECTORS_DIR [--without-finalization]
// `beryl-presence` resolves through node_modules and the package's "deno" export. probe.mjs is
// imported first, so the loading check sees what importing the package does.
if (Deno.args.includes("--without-finalization")) await import("./no-finalization.mjs");
const { calls } = await import("./probe.mjs");
const pkg = await import("beryl-presence");
const atImport = [...calls];
const { checkLoading } = await import("./loading.mjs");
const { runScenarios } = await import("./scenarios.mjs");

console.log(`deno: resolved ${import.meta.resolve("beryl-presence")}`);
console.log(`deno: ${await checkLoading(pkg, calls, atImport, { sync: true })}`);
const dir = Deno.args[0];
const scenarios = JSON.parse(Deno.readTextFileSync(`${dir}/scenarios.json`));
const binaries = {};
const texts = {};
for (const { name } of scenarios) {
  const bytes = Deno.readFileSync(`${dir}/replication/${name}.bin`);
  binaries[name] = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  texts[name] = Deno.readTextFileSync(`${dir}/replication/${name}.json`).replace(/\n$/, "");
}
console.log(`deno: ${runScenarios({ scenarios, binaries, texts })}`);
