// Tiny DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing a chat partner sends can inject markup into the page.

/**
 * h builds an element: h('button', {class: 'x', onclick: fn}, 'Label').
 * Attributes starting with "on" become listeners; `false`, null and
 * undefined attributes and children are skipped; arrays are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'value') {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace empties el and puts children in it. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** toast shows a short message at the bottom of the screen. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** formData returns a form's fields as a plain object of trimmed strings. */
export function formData(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) {
    if (typeof v === 'string') out[k] = v.trim();
  }
  return out;
}

/**
 * busy disables a form's buttons while fn runs and shows its error (an
 * ApiError's detail) in the form's .error element, or as a toast.
 */
export async function busy(form, fn) {
  const buttons = form.querySelectorAll('button');
  const err = form.querySelector('.error');
  buttons.forEach((b) => (b.disabled = true));
  if (err) err.textContent = '';
  try {
    return await fn();
  } catch (e) {
    if (err) err.textContent = e.message;
    else toast(e.message, 'error');
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

/** field is a labelled input. */
export function field(label, attrs) {
  return h('label', { class: 'field' }, h('span', {}, label), h('input', attrs));
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** time formats a timestamp (ISO string or unix ms) as hh:mm. */
export function time(ts) {
  const d = toDate(ts);
  return d ? timeFmt.format(d) : '';
}

/** dateTime formats a timestamp with its date. */
export function dateTime(ts) {
  const d = toDate(ts);
  return d ? dateFmt.format(d) : '';
}

function toDate(ts) {
  if (ts == null || ts === '') return null;
  const d = new Date(typeof ts === 'number' && ts < 1e12 ? ts * 1000 : ts);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** copyButton copies text to the clipboard when clicked. */
export function copyButton(text) {
  return h('button', {
    type: 'button',
    class: 'small',
    onclick: async (e) => {
      try {
        await navigator.clipboard.writeText(text);
        e.target.textContent = 'Copied';
      } catch {
        toast('Copy failed: select the text and copy it by hand', 'error');
      }
    },
  }, 'Copy');
}

/**
 * confirmButton needs two clicks: the first arms it ("Really …?"), the
 * second runs fn. No blocking confirm() dialogs.
 */
export function confirmButton(label, fn, cls = 'danger') {
  let armed = false;
  let timer;
  const b = h('button', {
    type: 'button',
    class: cls,
    onclick: async () => {
      if (!armed) {
        armed = true;
        b.textContent = `Really ${label.toLowerCase()}?`;
        timer = setTimeout(() => { armed = false; b.textContent = label; }, 4000);
        return;
      }
      clearTimeout(timer);
      b.disabled = true;
      try { await fn(); } catch (e) { toast(e.message, 'error'); } finally { b.disabled = false; armed = false; b.textContent = label; }
    },
  }, label);
  return b;
}

/** jidLabel shows a JID as a phone number when it is one. */
export function jidLabel(jid) {
  if (!jid) return '';
  const [user, server] = jid.split('@');
  if (server === 's.whatsapp.net') return '+' + user.split(':')[0];
  return jid;
}

/** toJid turns "+1 555 000-1111" into 15550001111@s.whatsapp.net. */
export function toJid(input) {
  const s = input.trim();
  if (s.includes('@')) return s;
  const digits = s.replace(/\D/g, '');
  return digits ? `${digits}@s.whatsapp.net` : '';
}
