// Differences between two JSON documents: a list of changes in the manner of a JSON Patch (RFC 6902), each with
// the value it replaces or removes (`old`), and a line diff of their formatted text with a little context.

import { isObject, lines, lineText, same, token } from "./json.js";

export function changes(a, b, pointer = "") {
  if (same(a, b)) return [];
  if (isObject(a) && isObject(b)) {
    const out = [];
    for (const k of Object.keys(a)) {
      const p = pointer + "/" + token(k);
      if (!Object.hasOwn(b, k)) out.push({ op: "remove", path: p, old: a[k] });
      else out.push(...changes(a[k], b[k], p));
    }
    for (const k of Object.keys(b)) {
      if (!Object.hasOwn(a, k)) out.push({ op: "add", path: pointer + "/" + token(k), value: b[k] });
    }
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const out = [];
    const common = Math.min(a.length, b.length);
    for (let i = 0; i < common; i += 1) out.push(...changes(a[i], b[i], pointer + "/" + i));
    for (let i = a.length - 1; i >= common; i -= 1) out.push({ op: "remove", path: pointer + "/" + i, old: a[i] });
    for (let i = common; i < b.length; i += 1) out.push({ op: "add", path: pointer + "/" + i, value: b[i] });
    return out;
  }
  return [{ op: "replace", path: pointer, old: a, value: b }];
}

// A JSON Patch (RFC 6902) operation applied to `doc`, as a new document (`doc` is left as it is). Only add, remove
// and replace: what the service's diffs are made of.
export function applyOp(doc, op) {
  if (!["add", "remove", "replace"].includes(op.op)) throw new Error(`cannot apply ${op.op}`);
  if (op.path === "") return op.op === "remove" ? undefined : op.value;
  const tokens = op.path.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
  const walk = (node, i) => {
    const key = tokens[i];
    if (Array.isArray(node)) {
      const copy = node.slice();
      const index = key === "-" ? copy.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > copy.length) throw new Error(`no element ${op.path}`);
      if (i < tokens.length - 1) copy[index] = walk(copy[index], i + 1);
      else if (op.op === "add") copy.splice(index, 0, op.value);
      else if (op.op === "remove") copy.splice(index, 1);
      else copy[index] = op.value;
      return copy;
    }
    if (!isObject(node)) throw new Error(`no member ${op.path}`);
    const copy = Object.assign(Object.create(null), node);
    if (i < tokens.length - 1) copy[key] = walk(copy[key], i + 1);
    else if (op.op === "remove") delete copy[key];
    else copy[key] = op.value;
    return copy;
  };
  return walk(doc, 0);
}

const MAX_CELLS = 4_000_000; // beyond this the middle part is shown as removed then added, not aligned line by line

// The lines of both documents aligned: [{kind: " " | "-" | "+", text}]; `kind` " " lines are unchanged.
export function lineDiff(a, b) {
  const x = lines(a).map(lineText);
  const y = lines(b).map(lineText);
  let start = 0;
  while (start < x.length && start < y.length && x[start] === y[start]) start += 1;
  let endX = x.length;
  let endY = y.length;
  while (endX > start && endY > start && x[endX - 1] === y[endY - 1]) { endX -= 1; endY -= 1; }
  const out = x.slice(0, start).map((text) => ({ kind: " ", text }));
  const mx = x.slice(start, endX);
  const my = y.slice(start, endY);
  if (mx.length * my.length > MAX_CELLS) {
    out.push(...mx.map((text) => ({ kind: "-", text })), ...my.map((text) => ({ kind: "+", text })));
  } else {
    out.push(...align(mx, my));
  }
  out.push(...x.slice(endX).map((text) => ({ kind: " ", text })));
  return out;
}

// Longest common subsequence of two short line lists, as a diff.
function align(x, y) {
  const n = x.length;
  const m = y.length;
  const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i][j] = x[i] === y[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.push({ kind: " ", text: x[i] }); i += 1; j += 1; }
    else if (i < n && (j === m || table[i + 1][j] >= table[i][j + 1])) { out.push({ kind: "-", text: x[i] }); i += 1; }
    else { out.push({ kind: "+", text: y[j] }); j += 1; }
  }
  return out;
}

// The diff with unchanged runs longer than 2 * context folded into one {kind: "…", count} line.
export function folded(diff, context = 3) {
  const out = [];
  let run = [];
  const flush = (atStart, atEnd) => {
    const keepBefore = atStart ? 0 : context;
    const keepAfter = atEnd ? 0 : context;
    if (run.length > keepBefore + keepAfter + 1) {
      out.push(...run.slice(0, keepBefore), { kind: "…", count: run.length - keepBefore - keepAfter });
      out.push(...run.slice(run.length - keepAfter));
    } else {
      out.push(...run);
    }
    run = [];
  };
  let seenChange = false;
  for (const line of diff) {
    if (line.kind === " ") { run.push(line); continue; }
    flush(!seenChange, false);
    seenChange = true;
    out.push(line);
  }
  flush(!seenChange, true);
  return out;
}
