-- Credentials of the official upstreams beside Code Assist OAuth (Gemini API keys, Vertex
-- service accounts and express keys), in the same table and the same pool. Existing rows are
-- Code Assist credentials.
ALTER TABLE credentials ADD COLUMN kind TEXT NOT NULL DEFAULT 'code_assist'
    CHECK (kind IN ('code_assist', 'gemini_api_key', 'vertex_service_account', 'vertex_express_key'));
-- The Google project a key's quota belongs to, as the operator names it: keys of one group share
-- cooldowns and daily exhaustion, because Google counts quota per project, not per key. NULL:
-- the credential is a group of its own.
ALTER TABLE credentials ADD COLUMN quota_group TEXT;
-- Models the credential serves, as discovered (GET /v1beta/models for a Gemini API key), a JSON
-- array of ids; NULL when unknown (the kind's default list applies).
ALTER TABLE credentials ADD COLUMN models_json TEXT CHECK (models_json IS NULL OR json_valid(models_json));
ALTER TABLE credentials ADD COLUMN models_checked_at INTEGER;
-- SHA-256 (hex) of what identifies the secret of a key or service account (the key itself, or
-- the account's e-mail and key id), for duplicate detection without reading payloads.
ALTER TABLE credentials ADD COLUMN secret_sha256 TEXT;
CREATE INDEX credentials_kind ON credentials (kind);
CREATE INDEX credentials_secret_sha256 ON credentials (secret_sha256);
