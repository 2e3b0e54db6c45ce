// Shared by the tests: paths, vector files, and small conversions.
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
