-- The transactional outbox; outbox-dispatcher moves pending rows to Redis Streams.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    stream       TEXT NOT NULL,
    type         TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    session_id   TEXT NOT NULL DEFAULT '',
    occurred_at  BIGINT NOT NULL,
    data         TEXT NOT NULL,
    trace_parent TEXT NOT NULL DEFAULT '',
    published_at BIGINT,
    -- The writing transaction, so a cursor-based reader can hold back rows
    -- of transactions still in flight (late commits are never skipped).
    tx_id        xid8 NOT NULL DEFAULT pg_current_xact_id()
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
