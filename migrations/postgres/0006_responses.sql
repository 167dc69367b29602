-- PostgreSQL counterpart of ../0006_responses.sql.
CREATE TABLE responses (
    id                TEXT PRIMARY KEY,
    created_at        BIGINT NOT NULL,
    bytes             BIGINT NOT NULL CHECK (bytes >= 0),
    response_json     TEXT NOT NULL,
    conversation_json TEXT NOT NULL,
    output_json       TEXT NOT NULL
);
CREATE INDEX responses_created_at ON responses (created_at);
