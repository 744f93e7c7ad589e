-- Messaging: message history, chat summaries, send bookkeeping, idempotency
-- keys, media bytes and receipts that arrived before their message.

-- session_messages is every message of every chat, both directions. Inbound
-- and history rows are keyed naturally by WhatsApp's id (the unique index);
-- outgoing rows exist from the moment the API accepted them, before WhatsApp
-- gave them an id (message_id NULL until sent).
CREATE TABLE session_messages (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    chat_jid        TEXT NOT NULL,
    message_id      TEXT,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    -- status_rank orders statuses (pending/failed/received 0, sent 1,
    -- delivered 2, read 3) so receipts only ever move a message forward.
    status_rank     INTEGER NOT NULL DEFAULT 0,
    type            TEXT NOT NULL,
    content         TEXT NOT NULL,
    -- media_key is the provider's opaque download data; never shown.
    media_key       TEXT NOT NULL DEFAULT '',
    sender_jid      TEXT NOT NULL DEFAULT '',
    push_name       TEXT NOT NULL DEFAULT '',
    ts              BIGINT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    -- revision counts re-reports of the same message; 0 after the insert,
    -- which is how a live upsert knows it created the row (unread counts).
    revision        INTEGER NOT NULL DEFAULT 0,
    -- Send bookkeeping of outgoing messages: send_state is waiting (until
    -- next_attempt_at), sending (claimed by a worker until claim_until,
    -- handed to the provider at handed_at) or done.
    send_state      TEXT NOT NULL DEFAULT '',
    send_attempts   INTEGER NOT NULL DEFAULT 0,
    handed_at       BIGINT NOT NULL DEFAULT 0,
    claim_until     BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    -- send_error: why the last attempt did not send (the failure reason if
    -- the message times out waiting).
    send_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
-- message_id leads chat_jid so the same index finds a message by WhatsApp id
-- alone (receipts, GET by messageId); ON CONFLICT ignores column order.
CREATE UNIQUE INDEX session_messages_wa_id ON session_messages (tenant_id, session_id, message_id, chat_jid);
CREATE INDEX session_messages_history ON session_messages (tenant_id, session_id, chat_jid, ts, id);
-- Only unsent outgoing messages are in this index, so the worker's scans for
-- parked and stale sends stay tiny whatever the history size.
CREATE INDEX session_messages_unsent ON session_messages (tenant_id, session_id, created_at) WHERE send_state IN ('waiting', 'sending');

-- session_chats is one summary row per chat.
CREATE TABLE session_chats (
    tenant_id       TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    chat_jid        TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    last_message_id TEXT NOT NULL DEFAULT '',
    last_message_ts BIGINT NOT NULL DEFAULT 0,
    unread_count    INTEGER NOT NULL DEFAULT 0,
    -- read_through_ts: inbound messages at or before it are read; a late
    -- redelivery of an older message never counts as unread again.
    read_through_ts BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, chat_jid)
);
CREATE INDEX session_chats_recent ON session_chats (tenant_id, session_id, last_message_ts, chat_jid);

-- idempotency_keys remembers an Idempotency-Key for 24 hours: the hash of
-- the request it came with and the message it created.
CREATE TABLE idempotency_keys (
    tenant_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- message_media holds media bytes: outgoing media given as base64 or
-- fetched from its URL (so they never travel inside an outbox row), and
-- inbound media downloaded by the worker on first request. state is ready,
-- requested or failed.
CREATE TABLE message_media (
    message_id TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    state      TEXT NOT NULL,
    mimetype   TEXT NOT NULL DEFAULT '',
    size       BIGINT NOT NULL DEFAULT 0,
    data       BYTEA,
    error      TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- message_receipts keeps delivery/read receipts whose message has no
-- WhatsApp id in session_messages yet (the receipt overtook message.sent);
-- they are folded into the message when it gets its id.
CREATE TABLE message_receipts (
    tenant_id   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    chat_jid    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, message_id)
);
CREATE INDEX message_receipts_age ON message_receipts (created_at);
