-- PostgreSQL counterpart of ../0005_credential_kinds.sql.
ALTER TABLE credentials ADD COLUMN kind TEXT NOT NULL DEFAULT 'code_assist'
    CHECK (kind IN ('code_assist', 'gemini_api_key', 'vertex_service_account', 'vertex_express_key'));
ALTER TABLE credentials ADD COLUMN quota_group TEXT;
ALTER TABLE credentials ADD COLUMN models_json TEXT
    CHECK (models_json IS NULL OR (models_json::jsonb) IS NOT NULL);
ALTER TABLE credentials ADD COLUMN models_checked_at BIGINT;
ALTER TABLE credentials ADD COLUMN secret_sha256 TEXT;
CREATE INDEX credentials_kind ON credentials (kind);
CREATE INDEX credentials_secret_sha256 ON credentials (secret_sha256);
