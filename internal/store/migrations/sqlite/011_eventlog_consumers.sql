-- Embedded-log consumer groups: one cursor per subscriber, held by one
-- consumer at a time through a lease. SQLite has one writer and wagate's
-- transactions begin IMMEDIATE, so seq order is commit order and the cursor
-- is the last handled seq (tx_id stays 0).
CREATE TABLE consumer_cursors (
    subscriber  TEXT PRIMARY KEY,
    stream      TEXT NOT NULL,
    tx_id       BIGINT NOT NULL DEFAULT 0,
    seq         BIGINT NOT NULL DEFAULT 0,
    owner       TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL
);

-- Entries a subscriber gave up on after its last attempt. Replay asks the
-- subscriber's consumers to handle the envelope again.
CREATE TABLE dead_letters (
    id                  TEXT PRIMARY KEY,
    subscriber          TEXT NOT NULL,
    stream              TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    event_type          TEXT NOT NULL,
    tenant_id           TEXT NOT NULL,
    envelope            TEXT NOT NULL,
    trace_parent        TEXT NOT NULL DEFAULT '',
    error               TEXT NOT NULL,
    attempts            INTEGER NOT NULL,
    failed_at           BIGINT NOT NULL,
    replay_requested_at BIGINT,
    replayed_at         BIGINT,
    UNIQUE (subscriber, event_id)
);
CREATE INDEX dead_letters_replay ON dead_letters (replay_requested_at) WHERE replay_requested_at IS NOT NULL;
