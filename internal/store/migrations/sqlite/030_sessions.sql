-- WhatsApp sessions (one linked device each). want_running is the user's
-- intent (start/stop); status and disconnect_reason are what the worker saw.
-- The current QR code is kept here so GET /sessions/{id}/qr can answer from
-- any API process.
CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    name              TEXT NOT NULL DEFAULT '',
    provider          TEXT NOT NULL,
    status            TEXT NOT NULL,
    phone             TEXT NOT NULL DEFAULT '',
    disconnect_reason TEXT NOT NULL DEFAULT '',
    qr                TEXT NOT NULL DEFAULT '',
    qr_expires_at     BIGINT NOT NULL DEFAULT 0,
    want_running      INTEGER NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    deleted_at        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_tenant ON sessions (tenant_id, id);
CREATE INDEX sessions_want_running ON sessions (want_running) WHERE deleted_at = 0;

-- Pairing-code requests: the API writes one with the command and waits for
-- the worker to fill in code or error.
CREATE TABLE session_pair_requests (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    phone      TEXT NOT NULL,
    code       TEXT NOT NULL DEFAULT '',
    error      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX session_pair_requests_created ON session_pair_requests (created_at);

-- Ownership: the worker running a session holds its lease and renews it
-- while alive, so two workers never open the same WhatsApp device.
CREATE TABLE session_leases (
    session_id TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX session_leases_owner ON session_leases (owner);

-- The provider's device behind a session (whatsmeow: the device JID in the
-- whatsmeow_* tables; simulator: the linked phone's JID).
CREATE TABLE session_devices (
    session_id TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    jid        TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
