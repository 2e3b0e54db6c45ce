// The package's TypeScript declarations: usage examples must type-check (including the
// `@ts-expect-error` lines that must stay errors) in three kinds of project: a browser/bundler
// one (lib dom), a Node-only one (lib es2022 + @types/node, no DOM) with ESM and CommonJS, and a
// Cloudflare Workers one (@cloudflare/workers-types, the workerd conditions). No public
// declaration may use `any` or `bigint`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { pkgDir, projectDir } from "./helpers.mjs";

const projects = {
  "a browser or bundler project (lib dom)": "types/tsconfig.json",
  "a Node-only project (lib es2022 + @types/node, no dom)": "types/node/tsconfig.json",
  "a Cloudflare Workers project (@cloudflare/workers-types, no dom)": "types/workers/tsconfig.json",
};

for (const [name, config] of Object.entries(projects)) {
  test(`tsc --noEmit accepts the usage example of ${name}`, () => {
    const result = spawnSync(resolve(projectDir, "node_modules/.bin/tsc"), ["-p", config], {
      cwd: projectDir,
      encoding: "utf8",
    });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  });
}

test("no public declaration uses any or bigint", () => {
  // The glue's own declarations (wasm/) are not reachable through the exports map.
  const dirs = [join(pkgDir, "dist"), join(pkgDir, "dist/cjs")];
  let checked = 0;
  for (const dir of dirs) {
    for (const file of readdirSync(dir).filter((f) => /\.d\.c?ts$/.test(f))) {
      const code = readFileSync(join(dir, file), "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
      assert.doesNotMatch(code, /\bany\b/, `${file} uses any`);
      assert.doesNotMatch(code, /from "\.\.\/wasm\//, `${file} exposes the glue's declarations`);
      assert.doesNotMatch(code, /\bbigint\b|\bBigInt\b|\bBigInt64Array\b/, `${file} uses bigint`);
      checked += 1;
    }
  }
  assert.ok(checked > 5);
});
