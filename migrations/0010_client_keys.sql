-- Client API keys (src/keys): named keys with their own limits, besides the built-in
-- API_PASSWORD key. Only a keyed hash of each secret is stored: HMAC-SHA256 under the server
-- key below. The secrets are 32 random bytes, so a fast keyed hash is as strong as a slow
-- one, and checking a key costs one HMAC instead of an argon2 run.
-- AUTOINCREMENT so that an id is never reused: usage history keeps the ids of deleted keys.
CREATE TABLE client_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    -- The first characters of the secret, shown in lists so a key can be recognised; also
    -- the lookup key (the rest of the secret is checked against the hash).
    prefix         TEXT NOT NULL UNIQUE,
    secret_hash    BLOB NOT NULL CHECK (length(secret_hash) = 32),
    note           TEXT NOT NULL DEFAULT '',
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    expires_at     INTEGER,                     -- ms; NULL: never
    models         TEXT NOT NULL DEFAULT '[]',  -- JSON array of model patterns; empty: all
    kinds          TEXT NOT NULL DEFAULT '[]',  -- JSON array of credential kinds; empty: all
    daily_requests INTEGER NOT NULL DEFAULT 0 CHECK (daily_requests >= 0),  -- 0: no limit
    daily_tokens   INTEGER NOT NULL DEFAULT 0 CHECK (daily_tokens >= 0),
    rpm            INTEGER NOT NULL DEFAULT 0 CHECK (rpm >= 0),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

-- The server key of the keyed hash: one row, made at first start.
CREATE TABLE client_key_server_secret (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL CHECK (length(key) = 32)
) STRICT;

-- Client requests per quota day, key and base model, with tokens: the per-key side of
-- usage_daily_requests (same day keys). key_id 0 is the built-in API_PASSWORD key. No
-- foreign key: history outlives a deleted key. Today's rows also give the daily limits
-- their starting point after a restart.
CREATE TABLE usage_key_daily (
    day               TEXT NOT NULL,
    key_id            INTEGER NOT NULL,
    model             TEXT NOT NULL,
    requests          INTEGER NOT NULL CHECK (requests >= 0),
    successes         INTEGER NOT NULL DEFAULT 0,
    failures          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, key_id, model)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_key_daily_key ON usage_key_daily (key_id, day);
