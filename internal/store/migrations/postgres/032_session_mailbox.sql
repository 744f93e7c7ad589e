-- Commands forwarded to the worker that owns their session: a worker that
-- receives a command for a session another live worker runs parks it here,
-- and the owner executes it (see session.Manager.Routed).
CREATE TABLE session_mailbox (
    seq          BIGSERIAL PRIMARY KEY,
    subscriber   TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    envelope     TEXT NOT NULL,
    trace_parent TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);
CREATE INDEX session_mailbox_session ON session_mailbox (session_id, seq);
