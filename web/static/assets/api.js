// The HTTP API client: JSON in and out, RFC 9457 problems as ApiError, and
// the token pair. Tokens live in sessionStorage (one tab, gone when it
// closes), never in localStorage or cookies. A 401 or a token about to
// expire triggers one refresh (shared by concurrent callers); a failed
// refresh logs the tab out.

const KEY = 'wagate.tokens';

/** ApiError is a failed call: status plus the problem's detail. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `request failed (${status})`);
    this.status = status;
    this.problem = problem || {};
    // The stable code is the last segment of the problem type URI.
    this.code = (this.problem.type || '').split('/').pop();
  }
}

let tokens = load();
let refreshing = null;
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(t) {
  const was = !!tokens;
  tokens = t;
  if (t) sessionStorage.setItem(KEY, JSON.stringify(t));
  else sessionStorage.removeItem(KEY);
  if (was !== !!t) listeners.forEach((fn) => fn(!!t));
}

function fromPair(pair) {
  return {
    access: pair.accessToken,
    refresh: pair.refreshToken,
    // Refresh a little early so a request never races the expiry.
    expiresAt: Date.now() + Math.max(10, (pair.expiresIn || 900) - 30) * 1000,
  };
}

/** loggedIn reports whether this tab holds tokens. */
export function loggedIn() {
  return !!tokens;
}

/** onAuthChange calls fn(loggedIn) when the tab logs in or out. */
export function onAuthChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** login exchanges credentials for a token pair. */
export async function login(email, password) {
  const pair = await request('POST', '/auth/login', { email, password }, { auth: false });
  save(fromPair(pair));
}

/** logout revokes the refresh token (best effort) and forgets both. */
export async function logout() {
  const t = tokens;
  save(null);
  if (t?.refresh) {
    try {
      await request('POST', '/auth/logout', { refreshToken: t.refresh }, { auth: false });
    } catch {
      // Already expired or revoked: the tab is logged out either way.
    }
  }
}

/** forget drops the tokens without calling the server (they are dead). */
export function forget() {
  if (tokens) save(null);
}

/**
 * accessToken returns a valid access token, refreshing first when it is
 * about to expire. It throws when the tab is not logged in.
 */
export async function accessToken() {
  if (!tokens) throw new ApiError(401, { detail: 'not logged in' });
  if (Date.now() >= tokens.expiresAt) await refresh();
  return tokens.access;
}

/** refresh rotates the token pair; concurrent callers share one request. */
export function refresh() {
  refreshing ??= (async () => {
    const t = tokens;
    if (!t) throw new ApiError(401, { detail: 'not logged in' });
    try {
      const pair = await request('POST', '/auth/refresh', { refreshToken: t.refresh }, { auth: false });
      save(fromPair(pair));
    } catch (e) {
      if (e.status === 401 || e.status === 400 || e.status === 403) save(null);
      throw e;
    }
  })().finally(() => { refreshing = null; });
  return refreshing;
}

/**
 * request sends one API call. body is JSON-encoded; opts.headers adds
 * headers; opts.auth=false sends no token; opts.raw returns the Response
 * itself (for files). Returns the decoded JSON, or null for an empty body.
 */
export async function request(method, path, body, opts = {}) {
  const auth = opts.auth !== false;
  const send = async () => {
    const headers = { Accept: 'application/json', ...(opts.headers || {}) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) headers.Authorization = `Bearer ${await accessToken()}`;
    return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let res = await send();
  if (res.status === 401 && auth && tokens) {
    try {
      await refresh();
    } catch {
      throw await problem(res);
    }
    res = await send();
  }
  if (!res.ok) {
    if (res.status === 401 && auth) forget();
    throw await problem(res);
  }
  if (opts.raw) return res;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

async function problem(res) {
  let p = null;
  try {
    p = await res.json();
  } catch {
    // Not JSON: keep the status only.
  }
  return new ApiError(res.status, p);
}

/** get, post, del are shorthands for request. */
export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body = {}, opts) => request('POST', path, body, opts);
export const patch = (path, body = {}, opts) => request('PATCH', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

/** items accepts both a bare array and a {items} page. */
export function items(page) {
  if (Array.isArray(page)) return page;
  return page?.items || [];
}

/** query builds "?a=1&b=2", skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
