// Makes the built package (pkg/ at the repository root) importable as `beryl-presence` from
// this test project, so tests resolve it through its `exports` map as a user's project would.
// It is linked at test time, not installed by `npm ci`, because setup runs before the build.
import { existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const project = resolve(here, "..");
const pkg = resolve(project, "../../../pkg");
if (!existsSync(join(pkg, "package.json"))) {
  console.error(`error: ${pkg} does not exist: run scripts/build-wasm.sh first`);
  process.exit(1);
}
const link = join(project, "node_modules", "beryl-presence");
mkdirSync(dirname(link), { recursive: true });
try {
  if (lstatSync(link)) {
    rmSync(link, { recursive: true, force: true });
  }
} catch {
  // No link yet.
}
symlinkSync(relative(dirname(link), pkg), link, "dir");
