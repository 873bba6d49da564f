// The service's API as the console calls it: the key of this tab, requests with their preconditions, answers
// parsed exactly (json.js), and errors as the problem details (RFC 9457) the service answers.
//
// The key is kept in sessionStorage: for this tab only, gone when the tab closes; never in storage that outlives
// the tab, a cookie or a URL.

import { compact, parse } from "./json.js";

const KEY = "config-service-console-key";
const API = "/api/v1";

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class Problem extends Error {
  constructor(status, body, response = null) {
    const title = body?.title ?? `HTTP ${status}`;
    super(body?.detail ? `${title}: ${body.detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = body?.detail ?? null;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
    // A retry answered as the first attempt was (Idempotency-Key), and where that made something.
    this.replayed = response?.headers.get("Idempotent-Replayed") === "true";
    this.location = response?.headers.get("Location") ?? null;
  }
}

// Called when an answer says the key is not (or no longer) valid: the console goes back to its sign-in.
let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

// call("GET", "/applications", {query, body, ifMatch, ifNoneMatch, idempotencyKey, signal, secret}) -> {status,
// etag, body}; `secret` is the tab's key unless given (null: none).
export async function call(method, path, { query, body, ifMatch, ifNoneMatch, idempotencyKey, signal,
  secret = key.get() } = {}) {
  const headers = { Accept: "application/json" };
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (ifNoneMatch) headers["If-None-Match"] = ifNoneMatch;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let url = API + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, String(v));
    if ([...params].length) url += "?" + params;
  }
  const response = await fetch(url, { method, headers, signal, cache: "no-store", credentials: "omit",
    body: body === undefined ? undefined : (typeof body === "string" ? body : compact(body)) });
  const text = await response.text();
  let parsed = null;
  if (text) {
    try { parsed = parse(text); } catch { parsed = { title: `HTTP ${response.status}`, detail: text.slice(0, 200) }; }
  }
  if (response.status === 401 && secret && secret === key.get()) onUnauthorized();
  if (!response.ok && response.status !== 304) throw new Problem(response.status, parsed, response);
  return { status: response.status, etag: response.headers.get("ETag"), body: parsed };
}

// Every item of a listing, following `next_cursor`; onPage(items) after each page.
export async function all(path, { query = {}, onPage, max = Infinity, signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await call("GET", path, { query: { ...query, limit: 500, cursor }, signal });
    items.push(...page.body.items);
    if (onPage) onPage(items, page.body.next_cursor === null);
    cursor = page.body.next_cursor;
  } while (cursor && items.length < max);
  return { items, complete: cursor === null };
}

export const enc = encodeURIComponent;

// A new Idempotency-Key: 128 random bits (crypto.getRandomValues works where randomUUID does not, on plain http).
export function newIdempotencyKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}
