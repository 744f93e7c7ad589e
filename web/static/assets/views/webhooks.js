// Webhook endpoints: where wagate POSTs signed event envelopes, and the
// recent deliveries of each (status, attempts, last response).

import * as api from '../api.js';
import { busy, confirmButton, copyButton, dateTime, field, formData, h, replace, toast } from '../dom.js';

const COMMON = ['message.received', 'message.sent', 'message.failed', 'message.status.updated', 'session.*'];

/** view lists the endpoints and creates new ones. */
export async function view(main) {
  const rows = h('div', { id: 'webhooks-list', class: 'list' });
  const secretBox = h('div', { id: 'new-webhook', hidden: true });
  const form = h('form', { id: 'create-webhook' },
    field('URL', { name: 'url', type: 'url', required: true, placeholder: 'https://example.com/wagate' }),
    field('Events (comma separated, * for all)', { name: 'events', value: 'message.received, session.*', list: 'event-names' }),
    h('datalist', { id: 'event-names' }, COMMON.map((e) => h('option', { value: e }))),
    field('Secret (optional, 16+ characters: generated when empty)', { name: 'secret', autocomplete: 'off', minlength: 16, maxlength: 200 }),
    h('p', { class: 'error', role: 'alert' }),
    h('button', { type: 'submit', class: 'primary' }, 'Add endpoint'));

  const load = async () => {
    const eps = api.items(await api.get('/webhook-endpoints'));
    if (!eps.length) {
      replace(rows, h('p', { class: 'muted' }, 'No webhook endpoints yet.'));
      return;
    }
    replace(rows, eps.map((ep) => endpointRow(ep, load)));
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formData(form);
    busy(form, async () => {
      const body = { url: v.url, events: v.events.split(',').map((s) => s.trim()).filter(Boolean) };
      if (v.secret) body.secret = v.secret;
      const ep = await api.post('/webhook-endpoints', body);
      if (ep.secret && !v.secret) {
        replace(secretBox, h('div', { class: 'secret' },
          h('p', {}, h('strong', {}, 'Signing secret (shown once): '), 'verify X-Wagate-Signature with it.'),
          h('div', { class: 'copy-row' }, h('code', {}, ep.secret), copyButton(ep.secret))));
        secretBox.hidden = false;
      }
      form.reset();
      await load();
    });
  });

  replace(main,
    h('section', { class: 'card' }, h('h1', {}, 'Webhooks'),
      h('p', { class: 'muted' }, 'wagate POSTs each matching event to these URLs, signed with HMAC-SHA256, and retries failures for up to a day.'),
      form, secretBox),
    h('section', { class: 'card' }, rows));
  await load();
}

function endpointRow(ep, reload) {
  const deliveries = h('div', { class: 'deliveries', hidden: true });
  const toggle = h('button', {
    type: 'button',
    class: 'small',
    onclick: async () => {
      if (!deliveries.hidden) {
        deliveries.hidden = true;
        toggle.textContent = 'Deliveries';
        return;
      }
      toggle.textContent = 'Hide deliveries';
      deliveries.hidden = false;
      replace(deliveries, h('p', { class: 'muted' }, 'Loading…'));
      try {
        const list = api.items(await api.get(`/webhook-endpoints/${encodeURIComponent(ep.id)}/deliveries?limit=20`));
        replace(deliveries, list.length ? deliveryTable(list) : h('p', { class: 'muted' }, 'No deliveries yet.'));
      } catch (e) {
        replace(deliveries, h('p', { class: 'error' }, e.message));
      }
    },
  }, 'Deliveries');
  toggle.dataset.role = 'deliveries';
  const state = ep.enabled === false
    ? h('span', { class: 'badge', 'data-status': 'disconnected', title: ep.disabledReason || '' }, ep.disabledReason ? `disabled: ${ep.disabledReason}` : 'disabled')
    : null;
  const failing = ep.enabled !== false && ep.failingSince ? h('span', { class: 'badge', 'data-status': 'pending_qr' }, `failing since ${dateTime(ep.failingSince)}`) : null;
  const pause = h('button', {
    type: 'button',
    class: 'small',
    onclick: async () => {
      pause.disabled = true;
      try {
        await api.patch(`/webhook-endpoints/${encodeURIComponent(ep.id)}`, { enabled: ep.enabled === false });
        await reload();
      } catch (e) {
        pause.disabled = false;
        toast(e.message, 'error');
      }
    },
  }, ep.enabled === false ? 'Enable' : 'Pause');
  return h('div', { class: 'row-block', 'data-webhook-id': ep.id },
    h('div', { class: 'row' },
      h('div', { class: 'grow' }, h('strong', { class: 'break' }, ep.url), ' ', state, failing,
        h('div', { class: 'muted small' }, (ep.events || []).join(', ') || 'all events',
          ep.createdAt ? ` · created ${dateTime(ep.createdAt)}` : '')),
      toggle, pause,
      confirmButton('Delete', async () => {
        await api.del(`/webhook-endpoints/${encodeURIComponent(ep.id)}`);
        await reload();
      })),
    deliveries);
}

const DELIVERY_BADGE = { succeeded: 'connected', failed: 'disconnected', pending: 'pending_qr' };

function deliveryTable(list) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'Last response', 'Next attempt', 'Created'].map((t) => h('th', {}, t)))),
    h('tbody', {}, list.map((d) => h('tr', { 'data-delivery-id': d.id },
      h('td', {}, d.eventType || ''),
      h('td', {}, h('span', { class: 'badge', 'data-status': DELIVERY_BADGE[d.status] || 'unknown' }, d.status || '')),
      h('td', {}, String(d.attempts ?? '')),
      h('td', { title: d.lastError || '' }, d.lastResponseCode ? `HTTP ${d.lastResponseCode}` : (d.lastError || '')),
      h('td', {}, d.nextAttemptAt ? dateTime(d.nextAttemptAt) : ''),
      h('td', {}, d.createdAt ? dateTime(d.createdAt) : ''))))));
}
