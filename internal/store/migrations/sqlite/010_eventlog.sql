-- The transactional outbox. In embedded mode it is also the event log that
-- consumer groups read through their cursors (seq order = commit order,
-- because SQLite has a single writer).
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    stream       TEXT NOT NULL,
    type         TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    session_id   TEXT NOT NULL DEFAULT '',
    occurred_at  BIGINT NOT NULL,
    data         TEXT NOT NULL,
    trace_parent TEXT NOT NULL DEFAULT '',
    published_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_stream_seq ON outbox (stream, seq);

-- Idempotency records: a subscriber's writes and this row commit together.
CREATE TABLE processed_events (
    subscriber   TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);
