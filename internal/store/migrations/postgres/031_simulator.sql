-- Inbound messages the simulator holds for a session until it is connected.
CREATE TABLE simulator_inbox (
    seq        BIGSERIAL PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    message    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (session_id, message_id)
);
