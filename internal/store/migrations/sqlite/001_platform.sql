-- Settings the process keeps across restarts (e.g. the generated JWT signing key).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
