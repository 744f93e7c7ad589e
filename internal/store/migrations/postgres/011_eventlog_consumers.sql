-- Embedded-log consumer groups: one cursor per subscriber, held by one
-- consumer at a time through a lease. On PostgreSQL the cursor is the pair
-- (tx_id, seq): rows are read in that order and only below the snapshot's
-- xmin, so a transaction that commits late can never be skipped.
CREATE TABLE consumer_cursors (
    subscriber  TEXT PRIMARY KEY,
    stream      TEXT NOT NULL,
    tx_id       BIGINT NOT NULL DEFAULT 0,
    seq         BIGINT NOT NULL DEFAULT 0,
    owner       TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX outbox_stream_tx_seq ON outbox (stream, tx_id, seq);

-- Entries a subscriber gave up on after its last attempt (embedded mode, or
-- distributed mode when the DLQ stream could not be written). Replay asks
-- the subscriber's consumers to handle the envelope again.
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

-- Wake dispatchers and embedded consumers as soon as outbox rows commit
-- (notifications are delivered at commit; one per statement is enough).
CREATE FUNCTION wagate_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wagate_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION wagate_outbox_notify();
