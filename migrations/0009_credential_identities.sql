-- What a credential is apart from its row id: the account plus project of a Code Assist
-- credential (and its refresh token's hash, until the account is known), the hash of a key or
-- a service account's key. Usage is carried over by it: deleting a credential and importing
-- it again gets a new id, and the new row takes over today's counts of the old one, so a
-- re-import cannot reset the daily limit. No foreign key on purpose: the link outlives the
-- deleted row, as usage history does.
CREATE TABLE credential_identities (
    identity      TEXT NOT NULL,
    credential_id INTEGER NOT NULL,
    PRIMARY KEY (identity, credential_id)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO credential_identities (identity, credential_id)
    SELECT 'secret:' || secret_sha256, id FROM credentials WHERE secret_sha256 IS NOT NULL;
INSERT OR IGNORE INTO credential_identities (identity, credential_id)
    SELECT 'refresh:' || refresh_token_sha256, id FROM credentials
    WHERE kind = 'code_assist' AND refresh_token_sha256 IS NOT NULL AND refresh_token_sha256 <> '';
INSERT OR IGNORE INTO credential_identities (identity, credential_id)
    SELECT 'account:' || lower(email) || '/' || project_id, id FROM credentials
    WHERE kind = 'code_assist' AND email IS NOT NULL AND project_id IS NOT NULL;
