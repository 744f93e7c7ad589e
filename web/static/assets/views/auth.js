// Sign-up, email verification, login and password reset.

import * as api from '../api.js';
import { busy, field, formData, h, replace, toast } from '../dom.js';

function mailHint(config) {
  return config.mailLogged
    ? h('p', { class: 'hint', id: 'mail-hint' },
      'This server has no SMTP configured, so nothing is mailed: the verification link is in the server log, ',
      'on the INFO line "mail not sent: no SMTP server configured" (its link field). Open that link, or paste it here.')
    : h('p', { class: 'hint', id: 'mail-hint' }, 'Open the link in the email, or paste it (or just its token) here.');
}

// tokenFrom accepts a pasted link or a bare token.
function tokenFrom(input) {
  try {
    return new URL(input).searchParams.get('token') || input;
  } catch {
    return input;
  }
}

function card(title, ...children) {
  return h('section', { class: 'card narrow' }, h('h1', {}, title), ...children);
}

/** login is the login form. */
export async function login(main, _params, { afterLogin }) {
  let resend = null;
  const form = h('form', { id: 'login-form' },
    field('Email', { name: 'email', type: 'email', autocomplete: 'username', required: true, autofocus: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    h('p', { class: 'error', role: 'alert' }),
    h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const { email, password } = formData(form);
    busy(form, async () => {
      try {
        await api.login(email, password);
      } catch (err) {
        if (err.code === 'email-not-verified') {
          resend ??= h('button', { type: 'button', class: 'link', onclick: () => resendVerification(email) }, 'Send the verification link again');
          form.querySelector('.error').after(resend);
        }
        throw err;
      }
      afterLogin();
    });
  });
  replace(main, card('Log in', form,
    h('p', { class: 'alt' }, 'No account? ', h('a', { href: '#/signup' }, 'Sign up'), ' · ', h('a', { href: '#/forgot' }, 'Forgot password?'))));
}

async function resendVerification(email) {
  try {
    await api.post('/auth/verify/resend', { email }, { auth: false });
    toast('If that account is waiting for verification, a new link is on its way.');
  } catch (e) {
    toast(e.message, 'error');
  }
}

/** signup registers and then explains the verification step. */
export async function signup(main, _params, { config, go }) {
  const form = h('form', { id: 'signup-form' },
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, autofocus: true }),
    field('Password (8 characters or more)', { name: 'password', type: 'password', autocomplete: 'new-password', minlength: 8, maxlength: 256, required: true }),
    h('p', { class: 'error', role: 'alert' }),
    h('button', { type: 'submit', class: 'primary' }, 'Sign up'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const { email, password } = formData(form);
    busy(form, async () => {
      await api.post('/auth/register', { email, password }, { auth: false });
      replace(main, card('Verify your email',
        h('p', { id: 'signup-done' }, 'We sent a verification link to ', h('strong', {}, email), '.'),
        mailHint(config),
        pasteForm(go),
        h('p', { class: 'alt' },
          h('button', { type: 'button', class: 'link', onclick: () => resendVerification(email) }, 'Send it again'),
          ' · ', h('a', { href: '#/login' }, 'Log in'))));
    });
  });
  replace(main, card('Create an account', form, h('p', { class: 'alt' }, 'Already registered? ', h('a', { href: '#/login' }, 'Log in'))));
}

function pasteForm(go) {
  const form = h('form', { id: 'verify-form', class: 'inline' },
    field('Verification link or token', { name: 'token', required: true, autocomplete: 'off' }),
    h('button', { type: 'submit' }, 'Verify'),
    h('p', { class: 'error', role: 'alert' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, async () => {
      await api.post('/auth/verify', { token: tokenFrom(formData(form).token) }, { auth: false });
      toast('Email verified: you can log in now.');
      go('/login');
    });
  });
  return form;
}

/** verify takes the mailed link (or its token) pasted by hand. */
export async function verify(main, _params, { config, go }) {
  replace(main, card('Verify your email', mailHint(config), pasteForm(go)));
}

/** forgot asks for a password reset link. */
export async function forgot(main, _params, { config }) {
  const form = h('form', { id: 'forgot-form' },
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, autofocus: true }),
    h('p', { class: 'error', role: 'alert' }),
    h('button', { type: 'submit', class: 'primary' }, 'Send reset link'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(form, async () => {
      await api.post('/auth/password/forgot', { email: formData(form).email }, { auth: false });
      replace(main, card('Check your email',
        h('p', { id: 'forgot-done' }, 'If an account exists for that address, a reset link is on its way.'),
        config.mailLogged ? h('p', { class: 'hint' }, 'This server has no SMTP configured: the link is in the server log.') : null,
        h('a', { href: '#/reset' }, 'I have a reset token')));
    });
  });
  replace(main, card('Reset your password', form));
}

/** reset sets a new password with the mailed link (or its token). */
export async function reset(main, _params, { go }) {
  const form = h('form', { id: 'reset-form' },
    field('Reset link or token', { name: 'token', required: true, autocomplete: 'off' }),
    field('New password (8 characters or more)', { name: 'password', type: 'password', autocomplete: 'new-password', minlength: 8, maxlength: 256, required: true }),
    h('p', { class: 'error', role: 'alert' }),
    h('button', { type: 'submit', class: 'primary' }, 'Set password'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formData(form);
    busy(form, async () => {
      await api.post('/auth/password/reset', { token: tokenFrom(v.token), password: v.password }, { auth: false });
      toast('Password changed: log in with the new one.');
      go('/login');
    });
  });
  replace(main, card('Choose a new password', form));
}
