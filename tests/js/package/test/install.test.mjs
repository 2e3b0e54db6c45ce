// The package as a user gets it: `npm pack`, install the tarball into a fresh project, import
// it from ESM and from CommonJS; then a minimal Vite page (no wasm plugin) built from that
// project and loaded in headless Chromium.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { pkgDir, projectDir } from "./helpers.mjs";

let work;
let app;

before(() => {
  work = mkdtempSync(join(tmpdir(), "beryl-install-"));
  const packed = JSON.parse(
    execFileSync("npm", ["pack", pkgDir, "--json", "--pack-destination", work], {
      encoding: "utf8",
    }),
  );
  const tarball = join(work, packed[0].filename);
  const files = packed[0].files.map((file) => file.path);
  assert.ok(files.includes("wasm/beryl_wasm_bg.wasm") && files.includes("dist/index.cjs"), files.join());
  app = join(work, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], {
    cwd: app,
    encoding: "utf8",
  });
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function node(file, source) {
  writeFileSync(join(app, file), source);
  const result = spawnSync(process.execPath, [file], { cwd: app, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

const usage = `
  const a = new PresenceState("node-a");
  const b = new PresenceState("node-b");
  a.track("room", "alice", "p1", { status: "online" });
  b.merge(a.takeDelta());
  console.log(b.list("room")[0].key, b.presenceState("room").includes("phx_ref"));
`;

test("ESM import from the installed tarball", () => {
  const out = node("esm.mjs", `import { PresenceState } from "beryl-presence";\n${usage}`);
  assert.equal(out, "alice true");
});

test("CommonJS require from the installed tarball", () => {
  const out = node("cjs.cjs", `const { PresenceState } = require("beryl-presence");\n${usage}`);
  assert.equal(out, "alice true");
});

const mime = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".css": "text/css",
};

test("a Vite page imports it without a wasm plugin and runs in headless Chromium", async () => {
  writeFileSync(
    join(app, "index.html"),
    `<!doctype html><html><body><pre id="out">pending</pre><script type="module" src="/main.js"></script></body></html>`,
  );
  writeFileSync(
    join(app, "main.js"),
    `import { init, PresenceState } from "beryl-presence";
(async () => {
  const out = document.getElementById("out");
  try {
    await init();
    const a = new PresenceState("browser-a");
    const b = new PresenceState("browser-b");
    a.track("room", "alice", "tab-1", { status: "online" });
    b.merge(a.takeDelta("json"));
    out.textContent = JSON.stringify({ keys: b.list("room").map((g) => g.key), payload: b.presenceState("room") });
  } catch (error) {
    out.textContent = "error: " + error;
  }
})();
`,
  );
  const { build } = await import("vite");
  await build({ root: app, configFile: false, logLevel: "warn", build: { outDir: "dist" } });
  const assets = readdirSync(join(app, "dist/assets"));
  assert.ok(assets.some((file) => file.endsWith(".wasm")), `the .wasm is emitted: ${assets}`);

  const dist = join(app, "dist");
  const server = createServer((request, response) => {
    const pathname = new URL(request.url, "http://x").pathname;
    const file = resolve(dist, `.${pathname.endsWith("/") ? `${pathname}index.html` : pathname}`);
    try {
      const body = readFileSync(file.startsWith(dist) ? file : join(dist, "index.html"));
      response.writeHead(200, { "content-type": mime[extname(file)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--disable-quic",
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => document.getElementById("out")?.textContent !== "pending", null, {
      timeout: 20_000,
    });
    const text = await page.textContent("#out");
    const result = JSON.parse(text.startsWith("error") ? JSON.stringify({ error: text }) : text);
    assert.deepEqual(result.keys, ["alice"], text);
    assert.match(result.payload, /^\{"alice":\{"metas":\[\{"status":"online","phx_ref":"[^"]+"\}\]\}\}$/);
  } finally {
    await browser.close();
    server.close();
  }
});
