// The console: signing in, the applications, an application's configurations, and its live change feed.
// The configuration screen (view, edit, history, overrides, compare) is in config.js; export and import in
// transfer.js; API keys in keys.js.

import * as api from "./api.js";
import { formatTime, h, renderInChunks, replace, userText } from "./dom.js";
import { configurationScreen } from "./config.js";
import { exportApplication, importScreen } from "./transfer.js";
import { keysRoute } from "./keys.js";

const main = document.getElementById("main");
const who = document.getElementById("who");
const notice = document.getElementById("notice");

export const state = {
  me: null,            // the answer of GET /key
  environments: [],    // every environment, in id order
  application: null,   // the application on screen (or whose configuration is)
  screen: null,        // {onChange(change)} of the screen shown
  drafts: new Map(),   // unsaved edits by configuration id, kept while the tab lives
};

export const can = (action) => state.me?.actions?.includes(action);
// Whether the key reaches every environment: what all of them share (a configuration's own config, its restore, an
// export or import, which hold every override) is refused to a key limited to some, so it is not offered to one.
export const everyEnvironment = () => state.me?.environments == null;
export const LIMITED = "This key is limited to some environments";
export const environmentName = (id) => state.environments.find((e) => e.id === id)?.name ?? id;

// A short message for everyone, screen readers included (the notice region is aria-live). It stays on its screen:
// the operator's next move to another screen clears it, unless the move is the action's own (`navigate`).
export function say(text, kind = "info") {
  replace(notice, text ? h("span", { className: `notice-${kind}` }, text) : null);
}

let keepNotice = false; // the next route keeps the notice: the action that said it moved to another screen

// Go to `hash` as the end of an action, keeping what the action said.
export function navigate(hash) {
  if (location.hash === hash) return;
  keepNotice = true;
  location.hash = hash;
}

export function problemText(error) {
  if (!(error instanceof api.Problem)) return `The service could not be reached (${error.message}).`;
  const items = error.errors.map((e) => `${e.pointer ?? e.parameter ?? e.header ?? ""} ${e.message ?? e.detail ?? ""}`.trim());
  return [error.message, ...items].join(" — ");
}

// --- signing in -----------------------------------------------------------------------------------------------

async function start() {
  api.whenUnauthorized(keyRefused);
  window.addEventListener("hashchange", () => route());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.screen?.onEscape) state.screen.onEscape(event);
  });
  const stored = api.key.get();
  try {
    const me = await api.call("GET", "/key", { secret: stored });
    await signedIn(me.body);
  } catch (error) {
    if (stored) api.key.clear();
    signInScreen(error instanceof api.Problem && error.status === 401
      ? (stored ? "The key of this tab is no longer accepted: sign in again." : null) : problemText(error));
  }
}

function signInScreen(message) {
  stopFeed();
  state.me = null;
  replace(who);
  const input = h("input", { id: "signin-key", type: "password", autocomplete: "off", spellcheck: false,
    "aria-describedby": "signin-help" });
  const error = h("p", { id: "signin-error", className: "error", role: "alert" }, message ?? "");
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { className: "signin", onsubmit: async (event) => {
    event.preventDefault();
    const secret = input.value.trim();
    if (!secret) { replace(error, "Paste a key first."); input.focus(); return; }
    button.disabled = true;
    replace(error, "");
    try {
      const me = await api.call("GET", "/key", { secret });
      api.key.set(secret);
      input.value = "";
      await signedIn(me.body);
    } catch (e) {
      replace(error, e instanceof api.Problem && e.status === 401 ? "The service does not accept this key." : problemText(e));
      button.disabled = false;
      input.select();
      input.focus();
    }
  } },
  h("h1", { tabIndex: -1 }, "Sign in"),
  h("p", { id: "signin-help" }, "Paste an API key of this service. It is kept for this tab only (closing the tab or ",
    "signing out forgets it) and sent only to this service."),
  h("label", { htmlFor: "signin-key" }, "API key"),
  h("div", { className: "row" }, input, button),
  error);
  replace(main, form);
  say("");
  input.focus();
  document.title = "Sign in · Config Service console";
}

async function signedIn(me) {
  state.me = me;
  rightsRead = Date.now();
  warnBeforeExpiry(me);
  showWho(me);
  try {
    state.environments = (await api.all("/environments")).items;
  } catch (error) {
    state.environments = [];
    say(`Environments could not be read: ${problemText(error)}`, "error");
  }
  await route(true);
}

// The key's name and rights, in the header.
function showWho(me) {
  const rights = [me.actions.join(", "),
    me.applications === null ? "all applications" : `${me.applications.length} application${me.applications.length === 1 ? "" : "s"}`,
    me.environments === null ? "all environments" : `${me.environments.length} environment${me.environments.length === 1 ? "" : "s"}`];
  if (me.open) {
    replace(who, h("p", { id: "open-api", className: "open" },
      "The API is open: this service has no API keys, so no key is needed (anyone who can reach it may change anything)."));
  } else {
    const source = me.source === "settings" ? "key of the service's settings" : "managed key";
    replace(who, h("p", { id: "signed-in" }, "Signed in as ", userText(me.name, "key-name"), ` (${source}): `,
      h("span", { id: "rights" }, rights.join(" · ")),
      me.expires_at ? `, expires ${formatTime(me.expires_at)}` : ""),
    me.actions.includes("manage") ? h("a", { href: "#/keys", id: "keys-link" }, "API keys") : null,
    h("button", { id: "sign-out", type: "button", onclick: () => signOut("Signed out: the key is forgotten.") }, "Sign out"));
  }
}

// The key's rights read again as the operator moves around (at most every 5 s): an admin may have narrowed or
// widened them since sign-in, and what the page offers follows them. (A revoked key: its 401 signs the tab out.)
let rightsRead = 0;
// Read the key's rights again at once (the operator changed them: keys.js).
export function rightsChanged() {
  rightsRead = 0;
  return recheckRights();
}
async function recheckRights() {
  if (!state.me || state.me.open || Date.now() - rightsRead < 5000) return;
  rightsRead = Date.now();
  try {
    const me = (await api.call("GET", "/key")).body;
    if (!state.me || JSON.stringify(me) === JSON.stringify(state.me)) return;
    state.me = me;
    showWho(me);
    warnBeforeExpiry(me);
    state.environments = (await api.all("/environments")).items;
    say("This key's rights changed since you signed in: what the pages offer now follows them.", "warn");
  } catch {
    // (unreachable now: read again at the next move)
  }
}

// The key's expiry, told a minute before it comes (an edit left open would otherwise meet it at its save).
let expiryWarning = null;
function warnBeforeExpiry(me) {
  clearTimeout(expiryWarning);
  if (!me.expires_at) return;
  const warnIn = Date.parse(me.expires_at) - Date.now() - 60_000;
  if (warnIn > 2 ** 31 - 1) return; // (beyond what a timer can wait: a tab is not kept open that long)
  expiryWarning = setTimeout(() => say(`This key expires at ${formatTime(me.expires_at)}: save your edits before `
    + "then; after it, sign in with another key and they are still here.", "error"), Math.max(0, warnIn));
}

// The service answered 401 to the key of this tab: it expired, or was revoked. Unlike a sign-out, the page and its
// unsaved edits stay: signing in again (with this key renewed, or another) comes back to them.
function keyRefused() {
  const me = state.me;
  const expired = me?.expires_at && Date.parse(me.expires_at) <= Date.now() + 1000;
  const why = expired ? `This key expired at ${formatTime(me.expires_at)}: sign in with another key.`
    : "The service no longer accepts this key (it was revoked?): sign in again.";
  const kept = state.drafts.size ? ` Your unsaved edits are kept in this tab: sign in to come back to them.` : "";
  api.key.clear();
  clearTimeout(expiryWarning);
  state.screen?.leave?.();
  state.screen = null;
  signInScreen(why + kept);
  say(why + kept);
}

function signOut(message) {
  api.key.clear();
  clearTimeout(expiryWarning);
  state.drafts.clear();
  state.application = null;
  if (location.hash) history.replaceState(null, "", location.pathname);
  signInScreen(message);
  say(message);
}

// --- routes ---------------------------------------------------------------------------------------------------

let routes = 0; // a newer route (the hash changed again) wins over one still reading

async function route(keep = false) {
  if (!state.me) return;
  recheckRights();
  if (!keep && !keepNotice) say("");
  keepNotice = false;
  const mine = ++routes;
  const current = () => mine === routes;
  state.screen?.leave?.();
  state.screen = null;
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "apps" && parts[1] && parts[2] === "configs" && parts[3]) {
      await enterApplication(parts[1]);
      if (!current()) return;
      const screen = await configurationScreen(main, state.application, parts[3], parts[4] ?? "view", current);
      if (!current()) { screen?.leave?.(); return; }
      state.screen = screen;
    } else if (parts[0] === "apps" && parts[1] && parts[2] === "import") {
      await enterApplication(parts[1]);
      if (!current()) return;
      state.screen = importScreen(state.application);
    } else if (parts[0] === "keys") {
      stopFeed();
      state.application = null;
      const screen = await keysRoute(main, parts.slice(1), current);
      if (!current()) { screen?.leave?.(); return; }
      state.screen = screen;
    } else if (parts[0] === "apps" && parts[1]) {
      await enterApplication(parts[1]);
      if (!current()) return;
      state.screen = applicationScreen(state.application);
    } else {
      stopFeed();
      state.application = null;
      state.screen = applicationsScreen();
    }
  } catch (error) {
    if (!current()) return;
    // An id in the address that is no id at all (a 422 at the path) is said as what it means here: nothing has it.
    const malformed = error instanceof api.Problem && error.status === 422 && error.errors.some((e) => e.pointer?.startsWith("#/path/"));
    const said = malformed ? "The address names nothing here: its id is not one this service makes."
      : problemText(error);
    // (A 503 while the database is away is no "not found"; nor is a service that could not be reached.)
    const found = error instanceof api.Problem && error.status < 500;
    replace(main, h("h1", { tabIndex: -1 }, found ? "Not found" : "Not available"),
      h("p", { className: "error", role: "alert" }, said), h("p", {}, parts[0] === "keys"
        ? h("a", { href: "#/keys" }, "All API keys") : h("a", { href: "#/" }, "All applications")));
  }
  if (current()) main.querySelector("h1")?.focus();
}

async function enterApplication(id) {
  if (state.application?.id !== id) {
    state.application = (await api.call("GET", `/applications/${api.enc(id)}`)).body;
    follow(state.application);
  }
}

export function crumbs(...items) {
  const nav = h("nav", { className: "crumbs", "aria-label": "Where you are" });
  items.forEach(([text, href], i) => {
    if (i) nav.append(" › ");
    nav.append(href ? h("a", { href }, userText(text)) : userText(text));
  });
  return nav;
}

// --- applications ---------------------------------------------------------------------------------------------

function applicationsScreen() {
  document.title = "Applications · Config Service console";
  const find = h("input", { id: "find", type: "search", autocomplete: "off", spellcheck: false,
    placeholder: "name, or part of it", "aria-describedby": "find-count" });
  const count = h("p", { id: "find-count", className: "count", "aria-live": "polite" }, "Loading applications…");
  const list = h("ul", { className: "list apps", "aria-label": "Applications" });
  let items = [];
  let sorted = []; // by name, as an operator looks for one
  let complete = false;
  let stop = () => {};
  let stopped = false;
  const byName = new Intl.Collator(undefined, { numeric: true }).compare;

  const matches = () => {
    const q = find.value.normalize("NFC").trim().toLowerCase();
    return q ? sorted.filter((a) => a.name.toLowerCase().includes(q)) : sorted;
  };
  const show = () => {
    stop();
    const shown = matches();
    const total = `${items.length.toLocaleString()}${complete ? "" : "+"} application${items.length === 1 ? "" : "s"}`;
    replace(count, find.value.trim() ? `${shown.length.toLocaleString()} of ${total} match` : total,
      complete ? "" : " (loading the rest…)");
    stop = renderInChunks(list, shown, (a) => h("li", {},
      h("a", { href: `#/apps/${encodeURIComponent(a.id)}` }, userText(a.name, "name")),
      h("span", { className: "meta" }, a.comments ? [userText(a.comments, "comments"), " · "] : null,
        `version ${a.version} · updated ${formatTime(a.updated_at)}`)));
  };

  const form = h("form", { role: "search", className: "find", onsubmit: async (event) => {
    event.preventDefault();
    const shown = matches();
    if (shown.length === 1) { location.hash = `#/apps/${encodeURIComponent(shown[0].id)}`; return; }
    const name = find.value.trim();
    if (!name) return;
    try { // the exact name, asked of the service (when it is not among those loaded yet)
      const page = await api.call("GET", "/applications", { query: { name, limit: 1 } });
      if (page.body.items.length) location.hash = `#/apps/${encodeURIComponent(page.body.items[0].id)}`;
      else say(`No application is named exactly “${name}”.`);
    } catch (error) { say(problemText(error), "error"); }
  } },
  h("label", { htmlFor: "find" }, "Find an application by name"),
  h("div", { className: "row" }, find, h("button", { type: "submit" }, "Open")));
  find.addEventListener("input", show);

  replace(main, h("h1", { tabIndex: -1 }, "Applications"), form, count, list);

  (async () => {
    try {
      // The first page small, so the screen is usable at once; then the rest in large pages.
      let page = await api.call("GET", "/applications", { query: { limit: 100 } });
      items = page.body.items;
      sorted = items.slice().sort((a, b) => byName(a.name, b.name));
      complete = page.body.next_cursor === null;
      show();
      performance.mark("console:applications-ready");
      while (!complete && !stopped) {
        page = await api.call("GET", "/applications", { query: { limit: 500, cursor: page.body.next_cursor } });
        items = items.concat(page.body.items);
        sorted = items.slice().sort((a, b) => byName(a.name, b.name));
        complete = page.body.next_cursor === null;
        if (!stopped) show();
      }
      performance.mark("console:applications-all");
    } catch (error) {
      if (!stopped) replace(count, h("span", { className: "error", role: "alert" }, problemText(error)));
    }
  })();
  return { leave: () => { stopped = true; stop(); } };
}

// --- one application ------------------------------------------------------------------------------------------

function layout(...content) {
  return h("div", { className: "layout" }, h("div", { className: "content" }, content), feed.panel);
}

function applicationScreen(app) {
  document.title = `${app.name} · Config Service console`;
  const filter = h("input", { id: "filter-configs", type: "search", autocomplete: "off", spellcheck: false,
    "aria-describedby": "configs-count" });
  const count = h("p", { id: "configs-count", className: "count", "aria-live": "polite" }, "Loading configurations…");
  const list = h("ul", { className: "list configs", "aria-label": "Configurations" });
  let items = [];
  let complete = false;
  let stop = () => {};
  let left = false;
  const controller = new AbortController();

  const show = () => {
    stop();
    const q = filter.value.normalize("NFC").trim().toLowerCase();
    const shown = q ? items.filter((c) => c.name.toLowerCase().includes(q)) : items;
    replace(count, q ? `${shown.length.toLocaleString()} of ${items.length.toLocaleString()} match`
      : `${items.length.toLocaleString()} configuration${items.length === 1 ? "" : "s"}`, complete ? "" : " (loading…)");
    stop = renderInChunks(list, shown, (c) => h("li", { dataset: { id: c.id } },
      h("a", { href: `#/apps/${encodeURIComponent(app.id)}/configs/${encodeURIComponent(c.id)}` }, userText(c.name, "name")),
      h("span", { className: "meta" }, `version ${c.version} · ${Object.keys(c.config).length} keys · updated ${formatTime(c.updated_at)}`,
        c.comments ? [" · ", userText(c.comments, "comments")] : null)),
    { done: () => { if (complete) performance.mark("console:configurations-all"); } });
  };
  const load = async () => {
    try {
      let first = true;
      await api.all(`/applications/${api.enc(app.id)}/configurations`, { signal: controller.signal, onPage: (got, last) => {
        items = got.slice();
        complete = last;
        if (!left) show();
        if (first) { performance.mark("console:configurations-first"); first = false; }
      } });
    } catch (error) {
      if (!left && error.name !== "AbortError") replace(count, h("span", { className: "error", role: "alert" }, problemText(error)));
    }
  };
  filter.addEventListener("input", show);

  replace(main, layout(
    crumbs(["Applications", "#/"], [app.name]),
    h("h1", { tabIndex: -1 }, userText(app.name, "name")),
    app.comments ? h("p", { className: "comments" }, userText(app.comments)) : null,
    everyEnvironment() ? h("div", { className: "actions app-actions" },
      h("button", { type: "button", id: "export", onclick: (event) => exportApplication(app, event.currentTarget) }, "Export as a file"),
      h("a", { href: `#/apps/${encodeURIComponent(app.id)}/import`, id: "import", className: "button" }, "Import a document…"))
      : h("p", { id: "no-transfer", className: "hint" }, `${LIMITED}: export and import, which hold every environment's overrides, need a key for all of them.`),
    h("section", { "aria-labelledby": "configs-title" },
      h("h2", { id: "configs-title" }, "Configurations"),
      h("label", { htmlFor: "filter-configs" }, "Filter configurations by name"),
      filter, count, list)));
  load();
  let reload = null;
  return {
    leave: () => { left = true; stop(); controller.abort(); clearTimeout(reload); },
    onChange: (change) => { // a change in the feed: list again, once a burst of changes is over
      clearTimeout(reload);
      reload = setTimeout(() => { if (!left) load(); }, 300);
      return change;
    },
  };
}

// --- the change feed: held requests, one after the other, never a timer's polling ------------------------------

const feed = {
  panel: h("aside", { className: "feed", "aria-labelledby": "feed-title" }),
  application: null,
  controller: null,
};

function stopFeed() {
  feed.controller?.abort();
  feed.controller = null;
  feed.application = null;
}

function follow(app) {
  stopFeed();
  const controller = new AbortController();
  feed.controller = controller;
  feed.application = app;
  const status = h("p", { id: "feed-state", className: "feed-state", "aria-live": "polite" }, "Reading the feed…");
  const list = h("ul", { id: "feed-list", className: "feed-list" });
  replace(feed.panel, h("h2", { id: "feed-title" }, "Live changes"),
    h("p", { className: "hint" }, "Changes of this application's configurations, as they commit."), status, list);
  const KEEP = 100;

  const entry = (c) => h("li", { dataset: { seq: String(c.seq), configuration: c.configuration_id } },
    h("span", { className: `kind kind-${c.kind}` }, c.kind), " ",
    // A configuration deleted links to its history, which stays readable by its id.
    h("a", { href: `#/apps/${encodeURIComponent(app.id)}/configs/${encodeURIComponent(c.configuration_id)}`
      + (c.kind === "deleted" && !c.environment_id ? "/history" : "") }, userText(c.name, "name")),
    ` version ${c.version}`,
    c.environment_id ? [" in ", h("span", { className: "env" }, environmentName(c.environment_id))] : null,
    h("span", { className: "meta" }, " · ", c.by ? ["by ", userText(c.by)] : "no key", " · ", formatTime(c.at)));

  (async () => {
    let after = 0;
    let epoch;
    let backoff = 1;
    const recent = [];
    const signal = controller.signal;
    const read = async (query) => (await api.call("GET", `/applications/${api.enc(app.id)}/changes`, { query, signal })).body;
    const catchUp = async () => { // from the start of the feed to now, keeping the last KEEP
      after = 0;
      recent.length = 0;
      for (;;) {
        const page = await read({ after, limit: 500 });
        epoch = page.epoch;
        recent.push(...page.items);
        recent.splice(0, Math.max(0, recent.length - KEEP));
        if (page.next_after === after || page.items.length < 500) { after = page.next_after; break; }
        after = page.next_after;
      }
      replace(list, recent.slice().reverse().map(entry));
    };
    while (!signal.aborted) {
      try {
        if (after === 0 && epoch === undefined) await catchUp();
        replace(status, "Following: a request is held open until the next change commits.");
        const page = await read({ after, epoch, limit: 100, wait: 30 });
        backoff = 1;
        after = page.next_after;
        epoch = page.epoch; // the epoch of the change at next_after, as written: kept with it
        for (const change of page.items) {
          list.prepend(entry(change));
          window.dispatchEvent(new CustomEvent("console:change", { detail: change }));
          state.screen?.onChange?.(change);
        }
        while (list.children.length > KEEP) list.lastChild.remove();
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof api.Problem && error.status === 410) { // a failover lost the change at `after`
          replace(status, "A failover lost changes shown here: reading the feed again from its start.");
          after = 0;
          epoch = undefined;
          continue;
        }
        if (error instanceof api.Problem && error.status === 404) { replace(status, "This application is gone."); return; }
        replace(status, h("span", { className: "error" }, `Not following: ${problemText(error)} Trying again in ${backoff} s.`));
        await new Promise((resolve) => setTimeout(resolve, backoff * 1000));
        backoff = Math.min(backoff * 2, 16);
      }
    }
  })();
}

export { layout };

start();
