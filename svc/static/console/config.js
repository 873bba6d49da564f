// One configuration: read it (per environment, with provenance), edit it with a diff and a conflict check, its
// history with a diff per revision and restore, its overrides per environment, and two environments compared.

import * as api from "./api.js";
import { formatTime, h, replace, userText } from "./dom.js";
import { applyOp, changes } from "./diff.js";
import { isObject, parse, pretty } from "./json.js";
import { changeList, documentView, layerOf, lineDiffView, provenanceLegend, withOld } from "./views.js";
import { LIMITED, can, environmentName, everyEnvironment, layout, navigate, problemText, say, state } from "./app.js";

// What an environment without an override of its own sees: its parent's view, or (a root) the config itself.
const inherited = (environmentId) => (state.environments.find((e) => e.id === environmentId)?.parent_id
  ? "what its parent sees" : "the configuration's own config");

// The service's 404 for an override that does not exist (repositories/overrides.MISSING; console_test checks it).
const NO_OVERRIDE = "This configuration has no override in this environment.";

const TABS = [["view", "View"], ["edit", "Edit"], ["history", "History"], ["overrides", "Overrides"],
  ["compare", "Compare environments"]];
const enc = encodeURIComponent;

// What a save or a restore changes: the fields a configuration's revision keeps.
const resource = (c) => ({ name: c.name, comments: c.comments ?? null, config: c.config });

// Draws the screen unless `current()` turns false while it reads (the operator went elsewhere meanwhile).
export async function configurationScreen(main, app, id, tab, current) {
  let first;
  try {
    first = await api.call("GET", `/configurations/${api.enc(id)}`);
  } catch (error) {
    if (!(error instanceof api.Problem && error.status === 404)) throw error;
    return deletedScreen(main, app, id, current, error);
  }
  if (!current()) return null;
  if (first.body.application_id !== app.id) { // an address that puts it under another application: its own
    location.replace(`#/apps/${enc(first.body.application_id)}/configs/${enc(id)}/${tab}`);
    return null;
  }
  const base = `#/apps/${enc(app.id)}/configs/${enc(id)}`;
  if (!TABS.some(([t]) => t === tab)) tab = "view";
  const ctx = {
    app, id, base, config: first.body, etag: first.etag,
    update(answer) { ctx.config = answer.body; ctx.etag = answer.etag; drawHead(); },
    async refresh() { ctx.update(await api.call("GET", `/configurations/${api.enc(id)}`)); return ctx; },
    by: async (version) => { // who made a version, from its revision
      try { return (await api.call("GET", `/configurations/${api.enc(id)}/revisions/${version}`)).body; } catch { return null; }
    },
  };
  // The head is made once and its texts updated, so that a change never takes the focus from a tab link.
  const crumb = h("span");
  const title = h("span");
  const version = h("span", { id: "version", className: "version" });
  const meta = h("p", { className: "meta" });
  const head = h("div", { className: "config-head" },
    h("nav", { className: "crumbs", "aria-label": "Where you are" }, h("a", { href: "#/" }, "Applications"), " › ",
      h("a", { href: `#/apps/${enc(app.id)}` }, userText(app.name)), " › ", crumb),
    h("h1", { tabIndex: -1 }, title, " ", version), meta,
    h("nav", { className: "tabs", "aria-label": "What to do with this configuration" },
      TABS.map(([t, label]) => h("a", { href: `${base}/${t}`, id: `tab-${t}`, "aria-current": t === tab ? "page" : null }, label))));
  const banner = h("div", { id: "changed", className: "changed", "aria-live": "polite" });
  const panel = h("section", { id: "panel", className: "panel", "aria-label": TABS.find(([t]) => t === tab)[1] });
  function drawHead() {
    document.title = `${ctx.config.name} · ${app.name} · Config Service console`;
    replace(crumb, userText(ctx.config.name));
    replace(title, userText(ctx.config.name, "name"));
    replace(version, `version ${ctx.config.version}`);
    replace(meta, `updated ${formatTime(ctx.config.updated_at)}`, ctx.config.comments ? [" · ", h("span", { className: "comments" }, userText(ctx.config.comments))] : null);
  }
  drawHead();
  replace(main, layout(head, banner, panel));
  const shown = await ({ view: viewTab, edit: editTab, history: historyTab, overrides: overridesTab,
    compare: compareTab })[tab](ctx, panel);
  return {
    ...shown,
    async onChange(change) {
      if (change.configuration_id !== id) return;
      if (change.kind === "deleted" && !change.environment_id) {
        replace(banner, h("p", { className: "notice-error", role: "alert" }, "This configuration was deleted", change.by ? [" by ", userText(change.by)] : "", "."));
        return;
      }
      if (!change.environment_id) await ctx.refresh();
      shown.onChange?.(change);
    },
  };
}

// A deleted configuration: its history stays readable by its id (listConfigurationRevisions), and a revision can be
// made a new configuration again. `notFound`: what to show when it has no history (it never existed, or its
// application took it along).
async function deletedScreen(main, app, id, current, notFound) {
  let last;
  try {
    last = (await api.call("GET", `/configurations/${api.enc(id)}/revisions`, { query: { limit: 1 } })).body.items[0];
  } catch {
    throw notFound;
  }
  if (!last) throw notFound;
  if (!current()) return null;
  const base = `#/apps/${enc(app.id)}/configs/${enc(id)}`;
  const ctx = { app, id, base, deleted: true, config: { ...last, version: null }, etag: null };
  document.title = `${last.name} (deleted) · ${app.name} · Config Service console`;
  const panel = h("section", { id: "panel", className: "panel", "aria-label": "History" });
  replace(main, layout(h("div", { className: "config-head" },
    h("nav", { className: "crumbs", "aria-label": "Where you are" }, h("a", { href: "#/" }, "Applications"), " › ",
      h("a", { href: `#/apps/${enc(app.id)}` }, userText(app.name)), " › ", userText(last.name)),
    h("h1", { tabIndex: -1 }, userText(last.name, "name"), " ", h("span", { id: "version", className: "version" }, "deleted")),
    h("p", { id: "deleted-note", className: "meta" }, `Deleted after version ${last.version}; its history is kept. `,
      "Pick a revision to see it, or to make it a configuration again.")), panel));
  const shown = await historyTab(ctx, panel);
  return { ...shown, onChange: (change) => (change.configuration_id === id ? shown.onChange(change) : undefined) };
}

// --- shared parts ---------------------------------------------------------------------------------------------

function environmentSelect(id, label, { none = null, value = "" } = {}) {
  const select = h("select", { id },
    none ? h("option", { value: "" }, none) : null,
    state.environments.map((e) => h("option", { value: e.id, selected: e.id === value },
      !e.parent_id ? e.name : state.environments.some((p) => p.id === e.parent_id)
        ? `${e.name} (inherits ${environmentName(e.parent_id)})` : `${e.name} (inherits one this key does not list)`)));
  if (value && state.environments.some((e) => e.id === value)) select.value = value;
  return [h("label", { htmlFor: id }, label), select];
}

// A JSON object typed in a textarea, checked as it is typed: where it is wrong (line and column), or how many keys.
export function jsonField(id, label, text, onChecked) {
  const area = h("textarea", { id, rows: Math.min(28, Math.max(8, text.split("\n").length + 1)), spellcheck: false,
    value: text, "aria-describedby": `${id}-check`, autocomplete: "off" });
  const check = h("p", { id: `${id}-check`, className: "check", "aria-live": "polite" });
  const field = { area, doc: null };
  const validate = () => {
    try {
      const doc = parse(area.value);
      if (!isObject(doc)) throw new Error("the document must be a JSON object ({ ... })");
      field.doc = doc;
      check.className = "check ok";
      replace(check, `✓ Valid JSON: an object with ${Object.keys(doc).length} key${Object.keys(doc).length === 1 ? "" : "s"}.`);
    } catch (error) {
      field.doc = null;
      check.className = "check bad";
      area.setAttribute("aria-invalid", "true");
      replace(check, "✗ ", error.message,
        error.offset !== undefined ? [" ", h("button", { type: "button", className: "link", onclick: () => {
          area.focus();
          area.setSelectionRange(error.offset, error.offset + 1);
        } }, "Show me")] : null);
      onChecked?.(null);
      return null;
    }
    area.removeAttribute("aria-invalid");
    onChecked?.(field.doc);
    return field.doc;
  };
  area.addEventListener("input", validate);
  field.validate = validate;
  field.nodes = [h("label", { htmlFor: id }, label), area, check];
  return field;
}

// Review before a write, and the conflict check after it: `mine` against `from` (what the writer started from);
// write(etag) makes the write with that If-Match; a 412 re-reads (`reread`) and shows what the other person
// changed, then what the write would change now, and asks again. Never overwrites without showing the diff.
// With `writeAs(doc)` (a write of another document), a conflict whose changes touch none of yours also offers
// yours on top of theirs: their version with your changes applied, so saving does not undo theirs.
//   from/theirs: {etag, doc, version}; reread() -> {etag, doc, version, by, at} (null when it is gone)
function review(box, { title, from, mine, saveLabel, write, writeAs, reread, onSaved, onBack, onDiscard, note }) {
  const error = h("p", { className: "error", role: "alert" });
  const ops = changes(from.doc, mine);
  const save = h("button", { type: "button", id: "save", className: "primary", onclick: () => attempt(from) }, saveLabel(from));
  const back = h("button", { type: "button", id: "back", onclick: () => onBack(from) }, "Back to editing");
  replace(box, h("h2", { id: "review-title", tabIndex: -1 }, title),
    note ? h("p", {}, note) : null,
    h("p", {}, `What changes from version ${from.version}:`),
    changeList(ops, { empty: "Nothing changes: it is the same as the current version." }),
    ops.length ? lineDiffView(from.doc, mine, "The change, line by line") : null,
    h("div", { className: "actions" }, ops.length ? save : null, back), error);
  box.hidden = false;
  box.querySelector("h2").focus();

  async function attempt(against, doc = null) {
    for (const b of box.querySelectorAll("button")) b.disabled = true;
    try {
      onSaved(await (doc === null ? write : writeAs(doc))(against.etag));
    } catch (e) {
      for (const b of box.querySelectorAll("button")) b.disabled = false;
      if (e instanceof api.Problem && e.status === 412) { await conflict(against); return; }
      replace(error, problemText(e));
    }
  }

  async function conflict(against) {
    const theirs = await reread();
    if (!theirs) { replace(box, h("h2", { tabIndex: -1 }, "It is gone"), h("p", { role: "alert" }, "Someone deleted it while you were working: nothing was written.")); box.querySelector("h2").focus(); return; }
    const theirOps = changes(against.doc, theirs.doc);
    const nowOps = changes(theirs.doc, mine);
    // (An override deleted meanwhile reads back as version 0, none: it was deleted, not "version 0 saved".)
    const deleted = theirs.version === 0 && against.version > 0;
    const now = deleted ? "deleted" : `version ${theirs.version}`;
    // Yours (since you started) on top of theirs, when no change of yours is at, under or above one of theirs.
    const yours = changes(from.doc, mine);
    const touches = (p, q) => p === q || p.startsWith(q + "/") || q.startsWith(p + "/");
    const sinceYou = changes(from.doc, theirs.doc);
    let merged = null;
    if (writeAs && !deleted && yours.length && sinceYou.length
        && !yours.some((m) => sinceYou.some((t) => touches(m.path, t.path)))) {
      try { merged = yours.reduce((doc, op) => applyOp(doc, op), theirs.doc); } catch { merged = null; }
    }
    replace(box, h("div", { className: "conflict", id: "conflict" },
      h("h2", { tabIndex: -1 }, deleted ? "Someone else deleted it while you were working" : "Someone else saved while you were working"),
      h("p", { role: "alert" }, `Nothing was written. ${deleted ? "It was deleted" : `Version ${theirs.version} was saved`}`,
        theirs.by ? [" by ", userText(theirs.by, "key-name")] : "", theirs.at ? ` at ${formatTime(theirs.at)}` : "",
        `; you started from version ${against.version}.`),
      h("h3", {}, `What they changed (version ${against.version} → ${now})`),
      changeList(theirOps), theirOps.length ? lineDiffView(against.doc, theirs.doc, "Their change, line by line") : null,
      h("h3", {}, `What yours would change now (${now} → yours)`),
      changeList(nowOps, { empty: "Nothing: their version is already what you wrote." }),
      nowOps.length ? lineDiffView(theirs.doc, mine, "Your change against theirs, line by line") : null,
      merged ? h("p", { id: "merge-note" }, "Your changes and theirs touch different values: yours can be saved on top of "
        + `version ${theirs.version}, keeping theirs.`) : null,
      h("div", { className: "actions" },
        merged ? h("button", { type: "button", id: "save-merged", className: "primary", onclick: () => attempt(theirs, merged) },
          `${saveLabel(theirs)}: theirs with your changes`) : null,
        nowOps.length ? h("button", { type: "button", id: "save-over", className: merged ? "" : "primary", onclick: () => attempt(theirs) },
          deleted ? saveLabel(theirs) : `${saveLabel(theirs)} (over version ${theirs.version}, as you wrote it)`) : null,
        h("button", { type: "button", id: "discard", onclick: () => onDiscard(theirs) }, deleted ? "Discard mine, leave it deleted" : `Discard mine, keep version ${theirs.version}`),
        h("button", { type: "button", id: "back", onclick: () => onBack(theirs) }, "Back to editing")),
      error));
    box.querySelector("h2").focus();
  }
}

// --- view -----------------------------------------------------------------------------------------------------

function viewTab(ctx, panel) {
  const [label, select] = environmentSelect("view-env", "Read it as", { none: "its own config (no environment)",
    value: state.viewEnvironment ?? "" });
  const body = h("div", { id: "view-body" });
  let generation = 0;
  const render = async () => {
    const mine = ++generation;
    state.viewEnvironment = select.value;
    try {
      if (!select.value) {
        replace(body, h("p", { className: "hint" }, "The configuration's own config, as stored: what every environment starts from."),
          documentView(ctx.config.config, { label: "The configuration's config" }));
      } else {
        const view = (await api.call("GET", `/configurations/${api.enc(ctx.id)}/effective`,
          { query: { environment_id: select.value } })).body;
        if (mine !== generation) return;
        replace(body, h("p", { className: "hint" }, "What ", h("strong", {}, view.environment),
          " sees: the config with the overrides of its environments applied, root first. Each value names the layer that set it."),
        provenanceLegend(view.provenance),
        documentView(view.config, { provenance: view.provenance, label: `The configuration as ${view.environment} sees it` }));
      }
      body.dataset.version = String(ctx.config.version);
    } catch (error) {
      replace(body, h("p", { className: "error", role: "alert" }, problemText(error)));
    }
  };
  select.addEventListener("change", render);
  replace(panel, h("div", { className: "toolbar" }, label, select), body);
  render();
  return { onChange: render };
}

// --- edit -----------------------------------------------------------------------------------------------------

function editTab(ctx, panel) {
  if (!can("write")) {
    replace(panel, h("p", {}, "This key may read, not write: there is nothing to edit with it."));
    return {};
  }
  if (!everyEnvironment()) {
    replace(panel, h("p", { id: "edit-limited" }, `${LIMITED}: a configuration's own config reaches every environment, so `
      + "it is changed with a key for all of them. Change what your environments see in the Overrides tab."));
    return {};
  }
  let draft = state.drafts.get(ctx.id);
  if (!draft) {
    draft = { from: { etag: ctx.etag, doc: resource(ctx.config), version: ctx.config.version },
      name: ctx.config.name, comments: ctx.config.comments ?? "", text: pretty(ctx.config.config) };
    state.drafts.set(ctx.id, draft);
  }
  const name = h("input", { id: "edit-name", value: draft.name, autocomplete: "off", spellcheck: false, required: true });
  const comments = h("textarea", { id: "edit-comments", rows: 2, value: draft.comments });
  const reviewButton = h("button", { type: "submit", id: "review-button", className: "primary" }, "Review changes");
  const config = jsonField("config-text", "Config (a JSON object)", draft.text, (doc) => { reviewButton.disabled = !doc; });
  const from = h("p", { id: "edit-from", className: "hint" });
  const drawFrom = () => replace(from, `Editing from version ${draft.from.version}. Nothing is written until you review the change and save it.`);
  const box = h("section", { id: "review", className: "review", hidden: true, "aria-labelledby": "review-title" });
  const form = h("form", { className: "edit", onsubmit: (event) => { event.preventDefault(); showReview(); } },
    from,
    h("label", { htmlFor: "edit-name" }, "Name"), name,
    h("label", { htmlFor: "edit-comments" }, "Comments"), comments,
    config.nodes,
    h("div", { className: "actions" }, reviewButton,
      h("button", { type: "button", id: "reset", onclick: () => {
        state.drafts.delete(ctx.id);
        location.hash = `${ctx.base}/view`;
      } }, "Discard my edits")));
  for (const input of [name, comments, config.area]) {
    input.addEventListener("input", () => { draft.name = name.value; draft.comments = comments.value; draft.text = config.area.value; });
  }
  let saved = 0; // the version this tab's save wrote
  const mine = () => ({ name: name.value, comments: comments.value === "" ? null : comments.value, config: config.doc });
  const backToEditing = (newFrom) => {
    draft.from = newFrom;
    drawFrom();
    box.hidden = true;
    form.hidden = false;
    config.area.focus();
  };
  function showReview() {
    if (!config.validate()) { config.area.focus(); return; }
    if (!name.value.trim()) { say("A configuration needs a name.", "error"); name.focus(); return; }
    form.hidden = true;
    const doc = mine();
    review(box, {
      title: "Review: what saving changes",
      from: draft.from, mine: doc,
      saveLabel: (against) => `Save as version ${against.version + 1}`,
      write: async (etag) => api.call("PUT", `/configurations/${api.enc(ctx.id)}`, { body: doc, ifMatch: etag }),
      writeAs: (merged) => async (etag) => api.call("PUT", `/configurations/${api.enc(ctx.id)}`, { body: merged, ifMatch: etag }),
      reread: async () => {
        try {
          const now = await api.call("GET", `/configurations/${api.enc(ctx.id)}`);
          const revision = await ctx.by(now.body.version);
          ctx.update(now);
          return { etag: now.etag, doc: resource(now.body), version: now.body.version, by: revision?.created_by, at: revision?.created_at };
        } catch { return null; }
      },
      onSaved: (answer) => {
        saved = answer.body.version;
        state.drafts.delete(ctx.id);
        ctx.update(answer);
        say(`Saved: ${answer.body.name} is at version ${answer.body.version}.`, "ok");
        navigate(`${ctx.base}/view`);
      },
      onBack: backToEditing,
      onDiscard: () => { state.drafts.delete(ctx.id); say("Your edits were discarded."); navigate(`${ctx.base}/view`); },
    });
  }
  replace(panel, form, box);
  drawFrom();
  config.validate();
  return {
    onEscape: () => { if (!box.hidden && box.querySelector("#back")) backToEditing(draft.from); },
    onChange: (change) => {
      // The feed's news of this tab's own save can arrive after the PUT's answer, before the tab is left: not
      // someone else's change. Nor is news of a version the edit already starts from.
      if (change.environment_id || change.version <= Math.max(saved, draft.from.version)) return;
      say(`Version ${change.version} was just saved${change.by ? ` by ${change.by}` : ""}. When you save, you will see their change first.`, "warn");
    },
  };
}

// --- history --------------------------------------------------------------------------------------------------

async function historyTab(ctx, panel) {
  const list = h("ol", { id: "revisions", className: "revisions", "aria-label": "Revisions, newest first" });
  const detail = h("section", { id: "revision-detail", className: "revision-detail", "aria-live": "polite" });
  const more = h("button", { type: "button", id: "older", hidden: true, onclick: () => load() }, "Older revisions");
  let revisions = [];
  let cursor = null;
  let selected = null;
  const find = async (version) => revisions.find((r) => r.version === version)
    ?? (await api.call("GET", `/configurations/${api.enc(ctx.id)}/revisions/${version}`)).body;

  let loads = 0; // the latest load's: one that answers after a newer one began adds nothing

  async function load(again = false) {
    const mine = ++loads;
    const from = again ? null : cursor;
    const page = (await api.call("GET", `/configurations/${api.enc(ctx.id)}/revisions`, { query: { limit: 50, cursor: from } })).body;
    if (mine !== loads) return;
    revisions = (again ? [] : revisions).concat(page.items);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    replace(list, revisions.map((r) => h("li", {},
      h("button", { type: "button", className: "revision", dataset: { version: String(r.version) },
        "aria-pressed": selected === r.version ? "true" : "false", onclick: () => show(r.version) },
      h("strong", {}, `version ${r.version}`), r.version === ctx.config.version ? " (current)" : "",
      h("span", { className: "meta" }, " · ", r.created_by ? ["by ", userText(r.created_by)] : "no key", " · ", formatTime(r.created_at))))));
  }

  // What a revision changed: its name and comments compared here, its config by the service's diff
  // (getConfigurationDiff), whose arrays are aligned element by element (one element inserted is one operation),
  // numbers compared exactly as written; the console's own comparison only when the service's cannot be read.
  async function revisionChanges(prev, rev) {
    const fields = (r) => ({ name: r.name, comments: r.comments ?? null });
    try {
      const diff = (await api.call("GET", `/configurations/${api.enc(ctx.id)}/diff`,
        { query: { from: prev.version, to: rev.version } })).body;
      return [...changes(fields(prev), fields(rev)), ...withOld(diff.patch, prev.config, "/config")];
    } catch {
      return changes(resource(prev), resource(rev));
    }
  }

  async function show(version, note = null) {
    selected = version;
    for (const b of list.querySelectorAll("button.revision")) b.setAttribute("aria-pressed", String(b.dataset.version === String(version)));
    const rev = await find(version);
    const prev = version > 1 ? await find(version - 1) : null;
    const before = prev ? resource(prev) : {};
    const ops = prev ? await revisionChanges(prev, rev) : changes(before, resource(rev));
    if (selected !== version) return; // another revision was asked for meanwhile
    const restore = !can("write") ? null
      : !everyEnvironment() ? h("p", { id: "restore-limited", className: "hint" }, `${LIMITED}: restoring a version, `
        + "or creating the configuration again, changes every environment.")
      : ctx.deleted ? h("button", { type: "button", id: "recreate", onclick: () => confirmRecreate(rev) }, `Create it again from version ${version}…`)
      : version !== ctx.config.version ? h("button", { type: "button", id: "restore", onclick: () => confirmRestore(rev) }, `Restore version ${version}…`)
      : null;
    replace(detail, note ? h("p", { id: "as-of-note", className: "as-of-note" }, note) : null,
      h("h2", { id: "revision-title", tabIndex: -1 }, `Version ${version}`),
      h("p", { className: "meta" }, rev.created_by ? ["by ", userText(rev.created_by), " · "] : null, formatTime(rev.created_at)),
      h("h3", {}, prev ? `What version ${version} changed (from version ${version - 1})` : "Version 1: how it was created"),
      changeList(ops), lineDiffView(before, resource(rev), `Version ${version}'s change, line by line`),
      restore);
  }

  // "As of": the revision that was current at a time or a position of the application's feed
  // (getConfigurationSnapshot), shown like any other.
  const asOfTime = h("input", { id: "as-of-time", type: "datetime-local", step: 1 });
  const asOfSeq = h("input", { id: "as-of-seq", type: "number", min: 0, step: 1, autocomplete: "off" });
  const asOfError = h("p", { id: "as-of-error", className: "error", role: "alert" });
  const asOf = h("details", { id: "as-of", className: "as-of" }, h("summary", {}, "View as of a time…"),
    h("form", { onsubmit: async (event) => {
      event.preventDefault();
      replace(asOfError);
      let query;
      if (asOfSeq.value !== "") query = { seq: asOfSeq.value };
      else if (asOfTime.value) {
        const when = new Date(asOfTime.value); // the browser's local time
        if (Number.isNaN(when.getTime())) { replace(asOfError, "That is not a time."); return; }
        query = { at: when.toISOString() };
      } else { replace(asOfError, "Give a time or a feed position."); asOfTime.focus(); return; }
      try {
        const snap = (await api.call("GET", `/configurations/${api.enc(ctx.id)}/snapshot`, { query })).body;
        const point = query.at ? `At ${formatTime(query.at)}` : `At feed position ${query.seq}`;
        await show(snap.configuration.version, [point, ` (feed position ${snap.seq}`,
          snap.recorded_at ? `, recorded ${formatTime(snap.recorded_at)}` : "", `) it was version ${snap.configuration.version}`,
          snap.configuration.version === ctx.config.version ? ", as it is now." : "."]);
        detail.querySelector("h2")?.focus();
      } catch (error) {
        replace(asOfError, error instanceof api.Problem && error.status === 404 ? `It did not exist then: ${error.detail ?? error.title}` : problemText(error));
      }
    } },
    h("label", { htmlFor: "as-of-time" }, "Time (in your time zone)"), asOfTime,
    h("label", { htmlFor: "as-of-seq" }, "or a feed position"), asOfSeq,
    h("div", { className: "actions" }, h("button", { type: "submit", id: "as-of-show" }, "Show")), asOfError));

  function confirmRestore(rev) {
    const box = h("section", { id: "review", className: "review" });
    replace(detail, box);
    review(box, {
      title: `Restore version ${rev.version}?`,
      note: `Restoring writes its name, comments and config as a new version; the history stays as it is.`,
      from: { etag: ctx.etag, doc: resource(ctx.config), version: ctx.config.version },
      mine: resource(rev),
      saveLabel: (against) => `Restore as version ${against.version + 1}`,
      write: async (etag) => api.call("POST", `/configurations/${api.enc(ctx.id)}/revisions/${rev.version}/restore`, { ifMatch: etag }),
      reread: async () => {
        try {
          await ctx.refresh();
          const r = await ctx.by(ctx.config.version);
          return { etag: ctx.etag, doc: resource(ctx.config), version: ctx.config.version, by: r?.created_by, at: r?.created_at };
        } catch { return null; }
      },
      onSaved: async (answer) => {
        ctx.update(answer);
        say(`Restored version ${rev.version} as version ${answer.body.version}.`, "ok");
        await load(true);
        await show(answer.body.version);
      },
      onBack: () => show(rev.version),
      onDiscard: () => show(rev.version),
    });
    for (const b of detail.querySelectorAll("#back")) b.textContent = "Cancel";
  }

  // A deleted configuration's revision as a new configuration of its application (createConfiguration): another
  // id, with a history of its own; refused (409) while another configuration has its name.
  function confirmRecreate(rev) {
    const error = h("p", { id: "recreate-error", className: "error", role: "alert" });
    const create = h("button", { type: "button", id: "recreate-confirm", onclick: async () => {
      create.disabled = true;
      try {
        const made = (await api.call("POST", "/configurations", { body: { application_id: ctx.app.id, ...resource(rev) } })).body;
        say(`Created again from version ${rev.version}, as a new configuration.`, "ok");
        navigate(`#/apps/${enc(ctx.app.id)}/configs/${enc(made.id)}`);
      } catch (e) {
        create.disabled = false;
        replace(error, problemText(e));
      }
    } }, "Create it");
    replace(detail, h("section", { id: "review", className: "review" },
      h("h2", { tabIndex: -1 }, `Create it again from version ${rev.version}?`),
      h("p", {}, "A new configuration of ", userText(ctx.app.name), " named ", userText(rev.name, "name"),
        ", with version ", String(rev.version), "'s comments and config. It gets an id and a history of its own; this one's stays as it is."),
      documentView(rev.config),
      h("div", { className: "actions" }, create, h("button", { type: "button", id: "back", onclick: () => show(rev.version) }, "Cancel")),
      error));
    detail.querySelector("h2").focus();
  }

  replace(panel, h("div", { className: "history" }, h("div", {}, h("h2", {}, "Revisions"), asOf, list, more), detail));
  await load();
  if (revisions.length) await show(revisions[0].version);
  return {
    onEscape: () => { if (detail.querySelector("#review") && selected) show(selected); },
    onChange: () => load(true),
  };
}

// --- overrides ------------------------------------------------------------------------------------------------

async function overridesTab(ctx, panel) {
  if (!state.environments.length) {
    replace(panel, h("p", {}, "No environments exist yet: an override belongs to an environment."));
    return {};
  }
  const initial = state.overrideEnvironment ?? state.environments[0].id;
  const [label, select] = environmentSelect("override-env", "Environment", { value: initial });
  const body = h("div", { id: "override-body" });
  const path = () => `/configurations/${api.enc(ctx.id)}/overrides/${api.enc(select.value)}`;
  // environment id -> the last version this tab wrote there: the feed's news of it is this tab's own save, which
  // can arrive after the save's answer and must not be told as someone else's change.
  const own = new Map();
  const read = async () => {
    try {
      const answer = await api.call("GET", path());
      return { etag: answer.etag, doc: { comments: answer.body.comments ?? null, patch: answer.body.patch }, version: answer.body.version, body: answer.body };
    } catch (error) {
      // None in this environment; any other 404 (the environment, or the configuration, out of this key's sight
      // now) is said as it is, not as an override to add.
      if (error instanceof api.Problem && error.status === 404 && error.detail === NO_OVERRIDE) return null;
      throw error;
    }
  };
  const NONE = { etag: null, doc: { comments: null, patch: {} }, version: 0 };
  let generation = 0; // the latest render's: one that answers after a newer one began draws nothing

  async function render() {
    const mine = ++generation;
    state.overrideEnvironment = select.value;
    const env = environmentName(select.value);
    let current;
    try { current = await read(); } catch (error) {
      if (mine === generation) replace(body, h("p", { className: "error", role: "alert" }, problemText(error)));
      return;
    }
    if (mine !== generation) return; // another environment was chosen meanwhile: its render draws
    const from = current ?? NONE;
    const shown = [current
      ? [h("p", { className: "hint" }, `${env}'s override, version ${current.version}: a merge patch (RFC 7396) of the config; null removes a key.`),
        current.doc.comments ? h("p", { className: "comments" }, userText(current.doc.comments)) : null,
        documentView(current.doc.patch, { label: `The override in ${env}` })]
      : h("p", { className: "hint" }, `No override in ${env}: it sees ${inherited(select.value)}.`)];
    if (!can("write")) { replace(body, shown); return; }
    const comments = h("textarea", { id: "override-comments", rows: 2, value: from.doc.comments ?? "" });
    const reviewButton = h("button", { type: "submit", className: "primary", id: "override-review" }, current ? "Review changes" : "Review the new override");
    const patch = jsonField("override-text", "Patch (a JSON object; null removes an inherited key)", pretty(from.doc.patch), (doc) => { reviewButton.disabled = !doc; });
    const box = h("section", { id: "review", className: "review", hidden: true });
    let against = from;
    const write = (doc, deleting) => async (etag) => {
      const environment = select.value;
      if (deleting) {
        const answer = await api.call("DELETE", path(), { ifMatch: etag });
        own.set(environment, against.version ?? 0);
        return answer;
      }
      const answer = await api.call("PUT", path(), { body: doc, ifMatch: etag ?? undefined, ifNoneMatch: etag ? undefined : "*" });
      own.set(environment, answer.body.version);
      return answer;
    };
    const common = (deleting) => ({
      reread: async () => (await read()) ?? (deleting ? null : NONE),
      onSaved: () => { say(deleting ? `The override in ${env} is deleted.` : `The override in ${env} is saved.`, "ok"); render(); },
      onBack: (now) => { against = now; box.hidden = true; form.hidden = false; patch.area.focus(); },
      onDiscard: () => render(),
    });
    const form = h("form", { className: "edit", onsubmit: (event) => {
      event.preventDefault();
      if (!patch.validate()) return;
      form.hidden = true;
      const doc = { comments: comments.value === "" ? null : comments.value, patch: patch.doc };
      review(box, { title: `Review: what saving the override in ${env} changes`, from: against, mine: doc,
        saveLabel: (a) => (a.etag ? `Save as version ${a.version + 1}` : "Create the override"),
        write: write(doc, false), writeAs: (merged) => write(merged, false), ...common(false) });
    } },
    h("h2", {}, current ? "Edit the override" : "Add an override"),
    h("label", { htmlFor: "override-comments" }, "Comments"), comments, patch.nodes,
    h("div", { className: "actions" }, reviewButton,
      current ? h("button", { type: "button", id: "override-delete", onclick: () => {
        form.hidden = true;
        review(box, { title: `Delete the override in ${env}?`, note: `${env} then sees ${inherited(select.value)}.`,
          from: against, mine: { comments: null, patch: {} }, saveLabel: () => "Delete the override",
          write: write(null, true), ...common(true) });
      } }, "Delete…") : null));
    replace(body, shown, form, box);
    patch.validate();
  }
  select.addEventListener("change", render);
  replace(panel, h("div", { className: "toolbar" }, label, select), body);
  await render();
  return {
    onEscape: () => { const back = body.querySelector("#review:not([hidden]) #back"); if (back) back.click(); },
    onChange: (change) => {
      if (change.environment_id !== select.value || change.version <= (own.get(change.environment_id) ?? 0)) return;
      say(change.kind === "deleted" ? `The override in ${environmentName(change.environment_id)} was just deleted.`
        : `The override in ${environmentName(change.environment_id)} just changed (version ${change.version}).`, "warn");
    },
  };
}

// --- compare --------------------------------------------------------------------------------------------------

function compareTab(ctx, panel) {
  if (!state.environments.length) {
    replace(panel, h("p", {}, "No environments exist yet: there is nothing to compare."));
    return {};
  }
  const envs = state.environments;
  const [fromLabel, from] = environmentSelect("compare-from", "From", { none: "its own config (no environment)", value: state.compareFrom ?? "" });
  const [toLabel, to] = environmentSelect("compare-to", "To", { value: state.compareTo ?? envs[envs.length - 1].id });
  const result = h("div", { id: "compare-result", "aria-live": "polite" });
  let generation = 0; // the latest comparison's: an earlier one that answers later draws nothing
  const run = async () => {
    const mine = ++generation;
    state.compareFrom = from.value;
    state.compareTo = to.value;
    try {
      const id = api.enc(ctx.id);
      const [comparison, fromView, toView] = await Promise.all([
        api.call("GET", `/configurations/${id}/compare`, { query: { from: from.value || undefined, to: to.value } }),
        from.value ? api.call("GET", `/configurations/${id}/effective`, { query: { environment_id: from.value } }) : null,
        api.call("GET", `/configurations/${id}/effective`, { query: { environment_id: to.value } })]);
      if (mine !== generation) return;
      const c = comparison.body;
      const before = fromView ? fromView.body.config : ctx.config.config;
      const fromName = from.value ? environmentName(from.value) : "its own config";
      replace(result, h("h2", {}, `From ${fromName} to ${environmentName(to.value)}`),
        h("p", { className: "hint" }, `${c.patch.length} difference${c.patch.length === 1 ? "" : "s"}; each value names the layer that set it.`),
        changeList(withOld(c.patch, before), { empty: "The two views are the same.",
          fromLayer: (p) => layerOf(c.from_provenance, p), toLayer: (p) => layerOf(c.to_provenance, p) }),
        c.patch.length ? lineDiffView(before, toView.body.config, "The two views, line by line") : null);
    } catch (error) {
      if (mine === generation) replace(result, h("p", { className: "error", role: "alert" }, problemText(error)));
    }
  };
  const form = h("form", { className: "toolbar compare", onsubmit: (event) => { event.preventDefault(); run(); } },
    h("div", {}, fromLabel, from), h("div", {}, toLabel, to), h("button", { type: "submit", id: "compare-button" }, "Compare"));
  replace(panel, form, result);
  run();
  return { onChange: run };
}
