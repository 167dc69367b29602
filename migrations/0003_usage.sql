-- Usage accounting (src/usage). The 0001 usage tables were placeholders that no code ever wrote,
-- so they are dropped and recreated (same names where the role is the same) rather than altered
-- column by column. `quota_limits` from 0001 is kept as is: its foreign
-- key drops a credential's overrides with the credential, which is what we want.
-- No usage table has a foreign key: history outlives a deleted credential.
DROP TABLE usage_minute;
DROP TABLE usage_daily;
DROP TABLE quota_windows;

-- Client requests, aggregated per minute rather than one row per request (per-row inserts cost
-- several times more rows and bytes at realistic traffic; see src/usage/mod.rs). Pruned after 48 h.
CREATE TABLE usage_minute (
    bucket_start      INTEGER NOT NULL,            -- ms, a multiple of 60 000
    credential_id     INTEGER NOT NULL,            -- 0: no credential served the request
    base_model        TEXT NOT NULL,
    requested_model   TEXT NOT NULL,
    surface           TEXT NOT NULL CHECK (surface IN ('openai', 'gemini')),
    stream            INTEGER NOT NULL CHECK (stream IN (0, 1)),
    outcome           TEXT NOT NULL,               -- success | upstream_<code> | client_<code> | transport
    requests          INTEGER NOT NULL CHECK (requests >= 0),
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    latency_ms_sum    INTEGER NOT NULL DEFAULT 0,
    ttfb_ms_sum       INTEGER NOT NULL DEFAULT 0,
    ttfb_count        INTEGER NOT NULL DEFAULT 0,  -- requests that had a first byte, for the mean
    retries           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_start, credential_id, base_model, requested_model, surface, stream, outcome)
) STRICT, WITHOUT ROWID;

-- Upstream calls (one per attempt) per quota day and model. `day` is the local date, in
-- QUOTA_RESET_TIMEZONE, on which the quota window started; rows older than the retention are
-- folded into day = 'total', so the table stays bounded.
CREATE TABLE usage_daily (
    day           TEXT NOT NULL,
    credential_id INTEGER NOT NULL,
    model         TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    calls         INTEGER NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (day, credential_id, model, outcome)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_daily_credential ON usage_daily (credential_id, day);

-- Client requests per quota day, with tokens; same day keys and roll-up as usage_daily.
CREATE TABLE usage_daily_requests (
    day               TEXT NOT NULL,
    credential_id     INTEGER NOT NULL,            -- 0: no credential served the request
    model             TEXT NOT NULL,               -- base model
    requests          INTEGER NOT NULL CHECK (requests >= 0),
    successes         INTEGER NOT NULL DEFAULT 0,
    failures          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, credential_id, model)
) STRICT, WITHOUT ROWID;

-- Per-credential call counters since the last manual reset, written as absolute values.
CREATE TABLE usage_counters (
    credential_id INTEGER NOT NULL,
    class         TEXT NOT NULL CHECK (class IN ('pro', 'flash', 'other')),
    outcome       TEXT NOT NULL,
    calls         INTEGER NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (credential_id, class, outcome)
) STRICT, WITHOUT ROWID;

-- The current daily window's use per credential and class; a row whose window_start is not the
-- current window's is stale and reads as zero. One row per (credential, class): bounded.
CREATE TABLE quota_windows (
    credential_id INTEGER NOT NULL,
    class         TEXT NOT NULL CHECK (class IN ('pro', 'flash', 'other')),
    window_start  INTEGER NOT NULL,                -- ms
    used          INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (credential_id, class)
) STRICT, WITHOUT ROWID;
