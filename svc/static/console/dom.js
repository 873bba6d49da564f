// Building the page. Everything a user wrote reaches the page as text (text nodes, `textContent`, property
// values), never as markup: this file is the only one that creates elements, and it never parses HTML.

const PROPERTIES = new Set(["className", "id", "type", "value", "checked", "disabled", "hidden", "htmlFor", "href",
  "name", "placeholder", "spellcheck", "autocomplete", "tabIndex", "rows", "title", "selected", "readOnly", "required", "download", "accept", "open", "min", "max",
  "step"]);

// h("button", {className: "x", onclick: f, "aria-label": "..."}, "text", child, [children]) -> element
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (PROPERTIES.has(k)) el[k] = v;
    else if (k.startsWith("aria-") || k === "role" || k === "for" || k === "list") el.setAttribute(k, v === true ? "true" : String(v));
    else throw new Error(`h: unknown property ${k}`);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Characters that hide or reorder text (bidi controls, zero-width and other format characters, C1 controls).
const INVISIBLE = /[\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

// A span for text a user wrote (a name, comments): isolated, so that nothing inside it reorders the text around
// it, and with each invisible or reordering character shown as its code point (⟨U+202E⟩), so what is shown is
// what is stored.
export function userText(text, className = "") {
  const span = h("span", { className: ("user " + className).trim() });
  let last = 0;
  for (const match of String(text).matchAll(INVISIBLE)) {
    const code = "U+" + match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    span.append(String(text).slice(last, match.index), h("span", { className: "control", title: `${code}, an invisible character` }, `⟨${code}⟩`));
    last = match.index + 1;
  }
  span.append(String(text).slice(last));
  return span;
}

// Renders `items` into `list` a chunk at a time, so a long list never holds the page: the first chunk at once,
// then one per frame. Returns a function that stops it (a newer rendering of the same list calls it).
export function renderInChunks(list, items, render, { first = 100, chunk = 250, done } = {}) {
  list.replaceChildren();
  let i = 0;
  let stopped = false;
  const step = (count) => {
    if (stopped) return;
    const fragment = document.createDocumentFragment();
    for (const end = Math.min(items.length, i + count); i < end; i += 1) fragment.append(render(items[i], i));
    list.append(fragment);
    if (i < items.length) requestAnimationFrame(() => step(chunk));
    else if (done) done();
  };
  step(first);
  return () => { stopped = true; };
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit",
    minute: "2-digit", second: "2-digit" });
}
