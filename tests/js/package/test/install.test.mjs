// The package as a user gets it: `npm pack`, install the tarball into a fresh project, import
// it from ESM and from CommonJS; then a minimal Vite page (no wasm plugin) from that project in
// headless Chromium, both built (`vite build`) and served by the Vite dev server: the browser
// entry's loading checks (runtimes/loading.mjs: nothing compiled, instantiated, timed or drawn
// at import, a state before init() refused, one instance), with and without
// FinalizationRegistry, then two replicas replicating.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
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

/**
 * The page: runtimes/loading.mjs's checks (after probe.mjs, imported first) with the browser
 * entry (no synchronous source: a state before `init()` is refused), then two replicas
 * replicating; `nofinalization.html` does the same where FinalizationRegistry is missing.
 */
function writePage() {
  for (const name of ["probe.mjs", "loading.mjs", "no-finalization.mjs"]) {
    copyFileSync(join(projectDir, "runtimes", name), join(app, name));
  }
  const html = (script) =>
    `<!doctype html><html><body><pre id="out">pending</pre><script type="module" src="/${script}"></script></body></html>`;
  writeFileSync(join(app, "index.html"), html("main.js"));
  writeFileSync(join(app, "nofinalization.html"), html("main-no-finalization.js"));
  writeFileSync(join(app, "main-no-finalization.js"), `import "./no-finalization.mjs";\nimport "./main.js";\n`);
  writeFileSync(
    join(app, "main.js"),
    `import { calls } from "./probe.mjs";
import * as pkg from "beryl-presence";
import { checkLoading } from "./loading.mjs";

const atImport = [...calls];
(async () => {
  const out = document.getElementById("out");
  try {
    const loading = await checkLoading(pkg, calls, atImport, { sync: false });
    await pkg.init();
    const a = new pkg.PresenceState("browser-a");
    const b = new pkg.PresenceState("browser-b");
    a.track("room", "alice", "tab-1", { status: "online" });
    b.merge(a.takeDelta("json"));
    out.textContent = JSON.stringify({ loading, keys: b.list("room").map((g) => g.key), payload: b.presenceState("room") });
  } catch (error) {
    out.textContent = "error: " + error + "\\n" + error.stack;
  }
})();
`,
  );
}

async function withChromium(use) {
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
    return await use(browser);
  } finally {
    await browser.close();
  }
}

/** Loads each page from `origin` and checks what it shows. */
async function checkPages(origin) {
  await withChromium(async (browser) => {
    for (const [path, finalization] of [["/", "with"], ["/nofinalization.html", "without"]]) {
      const page = await browser.newPage();
      const failed = [];
      page.on("requestfailed", (request) => failed.push(request.url()));
      await page.goto(`${origin}${path}`);
      await page.waitForFunction(() => document.getElementById("out")?.textContent !== "pending", null, {
        timeout: 30_000,
      });
      const text = await page.textContent("#out");
      assert.ok(!text.startsWith("error"), `${path}: ${text} (failed requests: ${failed.join(", ")})`);
      const result = JSON.parse(text);
      assert.match(
        result.loading,
        new RegExp(`^loading ok ${finalization} FinalizationRegistry \\(at import: nothing; first use: .*new WebAssembly\\.Instance`),
      );
      assert.deepEqual(result.keys, ["alice"], text);
      assert.match(result.payload, /^\{"alice":\{"metas":\[\{"status":"online","phx_ref":"[^"]+"\}\]\}\}$/);
      await page.close();
    }
  });
}

test("a Vite page imports it without a wasm plugin: the built page runs in headless Chromium", async () => {
  writePage();
  const { build } = await import("vite");
  await build({
    root: app,
    configFile: false,
    logLevel: "warn",
    build: {
      outDir: "dist",
      rollupOptions: { input: { main: join(app, "index.html"), nofinalization: join(app, "nofinalization.html") } },
    },
  });
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
  try {
    await checkPages(`http://127.0.0.1:${server.address().port}`);
  } finally {
    server.close();
  }
});

test("the same page through the Vite dev server runs in headless Chromium", async () => {
  writePage();
  const { createServer: createViteServer } = await import("vite");
  const server = await createViteServer({
    root: app,
    configFile: false,
    logLevel: "warn",
    server: { host: "127.0.0.1", port: 0, strictPort: false, hmr: false },
  });
  await server.listen();
  try {
    await checkPages(`http://127.0.0.1:${server.httpServer.address().port}`);
  } finally {
    await server.close();
  }
});
