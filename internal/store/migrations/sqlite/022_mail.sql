-- Mail waiting to be sent. A row is written in the same transaction as the
-- state change that asks for it; a "mail.requested" command on the
-- mail-commands stream (carrying only the row id) wakes the mail subscriber.
-- token is the one-time token the mail's link carries: it never enters the
-- event log, and it is erased as soon as the mail has been handed to SMTP.
CREATE TABLE outgoing_mail (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    token      TEXT,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT
);
CREATE INDEX outgoing_mail_tenant ON outgoing_mail (tenant_id, created_at);
