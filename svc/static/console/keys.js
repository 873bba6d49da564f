// API keys, for a key that may manage them: the keys it may see (revoked ones on request), one key with its rights
// and its audit, a new key (its secret shown once, never kept), a key's rights changed with If-Match (a 412 shows
// the other person's version), and its revocation, confirmed first. The keys of the service's settings (API_KEYS)
// are managed there, not here (nor through the API).

import * as api from "./api.js";
import { formatTime, h, renderInChunks, replace, userText } from "./dom.js";
import { can, crumbs, environmentName, navigate, problemText, rightsChanged, say, state } from "./app.js";

const ACTIONS = ["read", "write", "manage"];
const ACTION_HELP = { read: "read configurations", write: "change configurations", manage: "manage keys" };

// The applications' names, read once a visit of these screens (a key names applications by id).
let names = null;
async function applicationNames() {
  if (!names) {
    names = new Map();
    try {
      for (const a of (await api.all("/applications")).items) names.set(a.id, a.name);
    } catch {
      // (unread: the ids are shown instead)
    }
  }
  return names;
}
const appName = (id) => names?.get(id) ?? id;

// #/keys, #/keys/new, #/keys/<id>, #/keys/<id>/edit
export async function keysRoute(main, parts, current) {
  names = null;
  auditRead = null;
  if (state.me.open) {
    replace(main, h("h1", { tabIndex: -1 }, "API keys"), h("p", { id: "keys-open", className: "hint" },
      "The API is open: this service has no API keys, so there are none to manage. Keys are managed here once the ",
      "service's settings name one (API_KEYS) and you sign in with a key that may manage keys."));
    return null;
  }
  if (!can("manage")) {
    replace(main, h("h1", { tabIndex: -1 }, "API keys"), h("p", { id: "keys-refused", className: "hint" },
      "This key may not manage keys: sign in with one that may (its actions include manage)."));
    return null;
  }
  if (!parts[0]) return listScreen(main);
  await applicationNames();
  if (!current()) return null;
  if (parts[0] === "new") return formScreen(main, null, null, current);
  const read = await api.call("GET", `/keys/${api.enc(parts[0])}`);
  if (!current()) return null;
  if (parts[1] === "edit" && !read.body.revoked_at) return formScreen(main, read.body, read.etag, current);
  return keyScreen(main, read.body, read.etag);
}

function stateOf(key) {
  if (key.revoked_at) return ["revoked", `revoked ${formatTime(key.revoked_at)}`];
  if (key.expires_at && Date.parse(key.expires_at) <= Date.now()) return ["expired", `expired ${formatTime(key.expires_at)}`];
  return ["active", key.expires_at ? `expires ${formatTime(key.expires_at)}` : "never expires"];
}

const scope = (list, all, one, many) => (list === null ? all : `${list.length} ${list.length === 1 ? one : many}`);

function rightsText(rights) {
  return [rights.actions.join(", ") || "no actions",
    scope(rights.applications, "all applications", "application", "applications"),
    scope(rights.environments, "all environments", "environment", "environments")].join(" · ");
}

// --- the list ---------------------------------------------------------------------------------------------------

function listScreen(main) {
  document.title = "API keys · Config Service console";
  const revoked = h("input", { id: "show-revoked", type: "checkbox" });
  const count = h("p", { id: "keys-count", className: "count", "aria-live": "polite" }, "Loading keys…");
  const list = h("ul", { id: "keys", className: "list keys", "aria-label": "API keys" });
  const audit = h("ol", { id: "audit", className: "list audit", "aria-label": "Key audit, newest first" });
  const auditState = h("p", { className: "count" }, "Loading the audit…");
  let keys = null; // until read
  let stop = () => {};
  let left = false;

  const show = () => {
    if (keys === null) return;
    stop();
    const shown = revoked.checked ? keys : keys.filter((k) => !k.revoked_at);
    const hidden = keys.length - shown.length;
    replace(count, `${shown.length} key${shown.length === 1 ? "" : "s"}`, hidden ? ` (and ${hidden} revoked, hidden)` : "");
    stop = renderInChunks(list, shown, (k) => {
      const [kind, when] = stateOf(k);
      return h("li", { dataset: { id: k.id, state: kind } },
        h("a", { href: `#/keys/${encodeURIComponent(k.id)}` }, userText(k.name, "name")),
        h("span", { className: `key-state key-${kind}` }, kind),
        h("span", { className: "meta" }, rightsText(k), " · ", when, " · ",
          k.last_used_at ? `last used ${formatTime(k.last_used_at)}` : "never used"));
    });
  };
  revoked.addEventListener("change", show);

  replace(main,
    crumbs(["API keys"]),
    h("h1", { tabIndex: -1 }, "API keys"),
    h("p", { className: "hint" }, "The keys your key may see: those whose rights are within its own. A key's secret is ",
      "shown once, when it is made; here are only their names and rights."),
    h("div", { className: "actions" }, h("a", { href: "#/keys/new", id: "new-key", className: "button" }, "Create a key…")),
    h("div", { className: "mode" }, revoked, h("label", { htmlFor: "show-revoked" }, "Show revoked keys")),
    count, list,
    h("section", { "aria-labelledby": "audit-title" }, h("h2", { id: "audit-title" }, "Recent key changes"), auditState, audit));

  (async () => {
    try {
      keys = (await api.all("/keys")).items;
      if (!left) show();
    } catch (error) {
      if (!left) replace(count, h("span", { className: "error", role: "alert" }, problemText(error)));
    }
  })();
  (async () => {
    try {
      const entries = await auditEntries();
      if (left) return;
      replace(auditState, entries.length ? `The last ${Math.min(entries.length, 50)} of ${entries.length}, newest first.` : "Nothing yet.");
      replace(audit, entries.slice(-50).reverse().map((e) => auditItem(e, true)));
    } catch (error) {
      if (!left) replace(auditState, h("span", { className: "error", role: "alert" }, problemText(error)));
    }
  })();
  return { leave: () => { left = true; stop(); } };
}

// The key audit, oldest first, as far as this key may see it: read once a visit of these screens. Every page is
// read (the contract has no newest-first order): a page may hold none of what this key sees while `next_after`
// moves on past the entries it may not see, so only a `next_after` that stays put ends it.
let auditRead = null;
function auditEntries() {
  auditRead ??= (async () => {
    const entries = [];
    let after = 0;
    for (;;) {
      const page = (await api.call("GET", "/audit/keys", { query: { after, limit: 500 } })).body;
      entries.push(...page.items);
      if (page.next_after === after) return entries;
      after = page.next_after;
    }
  })();
  auditRead.catch(() => { auditRead = null; }); // (a failure is read again at the next visit)
  return auditRead;
}

const actor = (a) => (a.id === null && a.name === null ? "the open API" : a.name === null ? a.id
  : [userText(a.name, "name"), a.id === null ? " (settings)" : ""]);

// What an update changed, field by field.
function changed(before, after) {
  const out = [];
  if (before.name !== after.name) out.push(["renamed from ", userText(before.name, "name")]);
  if (JSON.stringify(before.actions) !== JSON.stringify(after.actions)) out.push(`actions ${before.actions.join(", ")} → ${after.actions.join(", ")}`);
  for (const [field, all, one, many] of [["applications", "all applications", "application", "applications"],
    ["environments", "all environments", "environment", "environments"]]) {
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) {
      out.push(`${scope(before[field], all, one, many)} → ${scope(after[field], all, one, many)}`);
    }
  }
  if (before.expires_at !== after.expires_at) {
    out.push(`expiry ${before.expires_at ? formatTime(before.expires_at) : "never"} → ${after.expires_at ? formatTime(after.expires_at) : "never"}`);
  }
  return out.length ? out.flatMap((part, i) => (i ? ["; ", part] : [part])) : ["its comments"];
}

function auditItem(e, named) {
  const what = e.action === "updated" && e.before && e.after ? [": ", changed(e.before, e.after)]
    : e.action === "created" && e.after ? [": ", rightsText(e.after)] : [];
  return h("li", { dataset: { seq: String(e.seq), action: e.action } },
    h("span", { className: `kind kind-${e.action === "revoked" ? "deleted" : e.action}` }, e.action), " ",
    named ? (e.key.id ? h("a", { href: `#/keys/${encodeURIComponent(e.key.id)}` }, userText(e.key.name ?? e.key.id, "name")) : actor(e.key)) : null,
    what,
    h("span", { className: "meta" }, " · by ", actor(e.by), " · ", formatTime(e.at)));
}

// --- one key ----------------------------------------------------------------------------------------------------

// The key screen drawn again (after a revocation, or a 412): it becomes the screen, unless the operator has left.
function redraw(main, screen, read) {
  if (screen.left) return;
  screen.leave();
  auditRead = null; // (what was just done is in it now)
  state.screen = keyScreen(main, read.body, read.etag);
  main.querySelector("h1")?.focus();
}

function keyScreen(main, key, etag) {
  document.title = `${key.name} · API keys · Config Service console`;
  const [kind, when] = stateOf(key);
  const own = state.me.id === key.id;
  const confirmArea = h("div", { id: "revoke-area" });
  const auditState = h("p", { className: "count" }, "Loading its audit…");
  const audit = h("ol", { id: "key-audit", className: "list audit", "aria-label": "This key's audit, newest first" });
  const screen = { left: false };
  const reread = () => api.call("GET", `/keys/${api.enc(key.id)}`);

  const list = (ids, all, label) => (ids === null ? all : ids.length ? h("ul", { className: "scope", "aria-label": label },
    ids.map((id) => h("li", {}, userText(label === "Applications" ? appName(id) : environmentName(id), "name")))) : "none");
  const row = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];

  const revoke = () => {
    replace(confirmArea, h("div", { className: "conflict", role: "group", "aria-labelledby": "revoke-title" },
      h("h2", { id: "revoke-title" }, "Revoke this key?"),
      h("p", {}, "Every request with it is refused (401) from the moment the service answers, on every instance, and ",
        "it can never be used again. It stays listed, revoked, with its audit.",
        own ? " This is the key you are signed in with: the console signs you out." : ""),
      h("div", { className: "actions" },
        h("button", { type: "button", id: "revoke-confirm", className: "primary", onclick: async (event) => {
          event.currentTarget.disabled = true;
          try {
            await api.call("DELETE", `/keys/${api.enc(key.id)}`, { ifMatch: etag });
            say(`Revoked ${key.name}.`, "ok");
            if (own) { await api.call("GET", "/key").catch(() => {}); return; } // (its 401 signs this tab out)
            redraw(main, screen, await reread());
          } catch (error) {
            if (error instanceof api.Problem && error.status === 412) {
              try {
                const again = await reread();
                say("Someone changed this key since you opened it: here it is now. Revoke it again if you still mean to.", "warn");
                redraw(main, screen, again);
              } catch (failed) {
                if (!screen.left) replace(confirmArea, h("p", { id: "revoke-error", className: "error", role: "alert" }, problemText(failed)));
              }
              return;
            }
            if (!screen.left) replace(confirmArea, h("p", { id: "revoke-error", className: "error", role: "alert" }, problemText(error)));
          }
        } }, "Revoke the key"),
        h("button", { type: "button", id: "revoke-cancel", onclick: () => { replace(confirmArea); revokeButton?.focus(); } }, "Cancel"))));
    confirmArea.querySelector("#revoke-confirm").focus();
  };
  const revokeButton = key.revoked_at ? null : h("button", { type: "button", id: "revoke", onclick: revoke }, "Revoke…");

  replace(main,
    crumbs(["API keys", "#/keys"], [key.name]),
    h("h1", { tabIndex: -1 }, userText(key.name, "name"), " ", h("span", { className: `key-state key-${kind}`, id: "key-state" }, kind)),
    key.comments ? h("p", { className: "comments" }, userText(key.comments)) : null,
    h("dl", { id: "key-rights", className: "rights" },
      row("Actions", key.actions.map((a) => `${a}: ${ACTION_HELP[a]}`).join("; ")),
      row("Applications", list(key.applications, "all, those created later included", "Applications")),
      row("Environments", list(key.environments, "all", "Environments")),
      row("Expiry", when),
      row("Created", formatTime(key.created_at), " by ", actor(key.created_by)),
      row("Changed", formatTime(key.updated_at), ` (version ${key.version})`),
      row("Last used", key.last_used_at ? `${formatTime(key.last_used_at)} (up to a minute behind)` : "never")),
    key.revoked_at ? h("p", { className: "hint", id: "key-revoked" }, "Revoked: it cannot be changed or used again.")
      : h("div", { className: "actions" },
        h("a", { href: `#/keys/${encodeURIComponent(key.id)}/edit`, id: "edit-key", className: "button" }, "Change its rights…"),
        revokeButton),
    confirmArea,
    h("section", { "aria-labelledby": "key-audit-title" }, h("h2", { id: "key-audit-title" }, "Its audit"), auditState, audit));

  (async () => {
    try {
      const entries = (await auditEntries()).filter((e) => e.key.id === key.id);
      if (screen.left) return;
      replace(auditState, entries.length ? "" : "Nothing recorded (its rights may be beyond what your key may see).");
      replace(audit, entries.reverse().map((e) => auditItem(e, false)));
    } catch (error) {
      if (!screen.left) replace(auditState, h("span", { className: "error", role: "alert" }, problemText(error)));
    }
  })();
  screen.leave = () => { screen.left = true; };
  screen.onEscape = () => { if (confirmArea.firstChild) { replace(confirmArea); revokeButton?.focus(); } };
  return screen;
}

// --- a new key, or a key's rights changed -------------------------------------------------------------------------

// A datetime-local field's value for an RFC 3339 time (local time, to the minute), and back.
const localValue = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
const fromLocal = (value) => (value ? new Date(value).toISOString() : null);

function formScreen(main, key, etag, current) {
  const me = state.me;
  const editing = key !== null;
  document.title = `${editing ? `${key.name} · change` : "New key"} · API keys · Config Service console`;
  const error = h("p", { id: "key-error", className: "error", role: "alert" });
  const name = h("input", { id: "key-name", autocomplete: "off", spellcheck: false, required: true, value: key?.name ?? "" });
  const comments = h("textarea", { id: "key-comments", rows: 2, value: key?.comments ?? "" });
  const boxes = Object.fromEntries(ACTIONS.map((a) => [a, h("input", { type: "checkbox", id: `key-${a}`, name: "actions",
    checked: key ? key.actions.includes(a) : a === "read" && me.actions.includes(a),
    disabled: !me.actions.includes(a) && !key?.actions.includes(a) })]));
  boxes.write.addEventListener("change", () => { if (boxes.write.checked) boxes.read.checked = true; });
  boxes.read.addEventListener("change", () => { if (!boxes.read.checked) boxes.write.checked = false; });

  // Applications: all (not offered to a key limited to some), or a list picked by name.
  const mayAll = (field) => me[field] === null;
  const chosen = new Set(key?.applications ?? []);
  const appsAll = h("input", { type: "radio", name: "apps", id: "key-apps-all", checked: key ? key.applications === null : mayAll("applications"),
    disabled: !mayAll("applications") });
  const appsSome = h("input", { type: "radio", name: "apps", id: "key-apps-some", checked: !appsAll.checked });
  const candidates = [...names.entries()].filter(([id]) => mayAll("applications") || me.applications.includes(id))
    .sort((a, b) => a[1].localeCompare(b[1]));
  const datalist = h("datalist", { id: "key-app-names" }, candidates.slice(0, 5000).map(([, n]) => h("option", { value: n })));
  const find = h("input", { id: "key-app-find", type: "search", autocomplete: "off", spellcheck: false, list: "key-app-names",
    placeholder: "an application's name", "aria-describedby": "key-app-hint" });
  const picked = h("ul", { id: "key-apps", className: "scope picked", "aria-label": "Applications of the key" });
  const findHint = h("p", { id: "key-app-hint", className: "hint" });
  const showPicked = () => {
    replace(picked, [...chosen].map((id) => h("li", { dataset: { id } }, userText(appName(id), "name"), " ",
      h("button", { type: "button", className: "link", "aria-label": `Remove ${appName(id)}`, onclick: () => { chosen.delete(id); showPicked(); } }, "remove"))));
    if (!chosen.size) picked.append(h("li", { className: "hint" }, "None yet: add one above."));
  };
  if (!candidates.length) {
    replace(findHint, "No application to pick: your key reads none (a key that may only manage keys reads no ",
      "application). Give the key all applications, or sign in with a key that may read them.");
  }
  const add = () => {
    const wanted = find.value.normalize("NFC").trim();
    if (!wanted) return;
    const lower = wanted.toLowerCase();
    const exact = candidates.filter(([, n]) => n === wanted);
    const found = exact.length === 1 ? exact[0] : candidates.filter(([, n]) => n.toLowerCase() === lower).length === 1
      ? candidates.find(([, n]) => n.toLowerCase() === lower) : null;
    if (!found) {
      const like = candidates.filter(([, n]) => n.toLowerCase().includes(lower)).slice(0, 10).map(([, n]) => n);
      replace(findHint, like.length ? [`No application is named “${wanted}”. Names that contain it: `,
        like.flatMap((n, i) => [i ? ", " : "", userText(n, "name")]), "."] : `No application is named “${wanted}”.`);
      return;
    }
    chosen.add(found[0]);
    appsSome.checked = true;
    find.value = "";
    replace(findHint, "");
    showPicked();
  };
  find.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); add(); } });

  // Environments: all (not offered to a key limited to some), or those ticked.
  const envAll = h("input", { type: "radio", name: "envs", id: "key-envs-all", checked: key ? key.environments === null : mayAll("environments"),
    disabled: !mayAll("environments") });
  const envSome = h("input", { type: "radio", name: "envs", id: "key-envs-some", checked: !envAll.checked });
  const envBoxes = state.environments.map((e) => h("input", { type: "checkbox", id: `key-env-${e.id}`, value: e.id,
    checked: key?.environments?.includes(e.id) ?? false, onchange: () => { envSome.checked = true; } }));

  const expires = h("input", { id: "key-expires", type: "datetime-local", value: localValue(key?.expires_at),
    required: me.expires_at !== null, max: me.expires_at ? localValue(me.expires_at) : undefined,
    "aria-describedby": "key-expires-hint" });
  // The field shows the minute: a key's expiry is sent back as it was unless the operator changed the field.
  let expiryEdited = false;
  expires.addEventListener("input", () => { expiryEdited = true; });
  const expired = key?.expires_at && Date.parse(key.expires_at) <= Date.now();
  const save = h("button", { type: "submit", id: "key-save", className: "primary" }, editing ? "Save the key's rights" : "Create the key");

  const body = () => ({
    name: name.value.normalize("NFC").trim(),
    actions: ACTIONS.filter((a) => boxes[a].checked),
    applications: appsAll.checked ? null : [...chosen],
    environments: envAll.checked ? null : envBoxes.filter((b) => b.checked).map((b) => b.value),
    expires_at: editing && !expiryEdited ? key.expires_at : fromLocal(expires.value),
    comments: comments.value.trim() ? comments.value : null,
  });

  // A creation sent again (its answer lost, the network down) carries the same Idempotency-Key as long as the form
  // asks the same: the service then makes no second key and names the one it made (409, `Location`).
  let attempt = null;
  const attemptKey = (wanted) => {
    const text = JSON.stringify(wanted);
    if (attempt?.text !== text) attempt = { text, key: api.newIdempotencyKey() };
    return attempt.key;
  };

  const form = h("form", { className: "key-form", onsubmit: async (event) => {
    event.preventDefault();
    const wanted = body();
    if (!wanted.name) { replace(error, "Give the key a name."); name.focus(); return; }
    if (!wanted.actions.length) { replace(error, "Tick at least one action."); boxes.read.focus(); return; }
    if (wanted.applications?.length === 0) { replace(error, "Add an application, or give it all of them."); find.focus(); return; }
    if (wanted.environments?.length === 0) { replace(error, "Tick an environment, or give it all of them."); return; }
    save.disabled = true;
    replace(error, "");
    try {
      if (editing) {
        await api.call("PUT", `/keys/${api.enc(key.id)}`, { body: wanted, ifMatch: etag });
        say(`Saved ${wanted.name}: requests that begin from now on are served with these rights.`, "ok");
        if (key.id === me.id) await rightsChanged(); // the header, and what the pages offer, follow them
        navigate(`#/keys/${encodeURIComponent(key.id)}`);
      } else {
        const made = (await api.call("POST", "/keys", { body: wanted, idempotencyKey: attemptKey(wanted) })).body;
        if (current()) secretScreen(main, made);
      }
    } catch (e) {
      save.disabled = false;
      if (editing && e instanceof api.Problem && e.status === 412) {
        try {
          const again = await api.call("GET", `/keys/${api.enc(key.id)}`);
          if (!current()) return;
          formScreen(main, again.body, again.etag, current);
          say("Someone changed this key since you opened it: the form now shows their version. Make your change again.", "warn");
          main.querySelector("h1")?.focus();
        } catch (failed) {
          if (current()) replace(error, problemText(failed));
        }
        return;
      }
      if (!editing && e instanceof api.Problem && e.status === 409 && e.replayed && e.location) {
        // The first attempt made the key; its answer, the one place its secret was, never arrived.
        const made = decodeURIComponent(e.location.split("/").pop());
        say("Your first try made this key, but its answer, with the secret, never reached this page, and the "
          + "secret is kept nowhere. Revoke this key and make another.", "warn");
        navigate(`#/keys/${encodeURIComponent(made)}`);
        return;
      }
      replace(error, problemText(e));
    }
  } },
  h("label", { htmlFor: "key-name" }, "Name"), name,
  h("fieldset", { className: "modes" }, h("legend", {}, "Actions"),
    ACTIONS.map((a) => h("div", { className: "mode" }, boxes[a], h("label", { htmlFor: `key-${a}` },
      `${a}: ${ACTION_HELP[a]}${a === "write" ? " (needs read)" : ""}${boxes[a].disabled ? " (your key may not)" : ""}`)))),
  h("fieldset", { className: "modes" }, h("legend", {}, "Applications"),
    h("div", { className: "mode" }, appsAll, h("label", { htmlFor: "key-apps-all" }, "All applications, those created later included")),
    h("div", { className: "mode" }, appsSome, h("label", { htmlFor: "key-apps-some" }, "Only these:")),
    h("label", { htmlFor: "key-app-find" }, "Add an application by name"),
    h("div", { className: "row" }, find, h("button", { type: "button", id: "key-app-add", onclick: add }, "Add")), datalist,
    findHint, picked),
  h("fieldset", { className: "modes" }, h("legend", {}, "Environments"),
    h("div", { className: "mode" }, envAll, h("label", { htmlFor: "key-envs-all" }, "All environments, those created later included")),
    h("div", { className: "mode" }, envSome, h("label", { htmlFor: "key-envs-some" }, "Only these:")),
    state.environments.length ? state.environments.map((e, i) => h("div", { className: "mode" }, envBoxes[i],
      h("label", { htmlFor: `key-env-${e.id}` }, userText(e.name, "name"))))
      : h("p", { className: "hint" }, "There are no environments yet.")),
  h("label", { htmlFor: "key-expires" }, "Expires"), expires,
  h("p", { id: "key-expires-hint", className: expired ? "warning" : "hint" },
    expired ? `It expired at ${formatTime(key.expires_at)}: give it a new expiry (or none) to save it. ` : "",
    me.expires_at
      ? `By ${formatTime(me.expires_at)} at the latest: a key grants no more than yours, and yours expires then.`
      : "Empty: it never expires. In your time zone."),
  h("label", { htmlFor: "key-comments" }, "Comments"), comments,
  h("div", { className: "actions" }, save,
    h("a", { href: editing ? `#/keys/${encodeURIComponent(key.id)}` : "#/keys", className: "button", id: "key-cancel" }, "Cancel")),
  error);
  showPicked();

  replace(main,
    editing ? crumbs(["API keys", "#/keys"], [key.name, `#/keys/${encodeURIComponent(key.id)}`], ["Change"]) : crumbs(["API keys", "#/keys"], ["New"]),
    h("h1", { tabIndex: -1 }, editing ? ["Change ", userText(key.name, "name")] : "Create a key"),
    h("p", { className: "hint" }, "A key grants at most what yours has: what yours lacks is not offered.",
      editing ? " Its secret stays the same." : " Its secret is shown once, when it is made."),
    form);
  return { leave: () => {} };
}

// The new key's secret: shown this once, kept nowhere (not in the address, not in the tab's storage).
function secretScreen(main, made) {
  document.title = `${made.name} · new key · Config Service console`;
  const secret = h("input", { id: "key-secret", readOnly: true, spellcheck: false, autocomplete: "off", value: made.secret,
    "aria-describedby": "key-secret-hint", onfocus: (event) => event.currentTarget.select() });
  const copied = h("span", { id: "key-copied", "aria-live": "polite" });
  replace(main,
    crumbs(["API keys", "#/keys"], [made.name]),
    h("h1", { tabIndex: -1 }, "Key created: copy its secret now"),
    h("p", { id: "key-secret-hint", className: "warning" }, "This is the only time the secret is shown: the service keeps ",
      "only a hash of it. Copy it into the secret store of whoever uses the key; if it is lost, revoke the key and ",
      "create another. Send it as Authorization: Bearer <secret>."),
    h("label", { htmlFor: "key-secret" }, "Secret of ", userText(made.name, "name")),
    h("div", { className: "row" }, secret,
      h("button", { type: "button", id: "key-copy", onclick: async () => {
        try {
          await navigator.clipboard.writeText(made.secret);
          replace(copied, "Copied.");
        } catch {
          secret.focus();
          replace(copied, "The browser would not copy it: it is selected, copy it with the keyboard.");
        }
      } }, "Copy"), copied),
    h("p", { className: "hint" }, `Rights: ${rightsText(made)}.`),
    h("div", { className: "actions" }, h("a", { href: `#/keys/${encodeURIComponent(made.id)}`, id: "key-done", className: "button" }, "Done: show the key")));
  secret.focus();
}
