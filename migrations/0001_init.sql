-- Initial schema. Forward only: never edit a migration that has shipped, add 0002_*.sql instead.
-- Every timestamp is INTEGER Unix time in milliseconds (UTC), so cooldowns shorter than a second
-- and ordering of events inside one second both work with plain integer comparison.

-- Values saved through the management API, one JSON document per key. Env and config-file values
-- are never written here: they are resolved at startup and lock the key.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value_json TEXT NOT NULL CHECK (json_valid(value_json)),
    updated_at INTEGER NOT NULL
) STRICT;

-- Password hashes (argon2id PHC strings). Plaintext passwords are never stored.
CREATE TABLE secrets (
    name        TEXT PRIMARY KEY NOT NULL,
    argon2_hash TEXT NOT NULL CHECK (argon2_hash LIKE '$argon2id$%'),
    updated_at  INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT so that an id is never reused: usage history keeps the ids of deleted credentials
-- and must not be attributed to a newcomer.
CREATE TABLE credentials (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT NOT NULL UNIQUE,
    source               TEXT NOT NULL CHECK (source IN ('upload', 'env', 'oauth', 'dir', 'demo')),
    -- client_id, client_secret, refresh_token, access_token, expiry, token_uri, scopes, ...
    payload_json         TEXT NOT NULL CHECK (json_valid(payload_json)),
    email                TEXT,
    project_id           TEXT,
    tier                 TEXT,
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    disabled_reason      TEXT,
    ban_reason           TEXT,
    ban_link             TEXT,
    preview_ok           INTEGER CHECK (preview_ok IN (0, 1)),
    refresh_token_sha256 TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    last_success_at      INTEGER,
    last_used_at         INTEGER
) STRICT;
CREATE INDEX credentials_refresh_token_sha256 ON credentials (refresh_token_sha256);
CREATE INDEX credentials_email ON credentials (email);

-- Error counters per credential and HTTP status, replacing the reference's overwritten JSON blob.
CREATE TABLE credential_errors (
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    code          INTEGER NOT NULL,
    count         INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
    last_message  TEXT,
    last_at       INTEGER NOT NULL,
    PRIMARY KEY (credential_id, code)
) STRICT, WITHOUT ROWID;

-- Per-(credential, model) cooldowns; rows whose until_ts has passed are dead and may be pruned.
CREATE TABLE cooldowns (
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    model         TEXT NOT NULL,
    until_ts      INTEGER NOT NULL,
    reason        TEXT,
    PRIMARY KEY (credential_id, model)
) STRICT, WITHOUT ROWID;
CREATE INDEX cooldowns_until ON cooldowns (until_ts);

-- Models a credential cannot serve (e.g. preview models answering 404), with the reason shown in the panel.
CREATE TABLE model_capabilities (
    credential_id      INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    model              TEXT NOT NULL,
    unavailable_reason TEXT NOT NULL,
    checked_at         INTEGER NOT NULL,
    PRIMARY KEY (credential_id, model)
) STRICT, WITHOUT ROWID;

-- Usage tables carry no foreign key on purpose: history outlives a deleted credential.
CREATE TABLE usage_minute (
    bucket_start      INTEGER NOT NULL,
    credential_id     INTEGER NOT NULL,
    model             TEXT NOT NULL,
    surface           TEXT NOT NULL,
    stream            INTEGER NOT NULL CHECK (stream IN (0, 1)),
    outcome           TEXT NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    latency_ms_sum    INTEGER NOT NULL DEFAULT 0,
    ttfb_ms_sum       INTEGER NOT NULL DEFAULT 0,
    retries           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_start, credential_id, model, surface, stream, outcome)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_minute_credential ON usage_minute (credential_id, bucket_start);

-- `day` is the quota day (YYYY-MM-DD) in QUOTA_RESET_TIMEZONE shifted by QUOTA_RESET_HOUR.
CREATE TABLE usage_daily (
    day           TEXT NOT NULL,
    credential_id INTEGER NOT NULL,
    model_class   TEXT NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    successes     INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, credential_id, model_class)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_daily_credential ON usage_daily (credential_id, day);

CREATE TABLE quota_windows (
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    window_start  INTEGER NOT NULL,
    class         TEXT NOT NULL,
    used          INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (credential_id, window_start, class)
) STRICT, WITHOUT ROWID;

-- credential_id NULL = the global default for that class.
CREATE TABLE quota_limits (
    credential_id INTEGER REFERENCES credentials (id) ON DELETE CASCADE,
    class         TEXT NOT NULL,
    daily_limit   INTEGER NOT NULL CHECK (daily_limit >= 0)
) STRICT;
-- NULLs are distinct in a plain UNIQUE index; ids start at 1, so 0 stands for "global".
CREATE UNIQUE INDEX quota_limits_unique ON quota_limits (ifnull(credential_id, 0), class);

-- Who did what: bans, setting and password changes, credential imports and deletions.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    subject     TEXT,
    detail_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail_json))
) STRICT;
CREATE INDEX audit_events_at ON audit_events (at);
