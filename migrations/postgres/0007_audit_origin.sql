-- PostgreSQL counterpart of ../0007_audit_origin.sql.
ALTER TABLE audit_events ADD COLUMN origin TEXT;
CREATE INDEX audit_events_kind ON audit_events (kind, id);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
