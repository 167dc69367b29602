-- PostgreSQL counterpart of ../0003_usage.sql.
DROP TABLE usage_minute;
DROP TABLE usage_daily;
DROP TABLE quota_windows;

CREATE TABLE usage_minute (
    bucket_start      BIGINT NOT NULL,
    credential_id     BIGINT NOT NULL,
    base_model        TEXT NOT NULL,
    requested_model   TEXT NOT NULL,
    surface           TEXT NOT NULL CHECK (surface IN ('openai', 'gemini')),
    stream            BIGINT NOT NULL CHECK (stream IN (0, 1)),
    outcome           TEXT NOT NULL,
    requests          BIGINT NOT NULL CHECK (requests >= 0),
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
    latency_ms_sum    BIGINT NOT NULL DEFAULT 0,
    ttfb_ms_sum       BIGINT NOT NULL DEFAULT 0,
    ttfb_count        BIGINT NOT NULL DEFAULT 0,
    retries           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_start, credential_id, base_model, requested_model, surface, stream, outcome)
);

CREATE TABLE usage_daily (
    day           TEXT NOT NULL,
    credential_id BIGINT NOT NULL,
    model         TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    calls         BIGINT NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (day, credential_id, model, outcome)
);
CREATE INDEX usage_daily_credential ON usage_daily (credential_id, day);

CREATE TABLE usage_daily_requests (
    day               TEXT NOT NULL,
    credential_id     BIGINT NOT NULL,
    model             TEXT NOT NULL,
    requests          BIGINT NOT NULL CHECK (requests >= 0),
    successes         BIGINT NOT NULL DEFAULT 0,
    failures          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, credential_id, model)
);

CREATE TABLE usage_counters (
    credential_id BIGINT NOT NULL,
    class         TEXT NOT NULL CHECK (class IN ('pro', 'flash', 'other')),
    outcome       TEXT NOT NULL,
    calls         BIGINT NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (credential_id, class, outcome)
);

CREATE TABLE quota_windows (
    credential_id BIGINT NOT NULL,
    class         TEXT NOT NULL CHECK (class IN ('pro', 'flash', 'other')),
    window_start  BIGINT NOT NULL,
    used          BIGINT NOT NULL CHECK (used >= 0),
    PRIMARY KEY (credential_id, class)
);
