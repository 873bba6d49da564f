// How documents, provenance and differences are drawn. All text goes through dom.js (text nodes only).

import { h, userText } from "./dom.js";
import { applyOp, folded, lineDiff } from "./diff.js";
import { at, lines, lineText, scalar } from "./json.js";

// The layer of a view (provenance) that set the value at `pointer`: the layer naming it or a parent of it.
export function layerOf(provenance, pointer) {
  let best = null;
  let bestLength = -1;
  (provenance ?? []).forEach((layer, index) => {
    for (const p of layer.pointers) {
      if ((pointer === p || pointer.startsWith(p + "/")) && p.length > bestLength) {
        best = { index, name: layer.environment ?? "own config", environmentId: layer.environment_id };
        bestLength = p.length;
      }
    }
  });
  return best;
}

const layerBadge = (layer) => h("span", { className: `layer layer-${layer.index % 6}` }, layer.name);

// A formatted document, one line each; with `provenance`, each value is tagged with the layer that set it.
export function documentView(doc, { provenance = null, label = "Document" } = {}) {
  const pre = h("pre", { className: "doc", tabIndex: 0, "aria-label": label });
  for (const line of lines(doc)) {
    const row = h("span", { className: "line" }, lineText(line));
    if (provenance && !line.close) {
      const layer = layerOf(provenance, line.pointer);
      const tagged = line.leaf || (layer && provenance[layer.index].pointers.includes(line.pointer));
      if (layer && tagged && line.pointer !== "") row.append(" ", layerBadge(layer));
    }
    pre.append(row, "\n");
  }
  return pre;
}

// Which layers set the view's values, and what a layer's null removed from it (absent from the document above).
export function provenanceLegend(provenance) {
  if (!provenance?.length) return null;
  const badge = (layer, index) => layerBadge({ index, name: layer.environment ?? "own config" });
  const removals = provenance.flatMap((layer, index) => (layer.removed ?? []).map((pointer) => [
    h("span", { className: "removed" }, userText(pointer, "pointer"), " removed by ", badge(layer, index)), " "]));
  return h("p", { className: "legend" }, "Values set by: ",
    provenance.map((layer, index) => (layer.pointers.length ? [badge(layer, index), " "] : [])),
    removals.length ? [h("br"), "Removed here: ", removals] : []);
}

// A line diff of two documents, unchanged runs folded; `-` and `+` are written out, not only coloured.
export function lineDiffView(before, after, label) {
  const diff = folded(lineDiff(before, after));
  const pre = h("pre", { className: "diff", tabIndex: 0, "aria-label": label });
  for (const line of diff) {
    if (line.kind === "…") {
      pre.append(h("span", { className: "line fold" }, `  … ${line.count} unchanged line${line.count === 1 ? "" : "s"}`), "\n");
    } else {
      const cls = line.kind === "-" ? "del" : line.kind === "+" ? "ins" : "same";
      pre.append(h("span", { className: `line ${cls}` }, `${line.kind} ${line.text}`), "\n");
    }
  }
  return pre;
}

const VERB = { add: "added", remove: "removed", replace: "changed", move: "moved", copy: "copied", test: "tested" };

// A list of changes (diff.js `changes`, or a JSON Patch with `old` filled in): path, what it was, what it becomes.
// `fromLayer`/`toLayer`(pointer) name where each side's value came from, when known.
export function changeList(ops, { fromLayer, toLayer, empty = "No differences." } = {}) {
  if (!ops.length) return h("p", { className: "nochange" }, empty);
  return h("ul", { className: "changes" }, ops.map((op) => {
    const from = fromLayer?.(op.path);
    const to = toLayer?.(op.path);
    return h("li", { className: `change ${op.op}` },
      h("span", { className: `op op-${op.op}` }, VERB[op.op] ?? op.op), " ",
      h("code", { className: "path" }, op.path === "" ? "(the whole document)" : op.path),
      op.op !== "add" ? h("div", { className: "side before" }, h("span", { className: "label" }, "before "),
        h("code", {}, short(op.old)), from ? [" ", layerBadge(from)] : null) : null,
      op.op !== "remove" ? h("div", { className: "side after" }, h("span", { className: "label" }, "after "),
        h("code", {}, short(op.value)), to ? [" ", layerBadge(to)] : null) : null);
  }));
}

function short(value) {
  const text = value === undefined ? "(nothing)" : lines(value).length > 1 ? oneLine(value) : scalar(value);
  return text.length > 300 ? text.slice(0, 300) + " …" : text;
}

const oneLine = (value) => lines(value).map((l) => l.lead + l.text).join(" ");

// A patch's operations with the value each replaced or removed, read from the document it applies to as the
// operations before it left it (an array's indexes move as elements are added and removed); `prefix` is put
// before each path (the patch of a configuration's config shown as /config/...).
export function withOld(patch, before, prefix = "") {
  let doc = before;
  return patch.map((op) => {
    const old = op.op === "add" || doc === undefined ? undefined : at(doc, op.path);
    try { doc = applyOp(doc, op); } catch { doc = undefined; } // what follows is shown without its old value
    return { ...op, path: prefix + op.path, old };
  });
}
