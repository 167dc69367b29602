-- The audit log records where a change came from (the client address) and is read with filters
-- on action and actor, newest first. The table stays append-only: nothing purges it.
ALTER TABLE audit_events ADD COLUMN origin TEXT;
CREATE INDEX audit_events_kind ON audit_events (kind, id);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
