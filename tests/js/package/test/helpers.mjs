// Shared by the tests: paths, vector files, and small conversions.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** The test project, the repository root, the built package and the golden vectors. */
export const projectDir = resolve(here, "..");
export const repoRoot = resolve(projectDir, "../../..");
export const pkgDir = resolve(repoRoot, "pkg");
export const vectorsDir = resolve(repoRoot, "tests/vectors");

export function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

export function hex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

/** The `.bin` golden file as hex. */
export function vectorHex(name) {
  return readFileSync(resolve(vectorsDir, "replication", `${name}.bin`)).toString("hex");
}

/** The `.json` golden file's text, without its final newline. */
export function vectorText(name) {
  return readFileSync(resolve(vectorsDir, "replication", `${name}.json`), "utf8").replace(/\n$/, "");
}

/**
 * Runs `source` as an ES module in a fresh Node process (from the test project, so
 * `beryl-presence` resolves through the package's exports) and returns the process result.
 */
export function runModule(source, { args = [] } = {}) {
  return spawnSync(process.execPath, [...args, "--input-type=module", "-e", source], {
    cwd: projectDir,
    encoding: "utf8",
  });
}

/**
 * Source that counts every WebAssembly instance made from now on, in `globalThis.instances`
 * (`new WebAssembly.Instance`, `WebAssembly.instantiate`, `WebAssembly.instantiateStreaming`).
 */
export const countInstances = `
  globalThis.instances = [];
  {
    const OriginalInstance = WebAssembly.Instance;
    const Instance = function Instance(module, imports) {
      globalThis.instances.push("new Instance");
      return new OriginalInstance(module, imports);
    };
    Instance.prototype = OriginalInstance.prototype;
    WebAssembly.Instance = Instance;
    for (const name of ["instantiate", "instantiateStreaming"]) {
      const original = WebAssembly[name];
      WebAssembly[name] = function (...args) {
        globalThis.instances.push(name);
        return original.apply(this, args);
      };
    }
  }
`;
