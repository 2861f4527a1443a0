-- Every event the capture appends pays for what the log checks and indexes; two of
-- those cost more than they had to.
--
-- The log's index on created_at goes. Every event paid an index insert and a WAL
-- record for it (which the WAL sender then reads too: one record in three of a
-- 200-row writer's change), and its one use was pruning: "the newest event older than
-- the retention". Pruning now walks the log in id order (its primary key) from the
-- front and stops at the first event that is not old enough, reading what it is
-- about to delete and at most one read (10,000 events) past it. (Ids follow commit
-- order, and so, nearly, do the times: where they do not, pruning stops at the first
-- younger event, so no event younger than the retention is ever cut.)
DROP INDEX events_created_at;

-- events_name_format says the same in a form Postgres checks five times faster: its
-- regular expression's bounded repeat ({0,31}) cost ~1 µs per event, the unbounded
-- one and a length ~0.2 µs (BENCHMARKS.md, "Sixth pass"). Every name the old rule
-- took it takes, and no other: a letter a-z, then up to 31 of a-z, 0-9, _ and -.
ALTER TABLE events DROP CONSTRAINT events_name_format,
    ADD CONSTRAINT events_name_format CHECK (event ~ '^[a-z][a-z0-9_-]*$' AND char_length(event) <= 32);
