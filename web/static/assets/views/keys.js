// API keys: machine credentials for the REST API and the WebSocket. The
// secret is shown once, right after creation; the server keeps only a hash.

import * as api from '../api.js';
import { busy, confirmButton, copyButton, dateTime, field, formData, h, replace } from '../dom.js';

/** view lists the keys and creates new ones. */
export async function view(main) {
  const rows = h('div', { id: 'keys-list', class: 'list' });
  const secretBox = h('div', { id: 'new-key', hidden: true });
  const form = h('form', { id: 'create-key', class: 'inline' },
    field('Name', { name: 'name', maxlength: 100, placeholder: 'e.g. CRM integration' }),
    h('button', { type: 'submit', class: 'primary' }, 'Create key'),
    h('p', { class: 'error', role: 'alert' }));

  const load = async () => {
    const keys = api.items(await api.get('/api-keys'));
    if (!keys.length) {
      replace(rows, h('p', { class: 'muted' }, 'No API keys yet.'));
      return;
    }
    replace(rows, keys.map((k) => h('div', { class: 'row', 'data-key-id': k.id },
      h('div', { class: 'grow' }, h('strong', {}, k.name || 'key'),
        h('div', { class: 'muted small' },
          k.prefix ? h('code', {}, `${k.prefix}…`) : null,
          k.createdAt ? ` · created ${dateTime(k.createdAt)}` : '',
          k.lastUsedAt ? ` · last used ${dateTime(k.lastUsedAt)}` : ' · never used')),
      confirmButton('Delete', async () => {
        await api.del(`/api-keys/${encodeURIComponent(k.id)}`);
        await load();
      }))));
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, async () => {
      const name = formData(form).name;
      const k = await api.post('/api-keys', name ? { name } : {});
      const secret = k.key || '';
      replace(secretBox, h('div', { class: 'secret' },
        h('p', {}, h('strong', {}, 'Copy this key now: it is shown only once.')),
        h('div', { class: 'copy-row' }, h('code', { id: 'new-key-secret' }, secret), copyButton(secret)),
        h('p', { class: 'muted small' }, 'Send it as the X-Api-Key header, e.g. ',
          h('code', {}, `curl -H 'X-Api-Key: ${secret.slice(0, 8)}…' ${location.origin}/sessions`))));
      secretBox.hidden = false;
      form.reset();
      await load();
    });
  });

  replace(main,
    h('section', { class: 'card' }, h('h1', {}, 'API keys'),
      h('p', { class: 'muted' }, 'Keys let programs call the API as you (header X-Api-Key). Delete a key to revoke it.'),
      form, secretBox),
    h('section', { class: 'card' }, rows));
  await load();
}
