// The dashboard shell: hash routes, the header and the live-events
// indicator. Mailed links open the auth context's own pages
// (/auth/verify?token=…); the forms here also accept a pasted link.

import * as api from './api.js';
import * as events from './events.js';
import { h, replace, toast } from './dom.js';
import * as authViews from './views/auth.js';
import * as sessionViews from './views/sessions.js';
import * as chatViews from './views/chats.js';
import * as keyViews from './views/keys.js';
import * as webhookViews from './views/webhooks.js';

const body = document.body.dataset;
/** config holds the server facts rendered into the page. */
const config = {
  simulator: body.simulator === 'true',
  mailLogged: body.mailLogged === 'true',
  version: body.version,
};

// Each route: pattern, view, whether it needs a login, nav item to highlight.
const routes = [
  [/^\/login$/, authViews.login, false],
  [/^\/signup$/, authViews.signup, false],
  [/^\/verify$/, authViews.verify, false],
  [/^\/forgot$/, authViews.forgot, false],
  [/^\/reset$/, authViews.reset, false],
  [/^\/sessions$/, sessionViews.list, true, 'sessions'],
  [/^\/sessions\/([^/]+)$/, sessionViews.detail, true, 'sessions'],
  [/^\/sessions\/([^/]+)\/chats$/, chatViews.view, true, 'sessions'],
  [/^\/sessions\/([^/]+)\/chats\/([^/]+)$/, chatViews.view, true, 'sessions'],
  [/^\/keys$/, keyViews.view, true, 'keys'],
  [/^\/webhooks$/, webhookViews.view, true, 'webhooks'],
];

const main = document.getElementById('main');
let cleanup = null;

/** go navigates to a hash route such as "/sessions". */
function go(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

async function route() {
  const path = decodeURI(location.hash.slice(1)) || (api.loggedIn() ? '/sessions' : '/login');
  const match = routes.map(([re, view, needsLogin, nav]) => ({ m: path.match(re), view, needsLogin, nav })).find((r) => r.m);
  if (!match) {
    go(api.loggedIn() ? '/sessions' : '/login');
    return;
  }
  if (match.needsLogin && !api.loggedIn()) {
    sessionStorage.setItem('wagate.after-login', path);
    go('/login');
    return;
  }
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === match.nav));
  replace(main);
  main.dataset.view = match.view.name;
  window.scrollTo(0, 0);
  try {
    cleanup = await match.view(main, match.m.slice(1).map(decodeURIComponent), { config, go, afterLogin });
  } catch (e) {
    if (e.status === 401) {
      api.forget();
      go('/login');
      return;
    }
    replace(main, h('section', { class: 'card' }, h('h1', {}, 'Something went wrong'), h('p', { class: 'error' }, e.message)));
  }
}

/** afterLogin returns to the page the user wanted before logging in. */
function afterLogin() {
  const to = sessionStorage.getItem('wagate.after-login') || '/sessions';
  sessionStorage.removeItem('wagate.after-login');
  go(to);
}

function renderHeader(loggedIn) {
  document.getElementById('nav').hidden = !loggedIn;
  document.getElementById('who').hidden = !loggedIn;
  const email = document.getElementById('me-email');
  if (!loggedIn) {
    email.textContent = '';
    events.stop();
    return;
  }
  events.start();
  api.get('/me').then((me) => { email.textContent = me?.email || ''; }).catch(() => {});
}

function showLive(state) {
  const dot = document.getElementById('live');
  dot.dataset.state = state;
  dot.title = { live: 'Live events: connected', reconnecting: 'Live events: reconnecting…', connecting: 'Live events: connecting…' }[state] || 'Live events: off';
}

document.getElementById('logout').addEventListener('click', async () => {
  await api.logout();
  toast('Logged out');
  go('/login');
});

api.onAuthChange((loggedIn) => {
  renderHeader(loggedIn);
  if (!loggedIn && routes.some(([re, , needsLogin]) => needsLogin && re.test(location.hash.slice(1)))) go('/login');
});
events.on('state', showLive);
window.addEventListener('hashchange', route);

renderHeader(api.loggedIn());
route();
