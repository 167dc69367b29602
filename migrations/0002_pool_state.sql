-- The pool's per-credential state (cooldowns per model, ban, "unable" models, error history,
-- activity counters) is one JSON document written in the same transaction as the indexed columns
-- it mirrors (enabled, ban_reason, email, ...). One document per credential keeps a restart
-- exact: the pool is rebuilt from these rows and picks as it did before.
ALTER TABLE credentials ADD COLUMN state_json TEXT CHECK (state_json IS NULL OR json_valid(state_json));

-- Superseded by state_json; they were never written.
DROP TABLE cooldowns;
DROP TABLE credential_errors;
DROP TABLE model_capabilities;
