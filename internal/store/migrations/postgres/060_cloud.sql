-- Cloud API provider (Meta's WhatsApp Cloud API).

-- cloud_sessions holds the credentials of each "cloud" session. The access
-- token and app secret are AES-256-GCM ciphertexts (key derived from
-- WAGATE_SECRET_KEY); the verify token is kept only as an HMAC, enough to
-- answer Meta's webhook verification handshake. phone_number_id routes
-- webhook deliveries to their session.
CREATE TABLE cloud_sessions (
    session_id       TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    phone_number_id  TEXT NOT NULL,
    access_token     TEXT NOT NULL,
    app_secret       TEXT NOT NULL,
    verify_token_mac TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX cloud_sessions_phone ON cloud_sessions (phone_number_id);
CREATE INDEX cloud_sessions_verify ON cloud_sessions (verify_token_mac);

-- cloud_webhook_seen remembers the webhook items (messages by WhatsApp id,
-- statuses by id and status) each session already accepted, so a delivery
-- Meta repeats changes nothing twice. Rows expire after a few weeks.
CREATE TABLE cloud_webhook_seen (
    session_id TEXT NOT NULL,
    item_key   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, item_key)
);
CREATE INDEX cloud_webhook_seen_age ON cloud_webhook_seen (created_at);

-- cloud_inbox holds accepted webhook payloads on the worker until the
-- session's client hands them to the session (at once when it runs, else
-- when it next connects).
CREATE TABLE cloud_inbox (
    seq        BIGSERIAL PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX cloud_inbox_session ON cloud_inbox (session_id, seq);

-- cloud_media maps inbound media messages to the Cloud API media id their
-- bytes are downloaded with.
CREATE TABLE cloud_media (
    session_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    media_id   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, message_id)
);
