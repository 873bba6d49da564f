// The console driven in a real browser (Debian's chromium, through puppeteer-core), against a live service:
//   node flow.mjs <base> <admin key> <base of a service without keys> <screenshots folder>
// Each step prints "ok: <step>" or "failed: <step>: <why>" (then exits 1); the last lines are the figures measured
// ("figures: {...}") and "console: every step passed". Waits are bounded only by HANG, which a hang reaches, never
// a slow machine; the delays are measured and printed, not asserted.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const [base, key, openBase, shots] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const HANG = 60_000;
const figures = {};
const dialogs = [];
const violations = [];
const pageErrors = [];
mkdirSync(shots, { recursive: true });

// --- the API, as another client would call it ------------------------------------------------------------------

async function api(method, path, { body, ifMatch, secret = key } = {}) {
  const headers = { Accept: "application/json" };
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  const response = await fetch(base + "/api/v1" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, etag: response.headers.get("etag"), body: text ? JSON.parse(text) : null };
}

async function created(path, body) {
  const answer = await api("POST", path, { body });
  if (answer.status !== 201) throw new Error(`POST ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function inParallel(count, width, make) {
  let next = 0;
  const out = new Array(count);
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) { const i = next++; out[i] = await make(i); }
  }));
  return out;
}

// --- steps ------------------------------------------------------------------------------------------------------

async function step(name, body) {
  try {
    await body();
    console.log(`ok: ${name}`);
  } catch (error) {
    console.log(`failed: ${name}: ${error?.stack ?? error}`);
    console.log(`figures: ${JSON.stringify(figures)}`);
    await browser?.close().catch(() => {});
    process.exit(1);
  }
}

function check(condition, what) {
  if (!condition) throw new Error(what);
}

const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });
const text = (page, selector) => page.$eval(selector, (el) => el.textContent);
const texts = (page, selector) => page.$$eval(selector, (els) => els.map((el) => el.textContent));
const waitText = (page, selector, part) => page.waitForFunction(
  (s, p) => [...document.querySelectorAll(s)].some((el) => el.textContent.includes(p)), { timeout: HANG, polling: "mutation" }, selector, part);
const mark = (page, name) => page.evaluate((n) => performance.getEntriesByName(n)[0]?.startTime ?? null, name);
const ms = (x) => Math.round(x * 10) / 10;
const sorted = (v) => (Array.isArray(v) ? v.map(sorted) : v && typeof v === "object"
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v);
const sameJson = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b)); // members in any order

const settled = (page, tab, selector) => page.waitForFunction((t, s) => document.querySelector(`#tab-${t}[aria-current="page"]`)
  && document.querySelector(s), { timeout: HANG, polling: "mutation" }, tab, selector);

async function setText(page, selector, value) { // as if typed: the field's value, then its input event
  await page.$eval(selector, (el, v) => { el.value = v; el.dispatchEvent(new Event("input", { bubbles: true })); }, value);
}

let browser;

async function newPage(width = 1280, height = 860) {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  page.on("dialog", async (dialog) => { dialogs.push(dialog.message()); await dialog.dismiss(); });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.exposeFunction("reportViolation", (v) => violations.push(v));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener("securitypolicyviolation", (e) => window.reportViolation(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
    window.longTasks = []; // tasks of 50 ms or more (what the Long Tasks API reports)
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.longTasks.push(entry.duration);
    }).observe({ type: "longtask", buffered: true });
  });
  return page;
}

// A new tab at the console's `hash`, signed in there with a managed key of these rights (made by the admin).
async function signedInTab(hash, name, environments) {
  const made = await created("/keys", { name, actions: ["read", "write"], applications: null, environments });
  const tab = await newPage();
  await tab.goto(`${base}/console${hash}`, { waitUntil: "domcontentloaded" });
  await tab.waitForSelector("#signin-key", { timeout: HANG });
  await tab.type("#signin-key", made.secret);
  await tab.keyboard.press("Enter");
  return { tab, made };
}

// The data: 1,000 applications, an environment tree, "billing" with its "database", an application of 1,000
// configurations, and hostile names and values.
const HOSTILE_APP = "<img src=x onerror=alert('app')>";
const HOSTILE_CONFIG = "</script><script>alert('config')</script>";
const HOSTILE_COMMENTS = "\u202Eexe.txt </textarea><img src=x onerror=alert('comments')>";
const HOSTILE_VALUE = "<img src=x onerror=alert('value')>";
let billing, database, prod, prodEu, big, hostileApp, hostileConfig;

await step("seed: 1,000 applications, environments, a configuration with overrides, 1,000 configurations of one application", async () => {
  const t0 = performance.now();
  await inParallel(1000, 16, (i) => created("/applications", { name: `app-${String(i).padStart(4, "0")}`, comments: i % 3 ? null : `Team ${i % 17}` }));
  billing = await created("/applications", { name: "billing", comments: "Invoices and payments" });
  database = await created("/configurations", { application_id: billing.id, name: "database", comments: "Primary database",
    config: { host: "db.internal", port: 5432, ssl: true, pool: { min: 1, max: 10 }, replicas: ["r1", "r2"] } });
  prod = await created("/environments", { name: "prod" });
  prodEu = await created("/environments", { name: "prod-eu", parent_id: prod.id });
  check((await api("PUT", `/configurations/${database.id}/overrides/${prod.id}`, { body: { patch: { pool: { max: 50 } } } })).status === 201, "prod's override");
  check((await api("PUT", `/configurations/${database.id}/overrides/${prodEu.id}`, { body: { patch: { host: "db.eu.internal" }, comments: "EU database" } })).status === 201, "prod-eu's override");
  big = await created("/applications", { name: "catalogue", comments: "1,000 configurations" });
  await inParallel(1000, 16, (i) => created("/configurations", { application_id: big.id, name: `item-${String(i).padStart(4, "0")}`,
    config: { enabled: i % 2 === 0, weight: i, tags: ["a", "b"], limits: { rps: 100 + i } } }));
  hostileApp = await created("/applications", { name: HOSTILE_APP, comments: HOSTILE_COMMENTS });
  hostileConfig = await created("/configurations", { application_id: hostileApp.id, name: HOSTILE_CONFIG, comments: HOSTILE_COMMENTS,
    config: { [HOSTILE_VALUE]: HOSTILE_VALUE, rtl: "\u202Eevil", script: "</script><script>alert('script')</script>" } });
  figures.seed_seconds = ms((performance.now() - t0) / 1000);
});

browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"] });
const page = await newPage();

await step("sign in: a wrong key is refused, the right one shows its name and rights, kept for the tab only", async () => {
  const t0 = performance.now();
  await page.goto(base + "/console", { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#signin-key", { visible: true, timeout: HANG });
  figures.sign_in_form_ms = ms(performance.now() - t0);
  check(await page.evaluate(() => document.activeElement?.id) === "signin-key", "the key field has the focus");
  await page.type("#signin-key", "not-the-key-0123456789");
  await page.keyboard.press("Enter");
  await waitText(page, "#signin-error", "does not accept this key");
  await setText(page, "#signin-key", "");
  await page.type("#signin-key", key);
  await shot(page, "sign-in");
  const t1 = performance.now();
  await page.keyboard.press("Enter");
  await page.waitForSelector(".apps li a", { timeout: HANG });
  figures.sign_in_to_application_list_ms = ms(performance.now() - t1);
  const who = await text(page, "#signed-in");
  check(who.includes("ops") && who.includes("read, write, manage") && who.includes("all applications"), `who: ${who}`);
  const kept = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length, cookie: document.cookie, url: location.href }));
  check(kept.session === 1 && kept.local === 0 && kept.cookie === "" && !kept.url.includes(key), `key kept: ${JSON.stringify(kept)}`);
});

await step("first screen: 1,000 applications listed and searchable (measured from navigation)", async () => {
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => performance.getEntriesByName("console:applications-all").length, { timeout: HANG });
  figures.applications_first_screen_ms = ms(await mark(page, "console:applications-ready"));
  figures.applications_all_loaded_ms = ms(await mark(page, "console:applications-all"));
  await waitText(page, "#find-count", "1,003 applications");
  await page.focus("#find");
  await page.type("#find", "app-09");
  await waitText(page, "#find-count", "100 of 1,003");
  const names = await texts(page, ".apps li a");
  check(names.length === 100 && names.every((n, i) => n === `app-09${String(i).padStart(2, "0")}`), "the filter shows app-09xx, by name");
  await shot(page, "applications");
});

await step("keyboard: find an application by name and open it with Enter, then a configuration", async () => {
  await setText(page, "#find", "");
  await page.type("#find", "billing");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".configs li a", { timeout: HANG });
  check((await text(page, "h1")).includes("billing"), "the application's page");
  // Tab from the filter to the first configuration's link; Enter follows it.
  await page.focus("#filter-configs");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => ({ text: document.activeElement.textContent, outline: getComputedStyle(document.activeElement).outlineStyle }));
  check(focused.text === "database", `focus on ${focused.text}`);
  check(focused.outline !== "none", "the focus is visible");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#view-env", { timeout: HANG });
});

await step("read a configuration per environment, each value with the layer that set it", async () => {
  await page.select("#view-env", prodEu.id);
  await page.waitForSelector("#view-body .layer", { timeout: HANG });
  const rows = await page.$$eval("#view-body .line", (els) => els.map((el) => el.textContent));
  const row = (k) => rows.find((r) => r.includes(`"${k}":`)) ?? "";
  check(row("host").includes("db.eu.internal") && row("host").endsWith("prod-eu"), `host: ${row("host")}`);
  check(row("max").includes("50") && row("max").endsWith("prod"), `max: ${row("max")}`);
  check(row("port").endsWith("own config"), `port: ${row("port")}`);
  await shot(page, "configuration-view-provenance");
});

await step("edit: validation as typed (with the position), the diff before saving, saved with If-Match", async () => {
  await page.click("#tab-edit");
  await page.waitForSelector("#config-text", { timeout: HANG });
  const original = await page.$eval("#config-text", (el) => el.value);
  const broken = original.replace('"port": 5432,', '"port": 6432');
  const wrong = broken.indexOf('"replicas"'); // where a ',' is missing: the line and column the console must name
  const where = `Line ${broken.slice(0, wrong).split("\n").length}, column ${wrong - broken.lastIndexOf("\n", wrong - 1)}`;
  await setText(page, "#config-text", broken);
  await waitText(page, "#config-text-check", `${where}: expected ',' or '}'`);
  check(await page.$eval("#review-button", (b) => b.disabled), "no review of invalid JSON");
  await setText(page, "#config-text", original.replace('"port": 5432,', '"port": 6432,\n  "timeout": 30,'));
  await waitText(page, "#config-text-check", "Valid JSON");
  await page.click("#review-button");
  await page.waitForSelector("#review .changes", { timeout: HANG });
  const review = await texts(page, "#review .change");
  check(review.length === 2 && review.some((c) => c.includes("/config/port") && c.includes("5432") && c.includes("6432"))
    && review.some((c) => c.includes("added") && c.includes("/config/timeout")), `review: ${review}`);
  await shot(page, "edit-diff");
  // Escape goes back to editing, with the edit kept; the review again, then save.
  await page.keyboard.press("Escape");
  await page.waitForSelector("#config-text", { visible: true, timeout: HANG });
  await page.click("#review-button");
  await page.waitForSelector("#save", { timeout: HANG });
  await page.click("#save");
  await waitText(page, "#version", "version 2");
  await settled(page, "view", "#view-body .line");
  const stored = await api("GET", `/configurations/${database.id}`);
  check(stored.body.config.port === 6432 && stored.body.config.timeout === 30, "the service has the edit");
});

await step("conflict: another session saves first; the save answers 412 and shows their change, then yours against it", async () => {
  await page.click("#tab-edit");
  await page.waitForSelector("#config-text", { timeout: HANG });
  const mine = await page.$eval("#config-text", (el) => el.value);
  await setText(page, "#config-text", mine.replace('"ssl": true', '"ssl": false'));
  // The second session: another tab, signed in on its own, edits and saves.
  const other = await newPage();
  await other.goto(`${base}/console#/apps/${billing.id}/configs/${database.id}/edit`, { waitUntil: "domcontentloaded" });
  await other.waitForSelector("#signin-key", { timeout: HANG });
  await other.type("#signin-key", key);
  await other.keyboard.press("Enter");
  await other.waitForSelector("#config-text", { timeout: HANG });
  const theirs = await other.$eval("#config-text", (el) => el.value);
  await setText(other, "#config-text", theirs.replace('"min": 1', '"min": 4'));
  await other.click("#review-button");
  await other.waitForSelector("#save", { timeout: HANG });
  await other.click("#save");
  await waitText(other, "#version", "version 3");
  await other.close();
  // Back in the first tab: review and save against version 2.
  await page.click("#review-button");
  await page.waitForSelector("#save", { timeout: HANG });
  await page.click("#save");
  await page.waitForSelector("#conflict", { timeout: HANG });
  const conflict = await text(page, "#conflict");
  check(conflict.includes("Version 3 was saved by ops") && conflict.includes("you started from version 2"), conflict);
  const lists = await page.$$eval("#conflict .changes", (els) => els.map((el) => el.textContent));
  check(lists[0].includes("/config/pool/min") && lists[0].includes("4"), `their change: ${lists[0]}`);
  check(lists[1].includes("/config/ssl") && lists[1].includes("/config/pool/min"), `yours against theirs: ${lists[1]}`);
  await shot(page, "conflict");
  check((await api("GET", `/configurations/${database.id}`)).body.version === 3, "nothing was overwritten");
  // Theirs (pool.min) and mine (ssl) touch different values: mine is offered on top of theirs, keeping theirs;
  // saving over them, as written, is still there, and would undo theirs.
  check((await text(page, "#merge-note")).includes("on top of version 3"), "mine on top of theirs is offered");
  check(!!(await page.$("#save-over")), "saving over theirs is still offered");
  await page.click("#save-merged");
  await waitText(page, "#version", "version 4");
  await settled(page, "view", "#view-body .line");
  const stored = (await api("GET", `/configurations/${database.id}`)).body;
  check(stored.config.ssl === false && stored.config.pool.min === 4, `mine on top of theirs: ${JSON.stringify(stored.config)}`);
});

await step("history: a diff per revision, and a restore shown as a diff first, then made with If-Match", async () => {
  await page.click("#tab-history");
  await page.waitForSelector("#revisions button.revision", { timeout: HANG });
  check((await texts(page, "#revisions button.revision")).length === 4, "four revisions");
  await page.click('#revisions button[data-version="2"]');
  await waitText(page, "#revision-detail h2", "Version 2");
  const change = await text(page, "#revision-detail .changes");
  check(change.includes("/config/port") && change.includes("/config/timeout"), change);
  await shot(page, "history");
  await page.click("#restore");
  await page.waitForSelector("#review #save", { timeout: HANG });
  const restoring = await text(page, "#review .changes");
  // (version 4 is theirs with mine on top: restoring version 2 takes back both)
  check(restoring.includes("/config/ssl") && restoring.includes("/config/pool/min")
    && (await texts(page, "#review .change")).length === 2, `restore diff: ${restoring}`);
  await page.click("#review #save");
  await waitText(page, "#version", "version 5");
  const stored = (await api("GET", `/configurations/${database.id}`)).body;
  const v2 = (await api("GET", `/configurations/${database.id}/revisions/2`)).body;
  check(JSON.stringify(stored.config) === JSON.stringify(v2.config), "version 5 is version 2's content");
});

await step("history as of: a feed position and a time each show the revision that was current then", async () => {
  const feed = (await api("GET", `/applications/${billing.id}/changes?after=0&limit=500`)).body.items;
  const second = feed.find((c) => c.configuration_id === database.id && !c.environment_id && c.version === 2);
  check(second, "the feed has version 2's change");
  await page.click("#as-of summary");
  await setText(page, "#as-of-seq", String(second.seq));
  await page.click("#as-of-show");
  await waitText(page, "#as-of-note", `it was version 2`);
  check((await text(page, "#revision-detail h2")) === "Version 2", "version 2's detail");
  check(await page.$eval('#revisions button[data-version="2"]', (b) => b.getAttribute("aria-pressed")) === "true", "selected in the list");
  // A time (the browser's, to the second): the console shows what the service answers for that time.
  const local = await page.evaluate(() => { const d = new Date(Date.now() - 1000); d.setMilliseconds(0);
    return { value: new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19), iso: d.toISOString() }; });
  const expected = (await api("GET", `/configurations/${database.id}/snapshot?at=${encodeURIComponent(local.iso)}`)).body.configuration.version;
  await setText(page, "#as-of-seq", "");
  await setText(page, "#as-of-time", local.value);
  await page.click("#as-of-show");
  await waitText(page, "#as-of-note", `it was version ${expected}`);
  check((await text(page, "#revision-detail h2")) === `Version ${expected}`, `version ${expected}'s detail`);
  await shot(page, "history-as-of");
});

await step("compare two environments: the patch, each side's value and the layer that set it", async () => {
  // The comparison the tab makes as it opens answers late (held back 1 s here, as a busy service might): the one
  // asked for after it must stay on the page, not be replaced by that older answer.
  let heldBack = null;
  const holdFirst = (request) => {
    if (!heldBack && request.url().includes("/compare")) {
      heldBack = page.waitForResponse((response) => response.request() === request, { timeout: HANG });
      setTimeout(() => request.continue().catch(() => {}), 1000);
    } else request.continue().catch(() => {});
  };
  await page.setRequestInterception(true);
  page.on("request", holdFirst);
  await page.click("#tab-compare");
  await page.waitForSelector("#compare-from", { timeout: HANG });
  await page.select("#compare-from", prod.id);
  await page.select("#compare-to", prodEu.id);
  await page.click("#compare-button");
  await waitText(page, "#compare-result h2", "From prod to prod-eu");
  check(heldBack !== null, "the first comparison was held back");
  await heldBack;
  for (let frame = 0; frame < 3; frame++) await page.evaluate(() => new Promise((next) => requestAnimationFrame(next)));
  page.off("request", holdFirst);
  await page.setRequestInterception(false);
  check((await text(page, "#compare-result h2")).includes("From prod to prod-eu"), "the comparison asked for last stays");
  const shown = await text(page, "#compare-result .changes");
  check(shown.includes("/host") && shown.includes("db.internal") && shown.includes("db.eu.internal") && shown.includes("prod-eu"), shown);
  check((await texts(page, "#compare-result .change")).length === 1, "one difference");
  await shot(page, "compare");
});

await step("overrides: edited like a configuration, with the diff, saved with If-Match", async () => {
  await page.click("#tab-overrides");
  await page.waitForSelector("#override-env", { timeout: HANG });
  await page.select("#override-env", prodEu.id);
  await page.waitForFunction(() => document.querySelector("#override-text")?.value.includes("db.eu.internal"), { timeout: HANG });
  await setText(page, "#override-text", '{"host": "db.eu.internal", "replicas": null}');
  await page.click("#override-review");
  await page.waitForSelector("#review #save", { timeout: HANG });
  check((await text(page, "#review .changes")).includes("/patch/replicas"), "the override's diff");
  await page.click("#review #save");
  await waitText(page, "#notice", "The override in prod-eu is saved");
  const stored = (await api("GET", `/configurations/${database.id}/overrides/${prodEu.id}`)).body;
  check(stored.version === 2 && stored.patch.replicas === null, "the service has the override");
});

await step("live: changes made through the API appear in the open page (feed and view), measured", async () => {
  await page.click("#tab-view");
  await page.waitForSelector("#view-body .line", { timeout: HANG });
  // prod-eu's override now removes the replicas that config sets: the view says which layer removed them.
  await page.waitForFunction(() => document.querySelector("#view-body .legend .removed"), { timeout: HANG });
  const removed = await texts(page, "#view-body .legend .removed");
  check(removed.length === 1 && removed[0] === "/replicas removed by prod-eu", `removed: ${removed}`);
  const delays = [];
  for (let i = 0; i < 5; i += 1) {
    await page.waitForFunction(() => document.querySelector("#feed-state")?.textContent.startsWith("Following"), { timeout: HANG });
    const now = await api("GET", `/configurations/${database.id}`);
    const config = { ...now.body.config, live: i };
    const t0 = performance.now();
    const put = await api("PUT", `/configurations/${database.id}`, { body: { name: "database", comments: now.body.comments, config }, ifMatch: now.etag });
    const acknowledged = performance.now();
    check(put.status === 200, `PUT answered ${put.status}`);
    await page.waitForFunction((v) => document.querySelector(`#feed-list li[data-configuration] `) &&
      [...document.querySelectorAll("#feed-list li")].some((li) => li.textContent.includes(`version ${v}`)) &&
      document.querySelector("#view-body")?.dataset.version === String(v), { timeout: HANG, polling: "mutation" }, put.body.version);
    delays.push({ from_request: performance.now() - t0, from_acknowledgment: performance.now() - acknowledged });
  }
  const after = delays.map((d) => d.from_acknowledgment).sort((a, b) => a - b);
  figures.live_change_shown_after_acknowledgment_ms = { min: ms(after[0]), median: ms(after[2]), max: ms(after[4]) };
  figures.live_change_shown_within_2s = after[4] <= 2000;
  await shot(page, "live-feed");
});

await step("a deleted configuration: its feed entry opens its history, and a revision is made a configuration again", async () => {
  const scratch = await created("/configurations", { application_id: billing.id, name: "scratch", comments: "to be deleted", config: { a: 1 } });
  const v2 = await api("PUT", `/configurations/${scratch.id}`, { body: { name: "scratch", comments: null, config: { a: 2 } }, ifMatch: `"${scratch.id}.1"` });
  check(v2.status === 200, `PUT answered ${v2.status}`);
  check((await api("DELETE", `/configurations/${scratch.id}`)).status === 204, "deleted");
  const deleted = `#feed-list li[data-configuration="${scratch.id}"] .kind-deleted`;
  await page.waitForSelector(deleted, { timeout: HANG });
  await page.$eval(deleted, (kind) => kind.parentElement.querySelector("a").click());
  await waitText(page, "#version", "deleted");
  check((await text(page, "#notice")) === "", `a notice of another screen stayed: ${await text(page, "#notice")}`);
  await page.waitForFunction(() => document.querySelectorAll("#revisions button.revision").length === 2, { timeout: HANG });
  check((await text(page, "#deleted-note")).includes("after version 2"), await text(page, "#deleted-note"));
  await page.click('#revisions button[data-version="1"]');
  await waitText(page, "#revision-detail h2", "Version 1");
  await page.click("#recreate");
  await page.waitForSelector("#recreate-confirm", { timeout: HANG });
  // Its name taken meanwhile: refused with the service's reason, nothing made.
  const other = await created("/configurations", { application_id: billing.id, name: "scratch", config: { b: 1 } });
  await page.click("#recreate-confirm");
  await waitText(page, "#recreate-error", "has a configuration with this name");
  await shot(page, "deleted-history");
  check((await api("DELETE", `/configurations/${other.id}`)).status === 204, "the other deleted");
  await page.click("#recreate-confirm");
  await page.waitForFunction((old) => location.hash.includes("/configs/") && !location.hash.includes(old), { timeout: HANG }, scratch.id);
  await waitText(page, "#version", "version 1");
  check((await text(page, "#notice")).includes("Created again from version 1"), "the action's notice, kept across its own move");
  const madeId = (await page.evaluate(() => location.hash)).split("/configs/")[1].split("/")[0];
  const again = (await api("GET", `/configurations/${madeId}`)).body;
  check(again.name === "scratch" && again.comments === "to be deleted" && sameJson(again.config, { a: 1 }), JSON.stringify(again));
  await page.evaluate((to) => { location.hash = to; }, `#/apps/${billing.id}/configs/${database.id}/view`);
  await page.waitForSelector("#view-body .line", { timeout: HANG });
});

await step("narrow window (400 px): one column, nothing wider than the window", async () => {
  await page.setViewport({ width: 400, height: 860 });
  await page.waitForFunction(() => document.documentElement.scrollWidth <= 400, { timeout: HANG });
  await shot(page, "narrow");
  await page.setViewport({ width: 1280, height: 860 });
});

// Staging to production: two applications; the document exported from one, changed, imported into the other.
let staging, production, downloads, changedFile;

await step("export: the application's document is downloaded as a file, the same as the API's export", async () => {
  staging = await created("/applications", { name: "shop-staging", comments: "Staging" });
  production = await created("/applications", { name: "shop-prod", comments: "Production" });
  const payments = await created("/configurations", { application_id: staging.id, name: "payments",
    config: { url: "https://pay.internal", retries: 3, hosts: ["a", "b"], timeouts: { connect: 2, read: 10 } } });
  check((await api("PUT", `/configurations/${payments.id}/overrides/${prod.id}`, { body: { patch: { url: "https://pay.prod.internal" } } })).status === 201, "staging's override");
  await created("/configurations", { application_id: staging.id, name: "search", config: { engine: "v2" } });
  await created("/configurations", { application_id: production.id, name: "payments",
    config: { url: "https://pay.internal", retries: 2, hosts: ["b"], timeouts: { connect: 2, read: 10 } } });
  await created("/configurations", { application_id: production.id, name: "legacy", config: { enabled: true } });
  downloads = mkdtempSync(join(tmpdir(), "console-downloads-"));
  // The file is read once chromium says the download completed: the name appears on disk before its bytes do.
  const cdp = await page.createCDPSession();
  const completed = new Promise((resolve, reject) => cdp.on("Browser.downloadProgress", (event) => {
    if (event.state === "completed") resolve(event);
    if (event.state === "canceled") reject(new Error("the download was canceled"));
  }));
  completed.catch(() => {}); // awaited below; a cancel before then is reported there
  await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads, eventsEnabled: true });
  await page.goto(`${base}/console#/apps/${staging.id}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#export", { timeout: HANG });
  await page.click("#export");
  await waitText(page, "#notice", "Exported at feed position");
  const exported = (await api("GET", `/applications/${staging.id}/export`)).body;
  const name = `shop-staging.seq-${exported.seq}.json`;
  let hung;
  await Promise.race([completed, new Promise((_, reject) => { hung = setTimeout(() => reject(new Error("no download completed")), HANG); })])
    .finally(() => clearTimeout(hung));
  check(existsSync(join(downloads, name)), `downloaded ${name}: ${readdirSync(downloads)}`);
  const file = JSON.parse(readFileSync(join(downloads, name), "utf8"));
  check(sameJson(file, exported), "the file is the API's export");
  // The change made between staging and production: five retries.
  file.configurations.find((c) => c.name === "payments").config.retries = 5;
  changedFile = join(downloads, "shop-staging-changed.json");
  writeFileSync(changedFile, JSON.stringify(file, null, 2));
});

await step("import: the changed document planned into production, exact mode's deletions said plainly, then merge reviewed", async () => {
  await page.goto(`${base}/console#/apps/${production.id}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#import", { timeout: HANG });
  await page.click("#import");
  await page.waitForSelector("#import-file", { timeout: HANG });
  await (await page.$("#import-file")).uploadFile(changedFile);
  await waitText(page, "#import-text-check", "Valid JSON");
  check((await page.$eval("#import-text", (el) => el.value)).includes('"retries": 5'), "the file is in the field");
  check((await text(page, ".mode-exact label")).includes("DELETE every configuration the document does not name"), "exact says it deletes");
  await page.click("#import-mode-exact");
  await page.click("#import-plan-button");
  await page.waitForSelector("#plan-deleted", { timeout: HANG });
  check((await text(page, "#plan-deleted")).includes("legacy"), "exact deletes legacy");
  check((await text(page, "#import-plan .warning")).includes("This plan deletes 1 configuration"), "the deletion is said");
  await page.click("#import-mode-merge");
  await page.waitForSelector("#plan-outdated", { timeout: HANG }); // another mode: the plan on screen is withdrawn
  check((await page.$("#import-apply")) === null, "no apply for a plan that is not on screen");
  await page.click("#import-plan-button");
  await page.waitForSelector("#import-apply", { timeout: HANG });
  const summary = await text(page, "#plan-summary");
  check(summary.startsWith("1 created · 1 updated · 0 deleted · 0 unchanged") && summary.includes("overrides: 1 created"), summary);
  check((await page.$("#plan-deleted")) === null, "merge deletes nothing");
  const updated = await text(page, '#plan-updated li[data-name="payments"] > .changes');
  check(updated.includes("/config/retries") && updated.includes("2") && updated.includes("5"), `retries: ${updated}`);
  // The service's diff aligns arrays: one element inserted is one operation, not every element changed.
  const changes = await texts(page, '#plan-updated li[data-name="payments"] > .changes > .change');
  check(changes.length === 2 && changes.some((c) => c.includes("added") && c.includes("/config/hosts/0") && c.includes('"a"')), `changes: ${changes}`);
  check((await text(page, '#plan-updated li[data-name="payments"] .override-change')).includes("prod"), "the override in prod");
  check((await text(page, '#plan-created li[data-name="search"]')).includes('"engine": "v2"'), "search created");
  await page.$eval("#plan-title", (el) => el.scrollIntoView());
  await shot(page, "import-plan");
});

await step("import: a write made after the plan answers 412, nothing is written, the plan is made again and applied", async () => {
  const legacy = (await api("GET", `/applications/${production.id}/configurations`)).body.items.find((c) => c.name === "legacy");
  const now = await api("GET", `/configurations/${legacy.id}`);
  check((await api("PUT", `/configurations/${legacy.id}`, { body: { name: "legacy", config: { enabled: false } }, ifMatch: now.etag })).status === 200, "the write in between");
  await page.click("#import-apply");
  await page.waitForSelector("#import-stale", { timeout: HANG });
  const stale = await text(page, "#import-stale");
  check(stale.includes("Nothing was written") && stale.includes("legacy") && stale.includes("version 2"), stale);
  check((await page.$("#import-apply")) === null, "the stale plan cannot be applied");
  const untouched = (await api("GET", `/applications/${production.id}/configurations`)).body.items;
  check(untouched.length === 2 && untouched.find((c) => c.name === "payments").config.retries === 2, "production is as it was");
  await page.$eval("#import-stale", (el) => el.scrollIntoView({ block: "center" }));
  await shot(page, "import-stale");
  await page.click("#import-replan");
  await page.waitForSelector("#import-apply", { timeout: HANG });
  check((await text(page, "#plan-summary")).startsWith("1 created · 1 updated"), "the new plan, to review");
  await page.click("#import-apply");
  await page.waitForSelector("#import-done", { timeout: HANG });
  const wanted = JSON.parse(readFileSync(changedFile, "utf8")).configurations;
  const after = (await api("GET", `/applications/${production.id}/configurations`)).body.items;
  const got = (n) => after.find((c) => c.name === n);
  check(sameJson(got("payments").config, wanted.find((c) => c.name === "payments").config), "payments is the document's");
  check(got("search")?.config.engine === "v2" && got("legacy")?.config.enabled === false, "search created, legacy kept (merge)");
  const override = (await api("GET", `/configurations/${got("payments").id}/overrides/${prod.id}`)).body;
  check(override.patch.url === "https://pay.prod.internal", "the override in prod");
  // The result, in the console: the applied configuration's page.
  await page.click('#import-done li[data-name="payments"] a');
  await page.waitForSelector("#view-body .line", { timeout: HANG });
  check((await texts(page, "#view-body .line")).some((l) => l.includes('"retries": 5')), "the page shows five retries");
});

await step("an application of 1,000 configurations lists without holding the page", async () => {
  await page.goto("about:blank"); // a new document, so that its marks are this load's
  await page.goto(`${base}/console#/apps/${big.id}`, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => performance.getEntriesByName("console:configurations-all").length, { timeout: HANG });
  figures.configurations_1000_first_rows_ms = ms(await mark(page, "console:configurations-first"));
  figures.configurations_1000_all_rendered_ms = ms(await mark(page, "console:configurations-all"));
  const long = await page.evaluate(() => window.longTasks);
  figures.configurations_1000_tasks_over_50ms = long.length;
  figures.configurations_1000_longest_task_ms = long.length ? ms(Math.max(...long)) : "none over 50 ms";
  check((await text(page, "#configs-count")).startsWith("1,000 configurations"), "all 1,000 listed");
  check((await page.$$("ul.configs li")).length === 1000, "1,000 rows");
  await setText(page, "#filter-configs", "item-099");
  await waitText(page, "#configs-count", "10 of 1,000 match");
});

await step("hostile names and values are shown as typed and never run or become markup", async () => {
  await page.goto(`${base}/console`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#find", { timeout: HANG });
  await page.type("#find", "<img");
  await waitText(page, "#find-count", "1 of");
  check((await texts(page, ".apps li a")).includes(HOSTILE_APP), "the application's name, as typed");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".configs li a", { timeout: HANG });
  check((await text(page, "h1")) === HOSTILE_APP, "its heading");
  check((await text(page, ".configs li a")) === HOSTILE_CONFIG, "the configuration's name");
  await page.click(".configs li a");
  await page.waitForSelector("#view-body .line", { timeout: HANG });
  const doc = (await texts(page, "#view-body .line")).join("\n");
  check(doc.includes(JSON.stringify(HOSTILE_VALUE)) && doc.includes('"rtl": "\\u202eevil"'), `the document: ${doc}`);
  const comments = await page.$eval(".config-head .comments .user", (el) => ({ text: el.textContent, bidi: getComputedStyle(el).unicodeBidi }));
  // As typed, with the right-to-left override shown as its code point instead of reversing what follows it.
  check(comments.text === HOSTILE_COMMENTS.replace("\u202E", "⟨U+202E⟩") && comments.bidi === "isolate", `comments: ${JSON.stringify(comments)}`);
  await page.click("#tab-edit");
  await page.waitForSelector("#config-text", { timeout: HANG });
  check((await page.$eval("#edit-name", (el) => el.value)) === HOSTILE_CONFIG, "the name in its field, as typed");
  await page.click("#tab-history");
  await page.waitForSelector("#revision-detail .changes", { timeout: HANG });
  await shot(page, "hostile");
  const made = await page.evaluate(() => document.querySelectorAll("img, svg, iframe, object, embed, b, script:not([src])").length);
  check(made === 0, `${made} elements made from data`);
  check(dialogs.length === 0, `dialogs: ${dialogs}`);
  check(violations.length === 0, `the policy had to block: ${violations}`);
  // Control: markup put into the page on purpose is refused by the policy, and this check sees it.
  await page.evaluate(() => { const d = document.createElement("div"); d.innerHTML = "<img src=x onerror=alert('control')>"; document.body.append(d); });
  await page.waitForFunction(() => document.querySelectorAll("img").length === 1, { timeout: HANG });
  const until = Date.now() + HANG;
  while (!violations.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  check(violations.some((v) => v.startsWith("script-src")), `the control's inline handler was blocked: ${violations}`);
  check(dialogs.length === 0, "the control never ran");
  violations.length = 0;
});

await step("a key revoked while a page is open: the sign-in says so, and signing in again comes back to the unsaved edit", async () => {
  const { tab, made: temp } = await signedInTab(`#/apps/${billing.id}/configs/${database.id}/edit`, "ops-for-a-while", null);
  await tab.waitForSelector("#config-text", { timeout: HANG });
  const draft = (await tab.$eval("#config-text", (el) => el.value)).replace(/\n}\s*$/, ',\n  "drafted": true\n}');
  await setText(tab, "#config-text", draft);
  check((await api("DELETE", `/keys/${temp.id}`)).status === 204, "the admin revokes the key");
  await tab.waitForSelector("#signin-key", { timeout: HANG }); // (the page's held request is answered 401)
  const said = await text(tab, "#signin-error");
  check(said.includes("no longer accepts this key") && said.includes("unsaved edits are kept"), `said: ${said}`);
  await tab.type("#signin-key", key);
  await tab.keyboard.press("Enter");
  await tab.waitForSelector("#config-text", { timeout: HANG });
  check((await tab.$eval("#config-text", (el) => el.value)) === draft, "the unsaved edit is back");
  await tab.close();
});

await step("a key limited to one environment is not offered what it may not do: edit config, restore, export, import", async () => {
  const { tab, made: narrow } = await signedInTab(`#/apps/${billing.id}/configs/${database.id}/edit`, "ops-prod-eu", [prodEu.id]);
  await tab.waitForSelector("#edit-limited", { timeout: HANG });
  check((await text(tab, "#edit-limited")).includes("Overrides tab") && !(await tab.$("#config-text")), "no edit of config, pointed to overrides");
  await tab.click("#tab-history");
  await tab.waitForSelector("#revisions button.revision", { timeout: HANG });
  await tab.click('#revisions button[data-version="2"]');
  await tab.waitForSelector("#restore-limited", { timeout: HANG });
  check(!(await tab.$("#restore")), "no restore offered");
  await tab.goto(`${base}/console#/apps/${billing.id}`, { waitUntil: "domcontentloaded" });
  await tab.waitForSelector("#no-transfer", { timeout: HANG });
  check(!(await tab.$("#export")) && !(await tab.$("#import")), "no export or import offered");
  // An address that puts a configuration under another application leads to it under its own.
  await tab.goto(`${base}/console#/apps/${big.id}/configs/${database.id}/view`, { waitUntil: "domcontentloaded" });
  await tab.waitForFunction((id) => location.hash.startsWith(`#/apps/${id}/configs/`), { timeout: HANG }, billing.id);
  await tab.waitForSelector("#view-env", { timeout: HANG });
  check((await text(tab, ".config-head .crumbs")).includes("billing"), "shown under billing");
  // An address whose id is no id: said as nothing having it, not as the validation of a path parameter.
  await tab.goto(`${base}/console#/apps/not-an-id`, { waitUntil: "domcontentloaded" });
  await waitText(tab, "main h1", "Not found");
  check((await text(tab, "main .error")).includes("its id is not one this service makes"), await text(tab, "main .error"));
  await tab.close();
  check((await api("DELETE", `/keys/${narrow.id}`)).status === 204, "the key revoked");
});

await step("API keys: a key made for one application and environment, its secret shown once; changed with If-Match, a stale change answered with the other's; revoked, confirmed first", async () => {
  await page.goto("about:blank"); // a new document (the tab's key kept): the hostile step's control is gone
  await page.goto(`${base}/console#/keys`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#keys-link", { timeout: HANG });
  await page.waitForSelector("#new-key", { timeout: HANG });
  await page.click("#new-key");
  await page.waitForSelector("#key-name", { timeout: HANG });
  await page.type("#key-name", "deploy-bot");
  await page.click("#key-write"); // write: read is ticked with it
  check(await page.$eval("#key-read", (el) => el.checked), "read ticked with write");
  await page.type("#key-app-find", "billing");
  await page.click("#key-app-add");
  await page.waitForSelector(`#key-apps li[data-id="${billing.id}"]`, { timeout: HANG });
  check(await page.$eval("#key-apps-some", (el) => el.checked), "only the applications picked");
  await page.click(`#key-env-${prodEu.id}`);
  await shot(page, "key-form");
  await page.click("#key-save");
  await page.waitForSelector("#key-secret", { timeout: HANG });
  const secret = await page.$eval("#key-secret", (el) => el.value);
  check(/^csk_[A-Za-z0-9_-]{43}$/.test(secret), `the secret: ${secret}`);
  const kept = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + location.href);
  check(!kept.includes(secret), "the secret is neither in the tab's storage nor in the address");
  await shot(page, "key-secret");
  const rights = await api("GET", "/key", { secret });
  check(rights.status === 200 && rights.body.name === "deploy-bot" && sameJson(rights.body.actions, ["read", "write"])
    && sameJson(rights.body.applications, [billing.id]) && sameJson(rights.body.environments, [prodEu.id]),
    `the new key works with the rights asked: ${JSON.stringify(rights.body)}`);
  const id = rights.body.id;
  await page.click("#key-done");
  await page.waitForSelector("#key-rights", { timeout: HANG });
  const shown = await text(page, "#key-rights");
  check(shown.includes("billing") && shown.includes(prodEu.name) && shown.includes("write"), `its rights: ${shown}`);
  await page.waitForSelector("#key-audit li", { timeout: HANG });
  await shot(page, "key");

  // Changed meanwhile through the API: the console's save answers 412 and shows the other version.
  await page.click("#edit-key");
  await page.waitForSelector("#key-name", { timeout: HANG });
  const current = await api("GET", `/keys/${id}`);
  const renamed = await api("PUT", `/keys/${id}`, { ifMatch: current.etag, body: { name: "deploy-bot-renamed",
    actions: ["read", "write"], applications: [billing.id], environments: [prodEu.id], comments: "renamed elsewhere" } });
  check(renamed.status === 200, `the API's change: ${renamed.status}`);
  await page.click("#key-write");
  await page.click("#key-save");
  await page.waitForFunction(() => document.querySelector("#key-name")?.value === "deploy-bot-renamed", { timeout: HANG, polling: "mutation" });
  check((await text(page, "#notice")).includes("Someone changed this key"), await text(page, "#notice"));
  check(await page.$eval("#key-write", (el) => el.checked), "the form shows their version, write still granted");
  await page.click("#key-write");
  await page.click("#key-save");
  await page.waitForSelector("#key-rights", { timeout: HANG });
  const narrowed = await api("GET", "/key", { secret });
  check(narrowed.body.name === "deploy-bot-renamed" && sameJson(narrowed.body.actions, ["read"]),
    `saved over their version: ${JSON.stringify(narrowed.body)}`);

  // Revoked, after a confirmation; Escape backs out of it first.
  await page.click("#revoke");
  await page.waitForSelector("#revoke-confirm", { timeout: HANG });
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => !document.querySelector("#revoke-confirm"), { timeout: HANG, polling: "mutation" });
  check((await api("GET", "/key", { secret })).status === 200, "not revoked by backing out");
  await page.click("#revoke");
  await page.waitForSelector("#revoke-confirm", { timeout: HANG });
  await page.click("#revoke-confirm");
  await waitText(page, "#key-state", "revoked");
  check((await api("GET", "/key", { secret })).status === 401, "the revoked key's requests answer 401");
  check(!(await page.$("#edit-key")) && !(await page.$("#revoke")), "a revoked key offers no change");

  // The list hides revoked keys unless asked; the audit has each step, newest first.
  await page.goto(`${base}/console#/keys`, { waitUntil: "domcontentloaded" });
  await waitText(page, "#keys-count", "revoked, hidden");
  check(!(await page.$(`#keys li[data-id="${id}"]`)), "a revoked key is hidden at first");
  await page.click("#show-revoked");
  await page.waitForSelector(`#keys li[data-id="${id}"][data-state="revoked"]`, { timeout: HANG });
  await page.waitForSelector("#audit li", { timeout: HANG });
  const trail = await page.$$eval("#audit li", (els) => els.map((el) => [el.dataset.action, el.textContent]));
  const mine = trail.filter(([, t]) => t.includes("deploy-bot"));
  check(sameJson(mine.slice(0, 4).map(([a]) => a), ["revoked", "updated", "updated", "created"]),
    `the audit, newest first: ${JSON.stringify(mine)}`);
  check(mine[2][1].includes("renamed from") && mine[1][1].includes("actions read, write → read"), `what changed: ${JSON.stringify(mine)}`);
  await shot(page, "keys");

  // A key that may not manage keys is not offered them; an open API has none.
  const { tab, made } = await signedInTab("#/keys", "ops-no-manage", null);
  await tab.waitForSelector("#keys-refused", { timeout: HANG });
  check(!(await tab.$("#keys-link")), "no link to the keys");
  await tab.close();
  check((await api("DELETE", `/keys/${made.id}`)).status === 204, "that key revoked");
  const open = await newPage();
  await open.goto(`${openBase}/console#/keys`, { waitUntil: "domcontentloaded" });
  await open.waitForSelector("#keys-open", { timeout: HANG });
  check(!(await open.$("#keys-link")), "an open API links to no keys");
  await open.close();
});

await step("API keys: a creation whose answer was lost, sent again, makes no second key and names the one made", async () => {
  await page.goto(`${base}/console#/keys/new`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#key-name", { timeout: HANG });
  await page.type("#key-name", "lost-answer-bot");
  // The first POST reaches the service (sent from here, with the browser's headers and body) and its answer is
  // lost on the way back: the browser sees the connection reset.
  let first = null;
  const loseFirst = async (request) => {
    if (first === null && request.method() === "POST" && request.url().endsWith("/api/v1/keys")) {
      first = fetch(request.url(), { method: "POST", headers: request.headers(), body: request.postData() })
        .then(async (response) => ({ status: response.status, body: await response.json(),
          idempotencyKey: request.headers()["idempotency-key"] }));
      await first;
      request.abort("connectionreset").catch(() => {});
    } else request.continue().catch(() => {});
  };
  await page.setRequestInterception(true);
  page.on("request", loseFirst);
  await page.click("#key-save");
  await waitText(page, "#key-error", "could not be reached");
  page.off("request", loseFirst);
  await page.setRequestInterception(false);
  const lost = await first;
  check(lost.status === 201 && /^[0-9a-f]{32}$/.test(lost.idempotencyKey ?? ""),
    `the first try made the key, with an Idempotency-Key: ${lost.status} ${lost.idempotencyKey}`);
  await page.click("#key-save"); // the operator tries again
  await page.waitForFunction((id) => location.hash === `#/keys/${id}`, { timeout: HANG, polling: 100 }, lost.body.id);
  await page.waitForSelector("#revoke", { timeout: HANG });
  const said = await text(page, "#notice");
  check(said.includes("never reached this page") && said.includes("Revoke this key"), `what it says: ${said}`);
  const keys = await api("GET", "/keys?limit=500");
  check(keys.body.items.filter((k) => k.name === "lost-answer-bot").length === 1, "one key of that name, not two");
  await page.click("#revoke");
  await page.waitForSelector("#revoke-confirm", { timeout: HANG });
  await page.click("#revoke-confirm");
  await waitText(page, "#key-state", "revoked");
  check((await api("GET", "/key", { secret: lost.body.secret })).status === 401, "the key whose secret was lost, revoked");
});

await step("API keys: a manager limited to one application and a day is offered no more than it has; revoking its own key signs the tab out", async () => {
  const expires = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
  const made = await created("/keys", { name: "ops-billing-manager", actions: ["read", "manage"], applications: [billing.id],
    environments: null, expires_at: expires });
  const tab = await newPage();
  await tab.goto(`${base}/console#/keys/new`, { waitUntil: "domcontentloaded" });
  await tab.waitForSelector("#signin-key", { timeout: HANG });
  await tab.type("#signin-key", made.secret);
  await tab.keyboard.press("Enter");
  await tab.waitForSelector("#key-name", { timeout: HANG });
  const offered = await tab.evaluate(() => ({
    allApps: !document.querySelector("#key-apps-all").disabled, write: !document.querySelector("#key-write").disabled,
    manage: !document.querySelector("#key-manage").disabled, read: document.querySelector("#key-read").checked,
    expiryRequired: document.querySelector("#key-expires").required, expiryMax: document.querySelector("#key-expires").max,
    hint: document.querySelector("#key-expires-hint").textContent }));
  check(!offered.allApps && !offered.write && offered.manage && offered.read && offered.expiryRequired
    && offered.expiryMax !== "" && offered.hint.includes("at the latest"), `what it is offered: ${JSON.stringify(offered)}`);
  await tab.type("#key-app-find", "bill");
  await tab.click("#key-app-add");
  await waitText(tab, "#key-app-hint", "Names that contain it: billing");
  check(!(await tab.$(`#key-apps li[data-id="${billing.id}"]`)), "a part of a name picks nothing by itself");
  await tab.goto(`${base}/console#/keys/${made.id}`, { waitUntil: "domcontentloaded" });
  await tab.waitForSelector("#revoke", { timeout: HANG });
  await tab.click("#revoke");
  await tab.waitForSelector("#revoke-confirm", { timeout: HANG });
  check((await text(tab, "#revoke-area")).includes("signs you out"), "it says the tab will be signed out");
  await tab.click("#revoke-confirm");
  await tab.waitForSelector("#signin-key", { timeout: HANG });
  check((await api("GET", "/key", { secret: made.secret })).status === 401, "its own key revoked");
  await tab.close();
});

await step("sign out forgets the key", async () => {
  await page.goto(`${base}/console`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#sign-out", { timeout: HANG });
  await page.click("#sign-out");
  await page.waitForSelector("#signin-key", { timeout: HANG });
  check(await page.evaluate(() => sessionStorage.length) === 0, "sessionStorage is empty");
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForSelector("#signin-key", { timeout: HANG });
});

await step("a service without keys: the console says the API is open and needs no key", async () => {
  const open = await newPage();
  await open.goto(`${openBase}/console`, { waitUntil: "domcontentloaded" });
  await open.waitForSelector("#open-api", { timeout: HANG });
  check((await text(open, "#open-api")).includes("The API is open"), "it says so");
  check((await open.$("#signin-key")) === null && (await open.$("#sign-out")) === null, "no key asked, none to forget");
  await open.waitForSelector("#find", { timeout: HANG });
  await shot(open, "open-api");
  await open.close();
});

await step("no script error, dialog or policy violation in the whole run", async () => {
  check(pageErrors.length === 0, `page errors: ${pageErrors}`);
  check(dialogs.length === 0 && violations.length === 0, `dialogs ${dialogs}, violations ${violations}`);
});

await browser.close();
console.log(`figures: ${JSON.stringify(figures)}`);
console.log("console: every step passed");
