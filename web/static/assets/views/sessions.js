// Sessions: the list with live status badges, creation, and one session's
// page with its live QR, pairing code, lifecycle buttons and (for simulator
// sessions) the fake phone's controls.

import * as api from '../api.js';
import * as events from '../events.js';
import { svg as qrSVG } from '../qr.js';
import { busy, confirmButton, dateTime, field, formData, h, replace, toast } from '../dom.js';

const STATUS_TEXT = { pending_qr: 'waiting for QR scan', connected: 'connected', disconnected: 'disconnected' };

/** badge is a session status pill; data-status drives its colour. */
export function badge(status) {
  return h('span', { class: 'badge', 'data-status': status || 'unknown' }, STATUS_TEXT[status] || status || 'unknown');
}

function setBadge(el, status) {
  if (!el) return;
  el.dataset.status = status;
  el.textContent = STATUS_TEXT[status] || status;
}

function sessionId(s) {
  return s.id || s.sessionId;
}

// statusFromEvent maps a session event to the status it implies.
function statusFromEvent(env) {
  switch (env.type) {
    case 'session.qr.updated': return 'pending_qr';
    case 'session.status.connected': return 'connected';
    case 'session.status.disconnected': return 'disconnected';
    default: return null;
  }
}

function providerOptions(config) {
  const opts = [h('option', { value: 'whatsmeow' }, 'WhatsApp (scan a QR code)')];
  if (config.simulator) opts.push(h('option', { value: 'simulator' }, 'Simulator (fake phone, for testing)'));
  return opts;
}

/** list shows the tenant's sessions and a form to create one. */
export async function list(main, _params, { config, go }) {
  const rows = h('div', { id: 'sessions-list', class: 'list' }, h('p', { class: 'muted' }, 'Loading…'));
  const form = h('form', { id: 'create-session', class: 'inline' },
    field('Name', { name: 'name', maxlength: 100, placeholder: 'e.g. Support line' }),
    h('label', { class: 'field' }, h('span', {}, 'Provider'), h('select', { name: 'provider' }, providerOptions(config))),
    h('button', { type: 'submit', class: 'primary' }, 'Create session'),
    h('p', { class: 'error', role: 'alert' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formData(form);
    busy(form, async () => {
      const body = { provider: v.provider };
      if (v.name) body.name = v.name;
      const created = await api.post('/sessions', body);
      go(`/sessions/${encodeURIComponent(sessionId(created))}`);
    });
  });
  replace(main,
    h('section', { class: 'card' }, h('h1', {}, 'Sessions'),
      h('p', { class: 'muted' }, 'Each session is one linked WhatsApp number.'), form),
    h('section', { class: 'card' }, rows));

  const load = async () => {
    const sessions = api.items(await api.get('/sessions?limit=100'));
    if (!sessions.length) {
      replace(rows, h('p', { class: 'muted', id: 'no-sessions' }, 'No sessions yet: create one above, then scan its QR code with WhatsApp.'));
      return;
    }
    replace(rows, sessions.map((s) => h('a', { class: 'row session', href: `#/sessions/${encodeURIComponent(sessionId(s))}`, 'data-session-id': sessionId(s) },
      h('div', { class: 'grow' },
        h('strong', {}, s.name || 'Unnamed session'),
        h('div', { class: 'muted small' }, [s.provider, s.phone, s.disconnectReason && `(${s.disconnectReason})`].filter(Boolean).join(' · '))),
      badge(s.status))));
  };
  await load();
  const offs = [
    events.on('*', (env) => {
      if (env.type === 'session.created' || env.type === 'session.deleted') {
        load().catch(() => {});
        return;
      }
      const status = statusFromEvent(env);
      if (!status) return;
      const row = rows.querySelector(`[data-session-id="${CSS.escape(env.sessionId || '')}"]`);
      if (row) setBadge(row.querySelector('.badge'), status);
      else load().catch(() => {});
    }),
    events.on('reconnected', () => load().catch(() => {})),
    events.on('resync', () => load().catch(() => {})),
  ];
  return () => offs.forEach((off) => off());
}

/** detail is one session's page. */
export async function detail(main, [id], { config, go }) {
  const path = `/sessions/${encodeURIComponent(id)}`;
  let s = await api.get(path);
  const statusBadge = badge(s.status);
  const meta = h('p', { class: 'muted', id: 'session-meta' });
  const qrBox = h('div', { id: 'qr-box', class: 'qr-box' });
  const qrPanel = h('section', { class: 'card', id: 'qr-panel' }, h('h2', {}, 'Link a phone'),
    h('p', { class: 'muted' }, 'On the phone: WhatsApp → Settings → Linked devices → Link a device, then scan this code. It rotates every few seconds.'),
    qrBox, pairForm(path));
  const chatsLink = h('a', { class: 'button primary', id: 'open-chats', href: `#${path}/chats` }, 'Open chats');
  let qrTimer = null;

  const showStatus = () => {
    setBadge(statusBadge, s.status);
    meta.textContent = [
      s.provider,
      s.phone && `linked to ${s.phone}`,
      s.status === 'disconnected' && s.disconnectReason && `reason: ${s.disconnectReason.replaceAll('_', ' ')}`,
      s.createdAt && `created ${dateTime(s.createdAt)}`,
    ].filter(Boolean).join(' · ');
    qrPanel.hidden = s.status !== 'pending_qr';
    chatsLink.hidden = s.status !== 'connected' && !s.phone;
  };

  const renderQR = (qr, expiresAt) => {
    clearInterval(qrTimer);
    if (!qr) {
      replace(qrBox, h('p', { class: 'muted', id: 'qr-waiting' }, 'Waiting for a QR code from WhatsApp…'));
      return;
    }
    const left = h('p', { class: 'muted small', id: 'qr-expiry' });
    const tick = () => {
      const secs = Math.round((new Date(expiresAt) - Date.now()) / 1000);
      left.textContent = Number.isFinite(secs) ? (secs > 0 ? `Refreshes in ${secs} s` : 'Refreshing…') : '';
      // The next code normally arrives as an event; ask for it when it is late.
      if (secs < -2 && secs % 3 === 0) loadQR().catch(() => {});
    };
    tick();
    if (expiresAt) qrTimer = setInterval(tick, 1000);
    replace(qrBox, qrSVG(qr), left);
  };

  const loadQR = async () => {
    if (s.status !== 'pending_qr') return;
    try {
      const q = await api.get(`${path}/qr`);
      renderQR(q?.qr, q?.expiresAt);
    } catch (e) {
      if (e.status === 404 || e.status === 409) renderQR(null);
      else throw e;
    }
  };

  const reload = async () => {
    s = await api.get(path);
    showStatus();
    await loadQR();
  };

  const act = (verb, label) => h('button', {
    type: 'button',
    'data-action': verb,
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        await api.post(`${path}/${verb}`);
        toast(`${label}: sent to the session worker`);
      } catch (err) {
        toast(err.message, 'error');
      } finally {
        e.target.disabled = false;
      }
    },
  }, label);

  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/sessions' }, '← Sessions')),
    h('section', { class: 'card' },
      h('div', { class: 'title-row' }, h('h1', {}, s.name || 'Unnamed session'), statusBadge),
      meta,
      h('div', { class: 'actions', id: 'actions' },
        chatsLink,
        act('start', 'Start'), act('stop', 'Stop'), act('logout', 'Log out'),
        confirmButton('Delete', async () => {
          await api.del(path);
          toast('Session deleted');
          go('/sessions');
        }))),
    qrPanel,
    s.provider === 'simulator' && config.simulator ? simulatorPanel(id) : null,
    h('p', { class: 'muted small' }, 'Session id: ', h('code', {}, id)));
  showStatus();
  await loadQR();
  // Events keep the page current; while the stream is down, poll instead.
  const poll = setInterval(() => {
    if (events.connectionState() !== 'live') reload().catch(() => {});
  }, 5000);

  const offs = [
    events.on('*', (env) => {
      if (env.sessionId !== id) return;
      if (env.type === 'session.qr.updated') {
        s.status = 'pending_qr';
        showStatus();
        renderQR(env.data?.qr, env.data?.expiresAt);
        return;
      }
      if (env.type === 'session.deleted') {
        go('/sessions');
        return;
      }
      const status = statusFromEvent(env);
      if (!status) return;
      s.status = status;
      if (env.type === 'session.status.connected') s.phone = env.data?.phone || s.phone;
      if (env.type === 'session.status.disconnected') s.disconnectReason = env.data?.reason || '';
      showStatus();
    }),
    events.on('reconnected', () => reload().catch(() => {})),
    events.on('resync', () => reload().catch(() => {})),
  ];
  return () => {
    clearInterval(qrTimer);
    clearInterval(poll);
    offs.forEach((off) => off());
  };
}

function pairForm(path) {
  const code = h('output', { class: 'pair-code', id: 'pair-code' });
  const form = h('form', { id: 'pair-form', class: 'inline' },
    field('Or link with a phone number', { name: 'phone', type: 'tel', placeholder: '+15550001111', required: true }),
    h('button', { type: 'submit' }, 'Get pairing code'),
    h('p', { class: 'error', role: 'alert' }), code);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, async () => {
      const r = await api.post(`${path}/pair-code`, { phone: formData(form).phone });
      code.textContent = r?.code || r?.pairCode || '';
    });
  });
  return form;
}

// simulatorPanel drives the fake phone of a simulator session.
function simulatorPanel(id) {
  const base = `/simulator/sessions/${encodeURIComponent(id)}`;
  const simForm = (formId, title, fields, label, toBody) => {
    const form = h('form', { id: formId, class: 'inline' }, h('strong', { class: 'form-title' }, title), fields,
      h('button', { type: 'submit' }, label), h('p', { class: 'error', role: 'alert' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(form, async () => {
        const [path, body] = toBody(formData(form));
        await api.post(`${base}/${path}`, body);
        toast(`Simulator: ${label.toLowerCase()} done`);
      });
    });
    return form;
  };
  return h('section', { class: 'card sim', id: 'sim-panel' },
    h('h2', {}, 'Simulator'),
    h('p', { class: 'muted' }, 'This session talks to a fake phone. Use these controls to play the phone and its contacts.'),
    simForm('sim-scan', 'Scan the QR', field('Phone number', { name: 'phone', type: 'tel', value: '+15557770000', required: true }),
      'Scan', (v) => ['scan', { phone: v.phone }]),
    simForm('sim-inbound', 'Receive a message', [
      field('From', { name: 'from', type: 'tel', value: '+15550001111', required: true }),
      field('Name', { name: 'pushName', value: 'Alice' }),
      field('Text', { name: 'text', required: true, placeholder: 'Hello!' }),
    ], 'Receive', (v) => ['inbound', { from: v.from, text: v.text, ...(v.pushName ? { pushName: v.pushName } : {}) }]),
    simForm('sim-history', 'Sync history', [
      field('Chats', { name: 'chats', type: 'number', min: 1, max: 50, value: 3 }),
      field('Messages per chat', { name: 'messagesPerChat', type: 'number', min: 1, max: 500, value: 20 }),
    ], 'Sync', (v) => ['history', { chats: Number(v.chats), messagesPerChat: Number(v.messagesPerChat) }]),
    simForm('sim-disconnect', 'Drop the connection', h('label', { class: 'field' }, h('span', {}, 'Reason'),
      h('select', { name: 'reason' }, ['connection_lost', 'logged_out'].map((r) => h('option', { value: r }, r.replace('_', ' '))))),
    'Disconnect', (v) => ['disconnect', { reason: v.reason }]));
}
