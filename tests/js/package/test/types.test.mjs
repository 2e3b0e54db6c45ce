// The package's TypeScript declarations: a usage example (ESM and CommonJS) must type-check,
// including the `@ts-expect-error` lines that must stay errors, and no public declaration may
// use `any`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { pkgDir, projectDir } from "./helpers.mjs";

test("tsc --noEmit accepts the usage example", () => {
  const result = spawnSync(
    resolve(projectDir, "node_modules/.bin/tsc"),
    ["-p", "types/tsconfig.json"],
    { cwd: projectDir, encoding: "utf8" },
  );
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
});

test("no public declaration uses any", () => {
  const dirs = [join(pkgDir, "dist"), join(pkgDir, "dist/cjs")];
  let checked = 0;
  for (const dir of dirs) {
    for (const file of readdirSync(dir).filter((f) => /\.d\.c?ts$/.test(f))) {
      const code = readFileSync(join(dir, file), "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
      assert.doesNotMatch(code, /\bany\b/, `${file} uses any`);
      checked += 1;
    }
  }
  assert.ok(checked > 5);
});
