// JSON kept exact, for documents an operator reads and edits.
//
// The service keeps numbers exactly (PostgreSQL numeric): 1.10 stays 1.10 and 12345678901234567890 stays that.
// JavaScript's JSON.parse would turn them into doubles, and a save would write other numbers back. Here a number
// whose text a double writes back unchanged is a plain number; any other is a `Num` holding its text. Objects have
// no prototype, so a key such as "__proto__" is only a key. `parse` says where the text is wrong (line, column).

export class Num {
  constructor(text) { this.text = text; }
}

export class ParseError extends Error {
  constructor(message, text, offset) {
    const before = text.slice(0, offset).split("\n");
    const line = before.length;
    const column = before[before.length - 1].length + 1;
    super(`Line ${line}, column ${column}: ${message}`);
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const MAX_DEPTH = 32; // the service refuses deeper documents

function describe(text, at) {
  if (at >= text.length) return "the text ends too early";
  const c = text.codePointAt(at);
  return `unexpected ${JSON.stringify(String.fromCodePoint(c))}`;
}

export function parse(text) {
  let at = 0;
  const fail = (message, where = at) => { throw new ParseError(message, text, where); };
  const space = () => { WHITESPACE.lastIndex = at; WHITESPACE.exec(text); at = WHITESPACE.lastIndex; };

  function string() {
    const start = at;
    at += 1;
    for (;;) {
      if (at >= text.length) fail("a string is not closed (a \" is missing)", start);
      const c = text.charCodeAt(at);
      if (c === 0x22) break;
      if (c < 0x20) fail("a control character inside a string must be escaped (\\n, \\t, \\u0000)", at);
      if (c === 0x5c) {
        const e = text[at + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) fail("\\u needs four hex digits", at);
          at += 6;
          continue;
        }
        if (!e || !"\"\\/bfnrt".includes(e)) fail(`invalid escape \\${e ?? ""}`, at);
        at += 2;
        continue;
      }
      at += 1;
    }
    at += 1;
    const value = JSON.parse(text.slice(start, at));
    if (/\u0000/.test(value)) fail("the service refuses the NUL character (\\u0000)", start);
    if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value)) {
      fail("the service refuses a lone surrogate (\\ud800-\\udfff without its pair)", start);
    }
    return value;
  }

  function value(depth) {
    space();
    const c = text[at];
    if (c === "{") {
      if (depth >= MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
      const object = Object.create(null);
      const seen = new Set();
      at += 1;
      space();
      if (text[at] === "}") { at += 1; return object; }
      for (;;) {
        space();
        if (text[at] !== "\"") fail(`expected a key in double quotes, ${describe(text, at)}`);
        const keyAt = at;
        const key = string();
        if (seen.has(key)) fail(`the key ${JSON.stringify(key)} appears twice`, keyAt);
        seen.add(key);
        space();
        if (text[at] !== ":") fail(`expected ':' after the key, ${describe(text, at)}`);
        at += 1;
        object[key] = value(depth + 1);
        space();
        if (text[at] === ",") { at += 1; continue; }
        if (text[at] === "}") { at += 1; return object; }
        fail(`expected ',' or '}', ${describe(text, at)}`);
      }
    }
    if (c === "[") {
      if (depth >= MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
      const array = [];
      at += 1;
      space();
      if (text[at] === "]") { at += 1; return array; }
      for (;;) {
        array.push(value(depth + 1));
        space();
        if (text[at] === ",") { at += 1; continue; }
        if (text[at] === "]") { at += 1; return array; }
        fail(`expected ',' or ']', ${describe(text, at)}`);
      }
    }
    if (c === "\"") return string();
    if (text.startsWith("true", at)) { at += 4; return true; }
    if (text.startsWith("false", at)) { at += 5; return false; }
    if (text.startsWith("null", at)) { at += 4; return null; }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (number) {
      at = NUMBER.lastIndex;
      const n = Number(number[0]);
      return Number.isFinite(n) && String(n) === number[0] ? n : new Num(number[0]);
    }
    if (/^(NaN|-?Infinity)/.test(text.slice(at, at + 9))) fail("NaN and Infinity are not JSON");
    fail(`expected a value, ${describe(text, at)}`);
  }

  const result = value(0);
  space();
  if (at < text.length) fail(`more after the end of the document, ${describe(text, at)}`);
  return result;
}

export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Num);

// Characters that would hide or reorder text on screen (bidi controls, zero-width and other format characters,
// C1 controls, line separators) are written as \u escapes, so that what is shown is what is stored.
const INVISIBLE = /[\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

export function quote(s) {
  return JSON.stringify(s).replace(INVISIBLE, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

export function scalar(v) {
  if (v instanceof Num) return v.text;
  if (typeof v === "string") return quote(v);
  return String(v); // number, boolean, null
}

export function same(a, b) {
  if (a === b) return true;
  if (a instanceof Num || b instanceof Num) return a instanceof Num && b instanceof Num && a.text === b.text;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
  }
  return false;
}

// A JSON Pointer (RFC 6901) token.
export const token = (key) => String(key).replaceAll("~", "~0").replaceAll("/", "~1");

// The document as lines, each with its depth, its key (or index), its text and the pointer of the value it opens
// or holds: what the views render, and what the line diff compares.
export function lines(doc) {
  const out = [];
  function walk(v, depth, key, pointer, last) {
    const comma = last ? "" : ",";
    const lead = key === null ? "" : (typeof key === "string" ? quote(key) + ": " : "");
    const container = Array.isArray(v) ? ["[", "]"] : isObject(v) ? ["{", "}"] : null;
    if (!container) {
      out.push({ depth, lead, text: scalar(v) + comma, pointer, leaf: true });
      return;
    }
    const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.keys(v).map((k) => [k, v[k]]);
    if (entries.length === 0) {
      out.push({ depth, lead, text: container.join("") + comma, pointer, leaf: true });
      return;
    }
    out.push({ depth, lead, text: container[0], pointer, leaf: false });
    entries.forEach(([k, x], i) => walk(x, depth + 1, k, pointer + "/" + token(k), i === entries.length - 1));
    out.push({ depth, lead: "", text: container[1] + comma, pointer, leaf: false, close: true });
  }
  walk(doc, 0, null, "", true);
  return out;
}

export const lineText = (line) => "  ".repeat(line.depth) + line.lead + line.text;

export function pretty(doc) {
  return lines(doc).map(lineText).join("\n");
}

// Compact JSON for request bodies, numbers written as they were read.
export function compact(v) {
  if (Array.isArray(v)) return "[" + v.map(compact).join(",") + "]";
  if (isObject(v)) return "{" + Object.keys(v).map((k) => JSON.stringify(k) + ":" + compact(v[k])).join(",") + "}";
  if (v instanceof Num) return v.text;
  return JSON.stringify(v);
}

// The value at a JSON Pointer, or undefined.
export function at(doc, pointer) {
  if (pointer === "") return doc;
  let v = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(v)) v = v[Number(key)];
    else if (isObject(v) && Object.hasOwn(v, key)) v = v[key];
    else return undefined;
  }
  return v;
}
