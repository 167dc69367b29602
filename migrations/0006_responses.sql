-- Stored Responses API answers (`store: true`), so a follow-up can continue from one with
-- `previous_response_id` after a restart, and `GET/DELETE /v1/responses/{id}` work on them.
-- Written behind from memory (src/responses_store); pruned by age (RESPONSES_STORE_DAYS) and
-- total size (RESPONSES_STORE_MAX_MB), oldest first.
CREATE TABLE responses (
    id                TEXT PRIMARY KEY,
    created_at        INTEGER NOT NULL,   -- ms
    bytes             INTEGER NOT NULL CHECK (bytes >= 0),
    response_json     TEXT NOT NULL,      -- the response object as the client got it
    conversation_json TEXT NOT NULL,      -- every input item up to this response (earlier turns included)
    output_json       TEXT NOT NULL       -- its output items, thought signatures kept
) STRICT;
CREATE INDEX responses_created_at ON responses (created_at);
