ALTER TABLE events DROP CONSTRAINT events_name_format,
    ADD CONSTRAINT events_name_format CHECK (event ~ '^[a-z][a-z0-9_-]{0,31}$');
CREATE INDEX events_created_at ON events (created_at);
