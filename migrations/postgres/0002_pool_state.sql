-- PostgreSQL counterpart of ../0002_pool_state.sql.
ALTER TABLE credentials ADD COLUMN state_json TEXT
    CHECK (state_json IS NULL OR (state_json::jsonb) IS NOT NULL);

DROP TABLE cooldowns;
DROP TABLE credential_errors;
DROP TABLE model_capabilities;
