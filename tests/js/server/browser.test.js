// A real browser (Debian's Chromium driven by playwright-core) on the demo page: two pages
// join the lobby and both show two people; one closes and the other shows one.
import assert from "node:assert/strict";
import { existsSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { PACKAGE_DIR, outputDir, startServer } from "./harness.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not found (scripts/setup.sh installs Debian's chromium)`
  : !existsSync(path.join(PACKAGE_DIR, "dist/browser.js"))
    ? "the beryl-presence package is not built (scripts/build-wasm.sh)"
    : null;
// A missing browser or package fails the run (a skipped browser test would hide a broken
// set-up); BERYL_SKIP_BROWSER=1 turns that into a skip for machines without Chromium.
const skip = missing && process.env.BERYL_SKIP_BROWSER === "1" ? missing : false;

let server;
let browser;

before(async () => {
  if (skip) return;
  if (missing) throw new Error(`cannot run the browser tests: ${missing}`);
  server = await startServer({ node: "browser-test" });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
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
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openAs(name) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${server.url}?name=${encodeURIComponent(name)}&room=lobby`);
  return { page, errors };
}

const people = (page) => page.locator("#people li").evaluateAll((items) => items.map((li) => li.dataset.key));

test("two pages show each other; when one closes the other shows one person", { skip }, async () => {
  const ada = await openAs("ada");
  const bob = await openAs("bob");
  for (const { page } of [ada, bob]) {
    await page.waitForFunction(() => document.querySelector("#online-count")?.textContent === "2", null, {
      timeout: 15_000,
    });
    assert.deepEqual(await people(page), ["ada", "bob"]);
  }
  assert.match(await ada.page.locator("#status").textContent(), /joined room:lobby as ada/);
  const twoPeople = path.join(outputDir(), "demo-two-people.png");
  rmSync(twoPeople, { force: true });
  await ada.page.screenshot({ path: twoPeople });
  assert.ok(statSync(twoPeople).size > 0, `a screenshot in ${twoPeople}`);

  await bob.page.close();
  await ada.page.waitForFunction(() => document.querySelector("#online-count")?.textContent === "1", null, {
    timeout: 15_000,
  });
  assert.deepEqual(await people(ada.page), ["ada"]);
  const onePerson = path.join(outputDir(), "demo-one-person.png");
  rmSync(onePerson, { force: true });
  await ada.page.screenshot({ path: onePerson });
  assert.ok(statSync(onePerson).size > 0, `a screenshot in ${onePerson}`);
  assert.deepEqual(ada.errors, [], "no page errors");
  assert.deepEqual(bob.errors, [], "no page errors");
  await ada.page.close();
});

test("two tabs of one user are one person with two connections", { skip }, async () => {
  const first = await openAs("cy");
  const second = await openAs("cy");
  await first.page.waitForFunction(
    () => document.querySelector('#people li[data-key="cy"] .devices')?.textContent.startsWith("2 connections"),
    null,
    { timeout: 15_000 },
  );
  assert.equal(await first.page.locator("#online-count").textContent(), "1");
  await second.page.close();
  await first.page.waitForFunction(
    () => document.querySelector('#people li[data-key="cy"] .devices')?.textContent.startsWith("1 connection"),
    null,
    { timeout: 15_000 },
  );
  await first.page.close();
});
