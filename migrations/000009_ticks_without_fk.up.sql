-- The sparkline's ticks no longer hold a foreign key to quotes; triggers on quotes do
-- what its cascades did. The key's check ran a query for every tick the WAL capture's
-- append inserts and locked the tick's quote FOR KEY SHARE until the append committed
-- (two WAL records per tick, which the WAL sender reads too), and a writer updating a
-- quote so locked had to make a MultiXact. (BENCHMARKS.md, "Sixth pass".)
--
-- What the key guaranteed, and how it is kept:
--   * a quote deleted, or its symbol changed: its ticks go, or follow it (triggers
--     below, run as the owner as the key's cascades were);
--   * TRUNCATE quotes empties price_ticks (the key made a TRUNCATE without CASCADE fail);
--   * no tick for a quote that does not exist: the append inserts ticks only for quotes
--     it sees (as it did), and a DELETE or a change of symbol first waits for an append
--     in flight to commit, so it sees (and removes or moves) the ticks that append
--     wrote; an append that starts later waits for the DELETE to commit and then no
--     longer sees the quote. The wait is a SHARE lock on capture_progress, the row every
--     append updates first thing and no one else writes: deletes do not wait for each
--     other, and under the trigger capture (no appends) nothing waits at all. (In a
--     REPEATABLE READ transaction the DELETE of the ticks cannot see an append that
--     committed after the transaction began: a tick it wrote may outlive its quote
--     until it is pruned with the log.)
ALTER TABLE price_ticks DROP CONSTRAINT price_ticks_symbol_fkey;

CREATE FUNCTION quotes_ticks_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE capture_progress IN SHARE MODE; -- an append in flight commits first
    IF TG_OP = 'DELETE' THEN
        DELETE FROM price_ticks WHERE symbol OPERATOR(pg_catalog.=) OLD.symbol;
    ELSE
        UPDATE price_ticks SET symbol = NEW.symbol WHERE symbol OPERATOR(pg_catalog.=) OLD.symbol;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER quotes_ticks_delete AFTER DELETE ON quotes
    FOR EACH ROW EXECUTE FUNCTION quotes_ticks_follow();
-- (UPDATE OF symbol: an UPDATE that does not name the column does not even test WHEN.)
CREATE TRIGGER quotes_ticks_rename AFTER UPDATE OF symbol ON quotes
    FOR EACH ROW WHEN (OLD.symbol IS DISTINCT FROM NEW.symbol) EXECUTE FUNCTION quotes_ticks_follow();

CREATE FUNCTION quotes_ticks_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE price_ticks;
    RETURN NULL;
END
$$;
CREATE TRIGGER quotes_ticks_truncate AFTER TRUNCATE ON quotes
    FOR EACH STATEMENT EXECUTE FUNCTION quotes_ticks_truncate();

-- As the key's cascades did, the triggers act as the owner (a writer may not write
-- price_ticks itself), with the search path pinned as the capture's functions are.
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['quotes_ticks_follow()', 'quotes_ticks_truncate()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
