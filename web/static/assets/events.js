// Live events: one WebSocket to /ws/sessions per tab, carrying the tenant's
// event envelopes {id,type,tenantId,sessionId,occurredAt,data}. Browsers
// cannot set headers on a WebSocket, so the access token travels as the
// access_token query parameter. After a drop the stream reconnects with
// backoff and ?since=<last event id>, so the server replays what was missed
// (no gap, no repeat); views also get a "resync" when that was impossible.

import { accessToken } from './api.js';

const handlers = new Map(); // type (or "*") → Set of fn
let ws = null;
let lastId = null;
let wanted = false;
let attempt = 0;
let timer = null;
let state = 'off';
const seen = new Set(); // recent event ids, to drop repeats after a replay
const seenOrder = [];

/** on subscribes fn(envelope) to one event type ("*" for all, "state" for the connection). */
export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type)?.delete(fn);
}

function emit(type, arg) {
  handlers.get(type)?.forEach((fn) => {
    try {
      fn(arg);
    } catch (e) {
      console.error('event handler failed', type, e);
    }
  });
}

function setState(s) {
  if (s === state) return;
  state = s;
  emit('state', s);
}

/** connectionState is "off", "connecting", "live" or "reconnecting". */
export function connectionState() {
  return state;
}

/** start opens the stream (idempotent). */
export function start() {
  wanted = true;
  if (!ws && !timer) connect();
}

/** stop closes the stream and forgets its position (logout). */
export function stop() {
  wanted = false;
  clearTimeout(timer);
  timer = null;
  lastId = null;
  seen.clear();
  seenOrder.length = 0;
  if (ws) {
    const s = ws;
    ws = null;
    s.close(1000, 'logout');
  }
  setState('off');
}

async function connect() {
  timer = null;
  let token;
  try {
    token = await accessToken();
  } catch {
    setState('off');
    return; // logged out: nothing to stream
  }
  if (!wanted) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams({ access_token: token });
  if (lastId) params.set('since', lastId);
  const resuming = !!lastId;
  setState(attempt === 0 && !resuming ? 'connecting' : 'reconnecting');
  const s = new WebSocket(`${proto}//${location.host}/ws/sessions?${params}`);
  ws = s;
  s.onopen = () => {
    attempt = 0;
    setState('live');
    if (resuming) emit('reconnected', null);
  };
  s.onmessage = (m) => {
    let env;
    try {
      env = JSON.parse(m.data);
    } catch {
      return;
    }
    if (!env || !env.type) return;
    if (env.id) {
      if (seen.has(env.id)) return;
      seen.add(env.id);
      seenOrder.push(env.id);
      if (seenOrder.length > 2000) seen.delete(seenOrder.shift());
      lastId = env.id;
    }
    emit(env.type, env);
    emit('*', env);
  };
  s.onclose = (e) => {
    if (ws !== s) return;
    ws = null;
    if (!wanted) return;
    // 4410: the resume point is outside the server's replay window. Start
    // fresh and let the views reload what they show.
    if (lastId && (e.code === 4410 || /too old/i.test(e.reason || ''))) {
      lastId = null;
      emit('resync', null);
    }
    setState('reconnecting');
    const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt++;
    timer = setTimeout(connect, delay);
  };
}
