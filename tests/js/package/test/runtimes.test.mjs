// The built package in other runtimes, each resolving `beryl-presence` through the package's
// exports map as that runtime's tooling does:
// - workerd: the worker is bundled with esbuild under the conditions Cloudflare's wrangler uses
//   (workerd, worker, browser), the .wasm imports kept as CompiledWasm modules, then run with
//   `workerd test`: loading checks (with and without FinalizationRegistry), the vectors'
//   scenarios, and two concurrent requests racing to initialise;
// - Deno: the "deno" export through node_modules, with the same checks.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { build } from "esbuild";
import { pkgDir, projectDir, readJson, vectorHex, vectorText, vectorsDir } from "./helpers.mjs";

const bin = (name) => resolve(projectDir, "node_modules/.bin", name);

function vectorsJson() {
  const scenarios = readJson(resolve(vectorsDir, "scenarios.json"));
  const binaries = Object.fromEntries(scenarios.map((s) => [s.name, vectorHex(s.name)]));
  const texts = Object.fromEntries(scenarios.map((s) => [s.name, vectorText(s.name)]));
  return JSON.stringify({ scenarios, binaries, texts });
}

/**
 * Bundles `entry` into `outDir/worker.js` as wrangler does: ESM, the workerd/worker/browser
 * conditions, `.wasm` imports external (each copied next to the bundle, to be declared a wasm
 * module). Returns the bundle's inputs and the wasm files' names.
 */
async function bundleWorker(entry, outDir) {
  const wasmFiles = new Map();
  const result = await build({
    absWorkingDir: projectDir,
    entryPoints: [resolve(projectDir, entry)],
    outfile: join(outDir, "worker.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    metafile: true,
    logLevel: "silent",
    plugins: [
      {
        name: "workerd-modules",
        setup(context) {
          context.onResolve({ filter: /\.wasm$/ }, async (args) => {
            if (args.pluginData?.inner) return undefined;
            const resolved = await context.resolve(args.path, {
              kind: args.kind,
              resolveDir: args.resolveDir,
              importer: args.importer,
              pluginData: { inner: true },
            });
            if (resolved.errors.length > 0) return { errors: resolved.errors };
            wasmFiles.set(basename(resolved.path), resolved.path);
            return { path: `./${basename(resolved.path)}`, external: true };
          });
          context.onResolve({ filter: /^beryl-test:vectors$/ }, () => ({ path: "vectors", namespace: "beryl-test" }));
          context.onLoad({ filter: /.*/, namespace: "beryl-test" }, () => ({ contents: vectorsJson(), loader: "json" }));
        },
      },
    ],
  });
  for (const [name, path] of wasmFiles) copyFileSync(path, join(outDir, name));
  return { inputs: Object.keys(result.metafile.inputs), wasm: [...wasmFiles.keys()] };
}

test("workerd: the worker bundled through the exports map runs in workerd", async () => {
  const work = mkdtempSync(join(tmpdir(), "beryl-workerd-"));
  try {
    const workers = {
      main: { entry: "runtimes/worker.mjs", mode: "scenarios", date: "2025-09-01" },
      race: { entry: "runtimes/worker.mjs", mode: "race", self: true, date: "2025-09-01" },
      // Workers on compatibility dates before 2025 have no FinalizationRegistry at all; the
      // entry removes it anyway, so the case stays covered whatever workerd does.
      nofinalization: { entry: "runtimes/worker-no-finalization.mjs", mode: "scenarios", date: "2024-09-23" },
    };
    const declarations = [];
    for (const [name, worker] of Object.entries(workers)) {
      const outDir = join(work, name);
      mkdirSync(outDir);
      const { inputs, wasm } = await bundleWorker(worker.entry, outDir);
      // The exports map's "workerd" entry was chosen, not the browser or Node ones.
      const entries = inputs.filter((input) => /pkg\/dist\/[^/]+\.js$/.test(input)).map((input) => basename(input));
      assert.ok(entries.includes("workerd.js"), `${name}: bundled ${inputs.join(", ")}`);
      for (const other of ["browser.js", "node.js", "deno.js"]) assert.ok(!entries.includes(other), `${name}: ${other} bundled`);
      assert.deepEqual(wasm, ["beryl_wasm_bg.wasm"]);
      const relativeDir = relative(work, outDir);
      const bindings = [`(name = "MODE", text = "${worker.mode}")`];
      if (worker.self) bindings.push(`(name = "SELF", service = "${name}")`);
      declarations.push(`const ${name} :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "${relativeDir}/worker.js"),
    (name = "beryl_wasm_bg.wasm", wasm = embed "${relativeDir}/beryl_wasm_bg.wasm"),
  ],
  bindings = [ ${bindings.join(", ")} ],
  compatibilityDate = "${worker.date}",
);`);
    }
    writeFileSync(
      join(work, "config.capnp"),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ ${Object.keys(workers).map((name) => `(name = "${name}", worker = .${name})`).join(", ")} ],
);
${declarations.join("\n")}
`,
    );
    const result = spawnSync(bin("workerd"), ["test", "config.capnp"], { cwd: work, encoding: "utf8" });
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(result.status, 0, output);
    assert.match(output, /workerd: loading ok with FinalizationRegistry \(at import: nothing; first use: .*new WebAssembly\.Instance/);
    assert.match(output, /workerd: loading ok without FinalizationRegistry/);
    assert.equal(output.match(/workerd: \d+ scenarios ok/g)?.length, 2, output);
    assert.match(output, /workerd: two concurrent first requests shared one instance/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

for (const withoutFinalization of [false, true]) {
  test(`deno: the deno export runs the scenarios${withoutFinalization ? " where FinalizationRegistry is missing" : ""}`, () => {
    const args = ["run", "--allow-read", "runtimes/deno-smoke.mjs", vectorsDir];
    if (withoutFinalization) args.push("--without-finalization");
    const result = spawnSync(bin("deno"), args, {
      cwd: projectDir,
      encoding: "utf8",
      env: {
        ...process.env,
        DENO_DIR: resolve(projectDir, ".deno"),
        DENO_NO_UPDATE_CHECK: "1",
        NO_COLOR: "1",
      },
    });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    const finalization = withoutFinalization ? "without" : "with";
    assert.match(result.stdout, new RegExp(`deno: loading ok ${finalization} FinalizationRegistry \\(at import: nothing; first use: .*new WebAssembly\\.Instance`));
    assert.match(result.stdout, /deno: \d+ scenarios ok/);
    const entry = readJson(join(pkgDir, "package.json")).exports["."].deno.default.replace(/^\.\//, "");
    assert.ok(result.stdout.includes(`deno: resolved file://${pkgDir}/${entry}`), result.stdout);
  });
}
