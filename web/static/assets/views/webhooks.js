// Webhook endpoints: where wagate POSTs signed event envelopes, and the
// recent deliveries of each (status, attempts, last response).

import * as api from '../api.js';
import { busy, confirmButton, copyButton, dateTime, field, formData, h, replace } from '../dom.js';

const COMMON = ['message.received', 'message.sent', 'message.failed', 'message.status.updated', 'session.*'];

/** view lists the endpoints and creates new ones. */
export async function view(main) {
  const rows = h('div', { id: 'webhooks-list', class: 'list' });
  const secretBox = h('div', { id: 'new-webhook', hidden: true });
  const form = h('form', { id: 'create-webhook' },
    field('URL', { name: 'url', type: 'url', required: true, placeholder: 'https://example.com/wagate' }),
    field('Events (comma separated, * for all)', { name: 'events', value: 'message.received, session.*', list: 'event-names' }),
    h('datalist', { id: 'event-names' }, COMMON.map((e) => h('option', { value: e }))),
    field('Secret (optional: generated when empty)', { name: 'secret', autocomplete: 'off' }),
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
  const state = ep.disabled || ep.status === 'disabled' ? h('span', { class: 'badge', 'data-status': 'disconnected' }, 'disabled') : null;
  return h('div', { class: 'row-block', 'data-webhook-id': ep.id },
    h('div', { class: 'row' },
      h('div', { class: 'grow' }, h('strong', { class: 'break' }, ep.url), ' ', state,
        h('div', { class: 'muted small' }, (ep.events || []).join(', ') || 'all events',
          ep.createdAt ? ` · created ${dateTime(ep.createdAt)}` : '')),
      toggle,
      confirmButton('Delete', async () => {
        await api.del(`/webhook-endpoints/${encodeURIComponent(ep.id)}`);
        await reload();
      })),
    deliveries);
}

function deliveryTable(list) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'Response', 'Next attempt', 'Created'].map((t) => h('th', {}, t)))),
    h('tbody', {}, list.map((d) => h('tr', {},
      h('td', {}, d.eventType || d.event || d.type || ''),
      h('td', {}, h('span', { class: 'badge', 'data-status': d.status === 'delivered' || d.status === 'succeeded' ? 'connected' : d.status === 'failed' ? 'disconnected' : 'pending_qr' }, d.status || '')),
      h('td', {}, String(d.attempts ?? '')),
      h('td', {}, String(d.lastStatusCode ?? d.responseCode ?? d.lastResponseCode ?? '') || (d.lastError || '')),
      h('td', {}, d.nextAttemptAt ? dateTime(d.nextAttemptAt) : ''),
      h('td', {}, d.createdAt ? dateTime(d.createdAt) : ''))))));
}
