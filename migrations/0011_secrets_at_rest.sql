-- Encryption of credential secrets at rest. One row once a key has been used: a known text
-- sealed with that key, so a start with a different key, or with none, is refused before
-- anything is read or written. Absent: the secrets are stored in plain text.
CREATE TABLE secrets_at_rest (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key_check  TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
