// Chats of one session: the chat list with unread counts, and a chat with
// its history (older pages load as you scroll up), live incoming messages,
// a composer for text, images and documents, and delivery ticks that move
// pending → sent → delivered → read as the events arrive.

import * as api from '../api.js';
import * as events from '../events.js';
import { busy, h, jidLabel, replace, time, toast, toJid } from '../dom.js';

const PAGE = 30;
const RANK = { pending: 0, sent: 1, delivered: 2, read: 3 };
const TICKS = { pending: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

/** view renders the chat list, and the open chat when the route names one. */
export async function view(main, [id, jid], { go }) {
  const sessionPath = `/sessions/${encodeURIComponent(id)}`;
  const session = await api.get(sessionPath);
  const listBox = h('div', { id: 'chat-list', class: 'chat-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const chatBox = h('div', { class: 'chat-pane', id: 'chat-pane' });
  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/sessions' }, 'Sessions'), ' / ',
      h('a', { href: `#${sessionPath}` }, session.name || 'Unnamed session'), ' / chats'),
    h('div', { class: `chats${jid ? ' has-chat' : ''}` },
      h('aside', { class: 'card chats-side' }, newChatForm(id, go), listBox),
      h('section', { class: 'card chats-main' }, chatBox)));

  const chatList = await chatListController(listBox, id, jid);
  const chat = jid ? await openChat(chatBox, id, jid, chatList) : null;
  if (!jid) replace(chatBox, h('p', { class: 'muted empty' }, 'Pick a chat, or start one with a phone number.'));

  const offs = [
    events.on('*', (env) => {
      if (env.sessionId !== id) return;
      chatList.onEvent(env);
      chat?.onEvent(env);
    }),
    events.on('reconnected', () => { chatList.reload(); chat?.catchUp(); }),
    events.on('resync', () => { chatList.reload(); chat?.catchUp(); }),
  ];
  return () => {
    offs.forEach((off) => off());
    chat?.close();
  };
}

function newChatForm(id, go) {
  const form = h('form', { id: 'new-chat', class: 'inline compact' },
    h('input', { name: 'to', type: 'tel', placeholder: 'New chat: +15550001111', 'aria-label': 'Phone number for a new chat', required: true }),
    h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const jid = toJid(form.elements.to.value);
    if (!jid) {
      toast('Type a phone number with its country code', 'error');
      return;
    }
    go(`/sessions/${encodeURIComponent(id)}/chats/${encodeURIComponent(jid)}`);
  });
  return form;
}

// chatListController renders the chats and keeps them current from events.
async function chatListController(box, id, openJid) {
  let chats = [];
  const render = () => {
    if (!chats.length) {
      replace(box, h('p', { class: 'muted', id: 'no-chats' }, 'No chats yet. Messages you send or receive appear here.'));
      return;
    }
    chats.sort((a, b) => tsOf(b.lastMessageTs) - tsOf(a.lastMessageTs));
    replace(box, chats.map((c) => h('a', {
      class: `row chat${c.chatJid === openJid ? ' active' : ''}`,
      href: `#/sessions/${encodeURIComponent(id)}/chats/${encodeURIComponent(c.chatJid)}`,
      'data-jid': c.chatJid,
    },
    h('div', { class: 'grow' }, h('strong', {}, c.name || jidLabel(c.chatJid)),
      h('div', { class: 'muted small' }, c.lastMessageTs ? time(c.lastMessageTs) : '')),
    c.unreadCount > 0 && c.chatJid !== openJid ? h('span', { class: 'unread', title: 'unread messages' }, String(c.unreadCount)) : null)));
  };
  const reload = async () => {
    try {
      chats = api.items(await api.get(`/chats${api.query({ sessionId: id, limit: 200 })}`));
      render();
    } catch (e) {
      replace(box, h('p', { class: 'error' }, e.message));
    }
  };
  const touch = (chatJid, ts, name, inbound) => {
    let c = chats.find((x) => x.chatJid === chatJid);
    if (!c) {
      c = { chatJid, name: '', unreadCount: 0, lastMessageTs: ts };
      chats.push(c);
    }
    if (tsOf(ts) >= tsOf(c.lastMessageTs)) c.lastMessageTs = ts;
    if (name && !c.name && inbound) c.name = name;
    if (inbound && chatJid !== openJid) c.unreadCount = (c.unreadCount || 0) + 1;
    render();
  };
  await reload();
  return {
    reload,
    onEvent(env) {
      const d = env.data || {};
      switch (env.type) {
        case 'message.received':
          if (d.message) touch(d.message.chatJid, d.message.timestamp, d.message.pushName, true);
          break;
        case 'message.sent':
          if (d.chatJid) touch(d.chatJid, d.timestamp, '', false);
          break;
        case 'session.history.sync':
          reload();
          break;
        default:
      }
    },
  };
}

function tsOf(ts) {
  if (ts == null) return 0;
  if (typeof ts === 'number') return ts < 1e12 ? ts * 1000 : ts;
  const t = Date.parse(ts);
  return Number.isNaN(t) ? 0 : t;
}

// normalize accepts both a stored message (id, direction, status) and a
// provider message from an event (fromMe, no status).
function normalize(m) {
  const out = m.direction ? m.direction === 'out' : !!m.fromMe;
  return {
    id: m.id || '',
    messageId: m.messageId || '',
    out,
    status: m.status || (out ? 'sent' : 'received'),
    type: m.type || 'text',
    content: m.content || {},
    pushName: m.pushName || '',
    timestamp: m.timestamp,
    error: m.error || '',
  };
}

async function openChat(box, id, jid, chatList) {
  const msgsPath = `/chats/${encodeURIComponent(jid)}/messages`;
  const list = h('div', { class: 'messages', id: 'messages', 'aria-live': 'polite' });
  const sentinel = h('div', { class: 'sentinel', id: 'older' });
  const scroller = h('div', { class: 'scroller', id: 'scroller' }, sentinel, list);
  const byId = new Map(); // wagate message id → element
  const byMsgId = new Map(); // WhatsApp message id → element
  // Events can outrun the HTTP answer that tells us a message's id:
  // remember what we heard and apply it when the element appears.
  const earlyById = new Map(); // id → {status, messageId, error}
  const earlyByMsgId = new Map(); // messageId → [statuses, in arrival order]
  let cursor = null;
  let loading = false;
  let done = false;

  const setStatus = (el, status, error) => {
    const cur = el.dataset.status;
    if (status === 'failed') {
      if (cur === 'delivered' || cur === 'read') return;
    } else if (RANK[status] === undefined || (RANK[cur] !== undefined && RANK[status] <= RANK[cur])) {
      return; // never move backwards when events arrive out of order
    }
    el.dataset.status = status;
    const tick = el.querySelector('.ticks');
    if (tick) {
      tick.textContent = TICKS[status] || '';
      tick.title = status + (error ? `: ${error}` : '');
    }
  };
  const index = (el, m) => {
    if (m.id) {
      el.dataset.id = m.id;
      byId.set(m.id, el);
      const early = earlyById.get(m.id);
      if (early) {
        earlyById.delete(m.id);
        if (early.messageId) m.messageId = early.messageId;
        setStatus(el, early.status, early.error);
      }
    }
    if (m.messageId) {
      const other = byMsgId.get(m.messageId);
      if (other && other !== el) other.remove(); // the same message seen through two events
      el.dataset.messageId = m.messageId;
      byMsgId.set(m.messageId, el);
      const early = earlyByMsgId.get(m.messageId);
      if (early) {
        earlyByMsgId.delete(m.messageId);
        early.forEach((status) => setStatus(el, status)); // in arrival order
      }
    }
  };
  const bubble = (raw) => {
    const m = normalize(raw);
    const el = h('div', { class: `msg ${m.out ? 'out' : 'in'}`, 'data-status': m.status },
      !m.out && m.pushName ? h('div', { class: 'who small' }, m.pushName) : null,
      contentOf(id, m),
      h('div', { class: 'meta' }, h('time', {}, time(m.timestamp)), m.out ? h('span', { class: 'ticks', title: m.status }, TICKS[m.status] || '') : null));
    index(el, m);
    if (m.status === 'failed') el.querySelector('.ticks').title = `failed${m.error ? `: ${m.error}` : ''}`;
    return el;
  };
  const known = (raw) => (raw.id && byId.has(raw.id)) || (raw.messageId && byMsgId.has(raw.messageId));
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const append = (raw) => {
    if (known(raw)) return null;
    const stick = nearBottom();
    const el = bubble(raw);
    list.append(el);
    if (stick || normalize(raw).out) scroller.scrollTop = scroller.scrollHeight;
    return el;
  };

  const loadOlder = async () => {
    if (loading || done) return;
    loading = true;
    sentinel.textContent = 'Loading…';
    try {
      const page = await api.get(`${msgsPath}${api.query({ sessionId: id, limit: PAGE, cursor })}`);
      const older = api.items(page).filter((m) => !known(m)).reverse(); // the API answers newest first
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      list.prepend(...older.map(bubble));
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
      cursor = page?.nextCursor || null;
      done = !cursor;
      sentinel.textContent = done && list.childElementCount ? 'Beginning of the chat' : '';
      scroller.classList.add('loaded');
    } catch (e) {
      sentinel.textContent = e.message;
    } finally {
      loading = false;
    }
  };

  const markRead = () => {
    if (document.visibilityState !== 'visible') return;
    api.request('POST', `/chats/${encodeURIComponent(jid)}/read${api.query({ sessionId: id })}`).catch(() => {});
  };

  const composer = composerForm(id, jid, (msg) => append(msg));

  replace(box,
    h('div', { class: 'chat-head' }, h('a', { class: 'back', href: `#/sessions/${encodeURIComponent(id)}/chats` }, '←'),
      h('strong', { id: 'chat-title' }, jidLabel(jid)), h('span', { class: 'muted small' }, jid)),
    scroller, composer);

  await loadOlder();
  scroller.scrollTop = scroller.scrollHeight;
  markRead();
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadOlder();
  }, { root: scroller, rootMargin: '200px 0px 0px 0px' });
  observer.observe(sentinel);

  return {
    close() { observer.disconnect(); },
    // catchUp fetches the newest page after a gap in the event stream.
    async catchUp() {
      try {
        const page = await api.get(`${msgsPath}${api.query({ sessionId: id, limit: PAGE })}`);
        for (const m of api.items(page).reverse()) {
          const el = (m.id && byId.get(m.id)) || (m.messageId && byMsgId.get(m.messageId));
          if (el) setStatus(el, m.status, m.error);
          else append(m);
        }
      } catch {
        // The next event or reconnect tries again.
      }
    },
    onEvent(env) {
      const d = env.data || {};
      // Outgoing-message events name their chat: ignore other chats' (and
      // so never remember their early statuses).
      if (env.type.startsWith('message.') && env.type !== 'message.received' && d.chatJid && d.chatJid !== jid) return;
      switch (env.type) {
        case 'message.received':
          if (d.message?.chatJid === jid && append(d.message)) markRead();
          break;
        case 'session.messages.upsert':
          for (const m of d.messages || []) if (m.chatJid === jid) append(m);
          break;
        case 'message.sent': {
          const el = byId.get(d.id);
          if (!el) {
            earlyById.set(d.id, { status: 'sent', messageId: d.messageId });
            break;
          }
          if (d.messageId) index(el, { messageId: d.messageId });
          setStatus(el, 'sent');
          break;
        }
        case 'message.failed': {
          const el = byId.get(d.id);
          if (el) setStatus(el, 'failed', d.error || d.reason);
          else earlyById.set(d.id, { status: 'failed', error: d.error || d.reason });
          break;
        }
        case 'message.status.updated':
          for (const mid of d.messageIds || []) {
            const el = byMsgId.get(mid);
            if (el) setStatus(el, d.status);
            else earlyByMsgId.set(mid, [...(earlyByMsgId.get(mid) || []), d.status]);
          }
          break;
        default:
      }
    },
  };
}

function contentOf(sessionId, m) {
  const c = m.content;
  switch (m.type) {
    case 'text':
      return h('div', { class: 'text' }, c.text || '');
    case 'image':
    case 'video':
    case 'sticker':
    case 'audio':
    case 'document': {
      const label = { image: 'Image', video: 'Video', sticker: 'Sticker', audio: c.voiceNote ? 'Voice note' : 'Audio', document: 'Document' }[m.type];
      return h('div', { class: 'text' },
        h('span', { class: 'media' }, `${label}${c.filename ? `: ${c.filename}` : ''}${c.size ? ` (${kb(c.size)})` : ''}`),
        m.id || m.messageId ? mediaButton(sessionId, m) : null,
        c.caption ? h('div', {}, c.caption) : null);
    }
    case 'location':
      return h('div', { class: 'text' }, h('span', { class: 'media' }, 'Location'), ` ${c.name || ''} ${c.latitude ?? ''}, ${c.longitude ?? ''}`);
    case 'contact':
      return h('div', { class: 'text' }, h('span', { class: 'media' }, 'Contact'), ` ${c.contactName || ''} ${c.contactPhone || ''}`);
    case 'reaction':
      return h('div', { class: 'text' }, `Reacted ${c.emoji || ''}`);
    default:
      return h('div', { class: 'text muted' }, c.text || `[${m.type} message]`);
  }
}

// mediaButton fetches a message's file with the tab's token: images are
// shown inline, other files are offered for download. Inbound media is
// fetched from WhatsApp on first request (503 media-pending: try again).
function mediaButton(sessionId, m) {
  const b = h('button', {
    type: 'button',
    class: 'small media-load',
    onclick: async () => {
      b.disabled = true;
      try {
        const res = await api.request('GET', `/sessions/${encodeURIComponent(sessionId)}/messages/${encodeURIComponent(m.id || m.messageId)}/media`, undefined, { raw: true });
        const url = URL.createObjectURL(await res.blob());
        b.replaceWith(m.type === 'image' || m.type === 'sticker'
          ? h('img', { src: url, alt: m.content.caption || 'image', class: 'media-img' })
          : h('a', { href: url, download: m.content.filename || 'file' }, 'Save file'));
      } catch (e) {
        b.disabled = false;
        toast(e.status === 503 ? 'The file is still on its way from WhatsApp: try again in a moment.' : e.message, e.status === 503 ? 'info' : 'error');
      }
    },
  }, m.type === 'image' || m.type === 'sticker' ? 'Show' : 'Download');
  return b;
}

function kb(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

// composerForm sends text, or one attached image or document (base64) with
// the text as its caption.
function composerForm(id, jid, onAccepted) {
  const file = h('input', { type: 'file', name: 'file', id: 'attach', class: 'visually-hidden', accept: 'image/*,application/pdf,.doc,.docx,.xls,.xlsx,.txt,.csv,.zip' });
  const chip = h('span', { class: 'chip', id: 'attachment', hidden: true });
  const text = h('input', { name: 'text', id: 'compose-text', autocomplete: 'off', placeholder: 'Type a message', 'aria-label': 'Message' });
  const form = h('form', { class: 'composer', id: 'composer' },
    h('label', { for: 'attach', class: 'button attach', title: 'Attach an image or document' }, '+'), file, chip, text,
    h('button', { type: 'submit', class: 'primary', id: 'send' }, 'Send'));
  file.addEventListener('change', () => {
    const f = file.files[0];
    chip.hidden = !f;
    chip.textContent = f ? `${f.name} (${kb(f.size)}) ×` : '';
  });
  chip.addEventListener('click', () => { file.value = ''; chip.hidden = true; });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = file.files[0];
    const t = text.value.trim();
    if (!t && !f) return;
    busy(form, async () => {
      const body = f ? await mediaBody(jid, f, t) : { to: jid, text: t };
      const msg = await api.post(`/sessions/${encodeURIComponent(id)}/messages`, body,
        { headers: { 'Idempotency-Key': crypto.randomUUID() } });
      text.value = '';
      file.value = '';
      chip.hidden = true;
      onAccepted({ chatJid: jid, direction: 'out', status: 'pending', timestamp: new Date().toISOString(), ...msg });
      text.focus();
    });
  });
  return form;
}

// mediaBody is the send request for a file: {to, image|document: {base64,
// mimetype, filename, caption}}. The data: URI prefix is accepted as is.
async function mediaBody(jid, f, caption) {
  const data = await new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(new Error(`could not read ${f.name}`));
    r.readAsDataURL(f);
  });
  const media = { base64: data, mimetype: f.type || 'application/octet-stream', filename: f.name };
  if (caption) media.caption = caption;
  return { to: jid, [f.type.startsWith('image/') ? 'image' : 'document']: media };
}
