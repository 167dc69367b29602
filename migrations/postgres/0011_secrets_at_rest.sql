-- PostgreSQL counterpart of ../0011_secrets_at_rest.sql.
CREATE TABLE secrets_at_rest (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    key_check  TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
