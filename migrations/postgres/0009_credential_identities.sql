-- PostgreSQL counterpart of ../0009_credential_identities.sql.
CREATE TABLE credential_identities (
    identity      TEXT NOT NULL,
    credential_id BIGINT NOT NULL,
    PRIMARY KEY (identity, credential_id)
);

INSERT INTO credential_identities (identity, credential_id)
    SELECT 'secret:' || secret_sha256, id FROM credentials WHERE secret_sha256 IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO credential_identities (identity, credential_id)
    SELECT 'refresh:' || refresh_token_sha256, id FROM credentials
    WHERE kind = 'code_assist' AND refresh_token_sha256 IS NOT NULL AND refresh_token_sha256 <> ''
    ON CONFLICT DO NOTHING;
INSERT INTO credential_identities (identity, credential_id)
    SELECT 'account:' || lower(email) || '/' || project_id, id FROM credentials
    WHERE kind = 'code_assist' AND email IS NOT NULL AND project_id IS NOT NULL
    ON CONFLICT DO NOTHING;
