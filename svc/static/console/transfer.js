// An application as one document: exported as a file (exportApplication), and a document imported as a plan that
// the operator reviews (planImport) and then applies (applyImport, bound to the plan by its token: when anything
// changed since the plan, the service writes nothing and answers 412, and the console offers a new plan to review;
// it never applies anything other than the plan shown).

import * as api from "./api.js";
import { formatTime, h, renderInChunks, replace, userText } from "./dom.js";
import { pretty } from "./json.js";
import { changeList, documentView, lineDiffView, withOld } from "./views.js";
import { jsonField } from "./config.js";
import { can, crumbs, environmentName, layout, problemText, say } from "./app.js";

const enc = encodeURIComponent;

// A file name made of the application's name: letters, digits, '.', '_' and '-' only, so that it is one everywhere.
export function fileName(name, seq) {
  const safe = String(name).normalize("NFKC").replace(/[^\p{L}\p{N}._-]+/gu, "-").replace(/^[-.]+|[-.]+$/g, "").slice(0, 80);
  return `${safe || "application"}.seq-${seq}.json`;
}

// Downloads the application's document as a file: a Blob URL followed by a link, nothing inline.
export async function exportApplication(app, button) {
  if (button) button.disabled = true;
  try {
    const doc = (await api.call("GET", `/applications/${api.enc(app.id)}/export`)).body;
    const url = URL.createObjectURL(new Blob([pretty(doc) + "\n"], { type: "application/json" }));
    const link = h("a", { href: url, download: fileName(app.name, doc.seq) });
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    say(`Exported at feed position ${doc.seq}: ${doc.configurations.length} configuration${doc.configurations.length === 1 ? "" : "s"}, as the file ${link.download}.`, "ok");
  } catch (error) {
    say(`The export failed: ${problemText(error)}`, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

const MODES = [
  ["merge", "Merge", "create the configurations and overrides the document names, and update them to what it says; delete nothing."],
  ["exact", "Exact", "make the application exactly the document: also DELETE every configuration the document does not name, and every override its configurations do not name."],
];
const ACTIONS = ["created", "updated", "deleted", "unchanged"];
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function importScreen(app) {
  document.title = `Import into ${app.name} · Config Service console`;
  let planned = null; // {sent, mode, plan}: the plan on screen, the only thing Apply may send
  let generation = 0; // a newer plan (or an edit of the document) wins over one still being made

  const file = h("input", { id: "import-file", type: "file", accept: ".json,application/json" });
  const documentField = jsonField("import-text", "The document (JSON, as an export writes it)", "", () => stale());
  documentField.area.placeholder = '{"configurations": [{"name": "database", "config": {"host": "db"}, "overrides": {"prod": {"host": "db.prod"}}}]}';
  const modes = h("fieldset", { className: "modes" }, h("legend", {}, "How to import"),
    MODES.map(([value, label, what], i) => h("div", { className: `mode mode-${value}` },
      h("input", { type: "radio", name: "import-mode", id: `import-mode-${value}`, value, checked: i === 0,
        onchange: () => stale() }),
      h("label", { htmlFor: `import-mode-${value}` }, h("strong", {}, label), ": ", what))));
  const planButton = h("button", { type: "submit", id: "import-plan-button", className: "primary" }, "Plan the import");
  const error = h("p", { id: "import-error", className: "error", role: "alert" });
  const result = h("section", { id: "import-plan", className: "plan", "aria-live": "polite", "aria-labelledby": "plan-title" });
  const mode = () => modes.querySelector("input:checked").value;

  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    try {
      documentField.area.value = await chosen.text();
      documentField.area.rows = 16;
      documentField.validate();
      say(`Read ${chosen.name} (${chosen.size.toLocaleString()} bytes).`);
    } catch (e) {
      replace(error, `The file could not be read: ${e.message}`);
    }
  });

  // The document or the mode changed: the plan on screen is not theirs any more.
  function stale() {
    generation += 1;
    if (!planned) return;
    planned = null;
    replace(result, h("p", { className: "hint", id: "plan-outdated" }, "The document or the mode changed since the plan: plan again to review what it does now."));
  }

  async function makePlan() {
    replace(error);
    const sent = documentField.validate();
    if (!sent) { documentField.area.focus(); return; }
    if (!Array.isArray(sent.configurations)) {
      replace(error, "The document has no \"configurations\" list: an application document is what Export writes.");
      return;
    }
    const chosen = mode();
    const mine = ++generation;
    planButton.disabled = true;
    replace(result, h("p", { className: "hint" }, "Planning…"));
    try {
      const plan = (await api.call("POST", `/applications/${api.enc(app.id)}/import/plan`, { body: { document: sent, mode: chosen } })).body;
      // What the plan was made from (the application at the plan's feed position), for each change's old value.
      let before = null;
      try {
        before = (await api.call("GET", `/applications/${api.enc(app.id)}/export`, { query: { seq: plan.seq } })).body;
      } catch { /* shown without the old values */ }
      if (mine !== generation) return;
      planned = { sent, mode: chosen, plan };
      showPlan(planned, before);
    } catch (e) {
      if (mine !== generation) return;
      replace(result);
      replace(error, problemText(e));
    } finally {
      planButton.disabled = false;
    }
  }

  function showPlan({ sent, mode: chosen, plan }, before) {
    const wanted = new Map(sent.configurations.map((c) => [c.name, c]));
    const had = new Map((before?.configurations ?? []).map((c) => [c.name, c]));
    const by = Object.fromEntries(ACTIONS.map((a) => [a, plan.items.filter((i) => i.action === a)]));
    const overrides = plan.items.flatMap((i) => i.overrides);
    const count = (action) => overrides.filter((o) => o.action === action).length;
    const writes = by.created.length + by.updated.length + by.deleted.length;
    const deletions = by.deleted.length + count("deleted");

    const item = (i) => {
      const after = wanted.get(i.name);
      const was = had.get(i.name);
      const name = i.configuration_id && i.action !== "deleted"
        ? h("a", { href: `#/apps/${enc(app.id)}/configs/${enc(i.configuration_id)}` }, userText(i.name, "name"))
        : userText(i.name, "name");
      const parts = [h("h4", {}, h("span", { className: `kind kind-${i.action}` }, i.action), " ", name)];
      if (i.action === "deleted") {
        parts.push(h("p", { className: "notice-error" }, "Deleted with its overrides (its history is kept): the document does not name it."));
      } else if (i.action === "created") {
        parts.push(h("p", { className: "hint" }, "Created with this config:"), documentView(after.config, { label: `${i.name}'s config` }));
      } else if (i.patch.length) {
        parts.push(changeList(withOld(i.patch, was?.config ?? undefined, "/config")),
          was ? lineDiffView(was.config, after.config, `${i.name}'s config, line by line`) : null);
      }
      if (i.comments_changed) {
        parts.push(h("p", { className: "comments-change" }, "Comments: ",
          was ? h("code", { className: "before" }, was.comments === null ? "(none)" : userText(was.comments)) : null,
          was ? " → " : null, h("code", { className: "after" }, (after.comments ?? null) === null ? "(none)" : userText(after.comments))));
      }
      for (const o of i.overrides) {
        const old = was?.overrides?.[o.environment];
        parts.push(h("div", { className: `override-change ${o.action}` },
          h("p", {}, h("span", { className: `kind kind-${o.action}` }, `override ${o.action}`), " in ",
            h("span", { className: "env" }, userText(o.environment)),
            o.action === "deleted" ? ": its configuration's document does not name it." : ""),
          o.action === "deleted" ? null : changeList(withOld(o.patch, o.action === "created" ? Object.create(null) : old, "/patch"))));
      }
      return h("li", { className: `plan-item ${i.action}`, dataset: { name: i.name, action: i.action } }, parts);
    };

    const sections = ACTIONS.filter((a) => a !== "unchanged" && by[a].length).map((a) => {
      const list = h("ul", { className: "plan-items", id: `plan-${a}` });
      renderInChunks(list, by[a], item, { first: 50, chunk: 50 });
      return h("section", { "aria-label": a }, h("h3", {}, `${plural(by[a].length, "configuration")} ${a}`), list);
    });
    if (by.unchanged.length) {
      sections.push(h("details", { id: "plan-unchanged" }, h("summary", {}, `${plural(by.unchanged.length, "configuration")} unchanged`),
        h("p", { className: "meta" }, by.unchanged.map((i, n) => [n ? ", " : "", userText(i.name)]))));
    }

    const apply = h("button", { type: "button", id: "import-apply", className: "primary", onclick: () => applyPlan() },
      `Apply this plan (${plural(writes, "configuration")} written)`);
    const actions = h("div", { className: "actions", id: "plan-actions" },
      writes && can("write") ? apply : null,
      h("button", { type: "button", id: "import-discard", onclick: () => { planned = null; replace(result); say("The plan was discarded: nothing was written."); } }, "Discard the plan"));
    const outcome = h("div", { id: "import-outcome" });

    const title = h("h2", { id: "plan-title", tabIndex: -1 }, "Review the plan");
    replace(result, title,
      h("p", {}, `Made from ${app.name}'s state at feed position ${plan.seq}, in `, h("strong", {}, chosen), " mode. ",
        "Nothing is written until you apply it; applying writes exactly this, or nothing if the application changes first."),
      h("p", { id: "plan-summary", className: "plan-summary" },
        ACTIONS.map((a, n) => [n ? " · " : "", h("span", { className: by[a].length ? `count-${a}` : "count-none" }, `${by[a].length} ${a}`)]),
        overrides.length ? ` — overrides: ${count("created")} created · ${count("updated")} updated · ${count("deleted")} deleted` : ""),
      deletions ? h("p", { className: "warning", role: "alert" }, `This plan deletes ${deletions === by.deleted.length
        ? plural(by.deleted.length, "configuration") : `${plural(by.deleted.length, "configuration")} and ${plural(count("deleted"), "override")}`}.`) : null,
      !before ? h("p", { className: "hint" }, "The application's state at the plan's position could not be read: the changes are shown without the old values.") : null,
      !writes ? h("p", { className: "nochange", id: "plan-nothing" }, "Nothing to apply: the application already is what the document says.") : null,
      writes && !can("write") ? h("p", { className: "hint" }, "This key may read, not write: it can review a plan but not apply it.") : null,
      actions, outcome, sections);
    result.querySelector("h2").focus();

    async function applyPlan() {
      if (!planned || planned.plan !== plan) return; // only the plan on screen
      for (const b of actions.querySelectorAll("button")) b.disabled = true;
      try {
        const done = (await api.call("POST", `/applications/${api.enc(app.id)}/import/apply`,
          { body: { document: sent, mode: chosen, token: plan.token } })).body;
        planned = null;
        applied(done);
      } catch (e) {
        for (const b of actions.querySelectorAll("button")) b.disabled = false;
        if (e instanceof api.Problem && e.status === 412) { await changedSince(plan); return; }
        replace(outcome, h("p", { className: "error", role: "alert" }, problemText(e)));
      }
    }

    // 412: the application changed since the plan: nothing was written. Say what changed, offer a new plan.
    async function changedSince(old) {
      planned = null;
      actions.remove(); // this plan can no longer be applied; the box below offers a new one
      replace(title, "The plan that was not applied");
      let since = [];
      try {
        since = (await api.call("GET", `/applications/${api.enc(app.id)}/changes`, { query: { after: old.seq, limit: 20 } })).body.items;
      } catch { /* said without the list */ }
      replace(outcome, h("div", { id: "import-stale", className: "conflict" },
        h("h2", { tabIndex: -1 }, "Not applied: the application changed since this plan"),
        h("p", { role: "alert" }, `Nothing was written. The plan was made at feed position ${old.seq}; `,
          since.length ? "since then:" : "it changed since (or the plan was already applied)."),
        since.length ? h("ul", { className: "feed-list since" }, since.map((c) => h("li", {},
          h("span", { className: `kind kind-${c.kind}` }, c.kind), " ", userText(c.name, "name"), ` version ${c.version}`,
          c.environment_id ? [" in ", h("span", { className: "env" }, environmentName(c.environment_id))] : null,
          h("span", { className: "meta" }, " · ", c.by ? ["by ", userText(c.by)] : "no key", " · ", formatTime(c.at))))) : null,
        h("p", {}, "Plan again to see what the import does now, and review it before applying."),
        h("div", { className: "actions" },
          h("button", { type: "button", id: "import-replan", className: "primary", onclick: () => makePlan() }, "Plan again"),
          h("button", { type: "button", id: "import-stale-discard", onclick: () => { replace(result); say("The plan was discarded: nothing was written."); } }, "Discard"))));
      outcome.querySelector("h2").focus();
    }
  }

  function applied(done) {
    const by = Object.fromEntries(ACTIONS.map((a) => [a, done.items.filter((i) => i.action === a)]));
    replace(result, h("div", { id: "import-done", className: "done" },
      h("h2", { tabIndex: -1 }, "Applied"),
      h("p", { role: "status" }, `${by.created.length} created · ${by.updated.length} updated · ${by.deleted.length} deleted · ${by.unchanged.length} unchanged; `,
        `the application is at feed position ${done.seq}.`),
      h("ul", { className: "plan-items" }, done.items.filter((i) => i.action !== "unchanged").map((i) => h("li", { dataset: { name: i.name, action: i.action } },
        h("span", { className: `kind kind-${i.action}` }, i.action), " ",
        i.action === "deleted" ? userText(i.name, "name")
          : h("a", { href: `#/apps/${enc(app.id)}/configs/${enc(i.configuration_id)}` }, userText(i.name, "name"))))),
      h("p", {}, h("a", { href: `#/apps/${enc(app.id)}` }, "Back to the configurations"))));
    say(`The import is applied: ${app.name} is at feed position ${done.seq}.`, "ok");
    result.querySelector("h2").focus();
  }

  const form = h("form", { className: "import", onsubmit: (event) => { event.preventDefault(); makePlan(); } },
    h("p", { className: "hint" }, "Paste a document, or load a file that Export wrote (from this service or another). ",
      "The import is planned first: you see what it creates, changes and deletes, and apply that plan or nothing."),
    h("label", { htmlFor: "import-file" }, "Load a file"), file,
    documentField.nodes, modes,
    h("div", { className: "actions" }, planButton), error);

  replace(document.getElementById("main"), layout(
    crumbs(["Applications", "#/"], [app.name, `#/apps/${enc(app.id)}`], ["Import"]),
    h("h1", { tabIndex: -1 }, "Import into ", userText(app.name, "name")),
    form, result));
  return {
    leave: () => { generation += 1; planned = null; },
    onChange: (change) => { // the feed says the application changed: a plan on screen will answer 412
      if (planned && !result.querySelector("#import-stale")) {
        say(`${change.name} just changed (${change.kind}): the plan on screen was made before it, so applying it will be refused. Plan again.`, "warn");
      }
    },
  };
}
