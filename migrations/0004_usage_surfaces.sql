-- 0003 limited usage_minute.surface to ('openai', 'gemini') with a CHECK. The Anthropic surface
-- (and every surface added later) failed that check, and because a flush is one transaction, one
-- such row kept the whole batch out of the database. The surface is now validated in Rust, where
-- the one `usage::Surface` enum lists them all; SQLite cannot drop a CHECK, so the table is
-- rebuilt with the same columns, key and rows.
CREATE TABLE usage_minute_new (
    bucket_start      INTEGER NOT NULL,
    credential_id     INTEGER NOT NULL,
    base_model        TEXT NOT NULL,
    requested_model   TEXT NOT NULL,
    surface           TEXT NOT NULL,
    stream            INTEGER NOT NULL CHECK (stream IN (0, 1)),
    outcome           TEXT NOT NULL,
    requests          INTEGER NOT NULL CHECK (requests >= 0),
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    latency_ms_sum    INTEGER NOT NULL DEFAULT 0,
    ttfb_ms_sum       INTEGER NOT NULL DEFAULT 0,
    ttfb_count        INTEGER NOT NULL DEFAULT 0,
    retries           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_start, credential_id, base_model, requested_model, surface, stream, outcome)
) STRICT, WITHOUT ROWID;
INSERT INTO usage_minute_new SELECT * FROM usage_minute;
DROP TABLE usage_minute;
ALTER TABLE usage_minute_new RENAME TO usage_minute;
