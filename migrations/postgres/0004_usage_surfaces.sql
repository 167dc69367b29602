-- PostgreSQL counterpart of ../0004_usage_surfaces.sql: the surface is validated in Rust, so the
-- CHECK goes. PostgreSQL can drop a constraint in place; SQLite had to rebuild the table.
ALTER TABLE usage_minute DROP CONSTRAINT usage_minute_surface_check;
