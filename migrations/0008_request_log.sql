-- The request log (src/reqlog): one row per proxied client request, the same facts as the access
-- log line plus the upstream error reason. Rows are queued in memory on the request path and
-- written in batches by a background task; a background purge keeps them within
-- REQUEST_LOG_DAYS and REQUEST_LOG_MAX_ROWS. No foreign key: a row outlives its credential.
CREATE TABLE request_log (
    id                INTEGER PRIMARY KEY,
    at                INTEGER NOT NULL,            -- ms, when the request ended
    surface           TEXT NOT NULL,               -- openai | gemini | anthropic | responses
    stream            INTEGER NOT NULL CHECK (stream IN (0, 1)),
    client_model      TEXT NOT NULL,
    served_model      TEXT NOT NULL,
    credential_id     INTEGER,                     -- NULL: no credential served it
    status            INTEGER NOT NULL,            -- HTTP status the client got
    outcome           TEXT NOT NULL,               -- success | upstream_<code> | client_<code> | transport
    latency_ms        INTEGER NOT NULL CHECK (latency_ms >= 0),
    ttfb_ms           INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    client            TEXT NOT NULL DEFAULT '',    -- client address, as in the access log
    error             TEXT,                        -- the error reason, bounded; NULL on success
    prompt_excerpt    TEXT                         -- only with REQUEST_LOG_PROMPTS on; bounded
) STRICT;
CREATE INDEX request_log_at ON request_log (at);
CREATE INDEX request_log_credential ON request_log (credential_id, at);
