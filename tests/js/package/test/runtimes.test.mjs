// The built package in other runtimes, each importing it through its exports entry: workerd
// (`workerd test`, the package's "workerd" export, the .wasm as a compiled module) and Deno
// (the "deno" export through node_modules).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { test } from "node:test";
import { projectDir, pkgDir, readJson, vectorHex, vectorText, vectorsDir } from "./helpers.mjs";

const bin = (name) => resolve(projectDir, "node_modules/.bin", name);

function vectorsLiteral() {
  const scenarios = readJson(resolve(vectorsDir, "scenarios.json"));
  const binaries = Object.fromEntries(scenarios.map((s) => [s.name, vectorHex(s.name)]));
  const texts = Object.fromEntries(scenarios.map((s) => [s.name, vectorText(s.name)]));
  return JSON.stringify({ scenarios, binaries, texts });
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

test("workerd: the workerd export runs the scenarios inside a worker", () => {
  const work = mkdtempSync(join(tmpdir(), "beryl-workerd-"));
  try {
    const pkgJson = readJson(join(pkgDir, "package.json"));
    const entry = pkgJson.exports["."].workerd.default;
    assert.ok(entry, "the package has a workerd export");
    const pkgInWorker = "node_modules/beryl-presence";
    cpSync(pkgDir, join(work, pkgInWorker), { recursive: true });
    const entrySpecifier = `./${pkgInWorker}/${entry.replace(/^\.\//, "")}`;
    const rewrite = (source, depth) =>
      source.replaceAll('from "beryl-presence"', `from "${"../".repeat(depth)}${entrySpecifier.slice(2)}"`);
    writeFileSync(
      join(work, "scenarios.mjs"),
      rewrite(readFileSync(resolve(projectDir, "runtimes/scenarios.mjs"), "utf8"), 0)
        .replace('"../test/cluster.mjs"', '"./cluster.mjs"')
        .replaceAll('from "./node_modules', 'from "./node_modules'),
    );
    writeFileSync(
      join(work, "cluster.mjs"),
      rewrite(readFileSync(resolve(projectDir, "test/cluster.mjs"), "utf8"), 0),
    );
    writeFileSync(
      join(work, "worker.mjs"),
      `import { runScenarios } from "./scenarios.mjs";
const vectors = ${vectorsLiteral()};
export default {
  async test() {
    console.log("workerd: " + runScenarios(vectors));
  },
};
`,
    );
    const modules = [
      `(name = "worker.mjs", esModule = embed "worker.mjs")`,
      `(name = "scenarios.mjs", esModule = embed "scenarios.mjs")`,
      `(name = "cluster.mjs", esModule = embed "cluster.mjs")`,
    ];
    for (const file of filesUnder(join(work, pkgInWorker))) {
      const name = relative(work, file);
      if (name.endsWith(".js")) modules.push(`(name = "${name}", esModule = embed "${name}")`);
      if (name.endsWith(".wasm")) modules.push(`(name = "${name}", wasm = embed "${name}")`);
    }
    writeFileSync(
      join(work, "config.capnp"),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules.join(",\n    ")}
  ],
  compatibilityDate = "2024-09-23",
);
`,
    );
    const result = spawnSync(bin("workerd"), ["test", "config.capnp"], {
      cwd: work,
      encoding: "utf8",
    });
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(result.status, 0, output);
    assert.match(output, /workerd: \d+ scenarios ok/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("deno: the deno export runs the scenarios", () => {
  const result = spawnSync(
    bin("deno"),
    ["run", "--allow-read", "runtimes/deno-smoke.mjs", vectorsDir],
    {
      cwd: projectDir,
      encoding: "utf8",
      env: {
        ...process.env,
        DENO_DIR: resolve(projectDir, ".deno"),
        DENO_NO_UPDATE_CHECK: "1",
        NO_COLOR: "1",
      },
    },
  );
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /deno: \d+ scenarios ok/);
  const entry = readJson(join(pkgDir, "package.json")).exports["."].deno.default.replace(/^\.\//, "");
  assert.ok(result.stdout.includes(`deno: resolved file://${pkgDir}/${entry}`), result.stdout);
});
