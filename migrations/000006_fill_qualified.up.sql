-- The board's fill triggers on quotes and market run once for every row a writer
-- changes. 000002 and 000003 pinned their search_path with a SET clause, and a
-- function with a SET clause makes Postgres save, set and restore the setting (and
-- recompute the search path) around every call: a writer updating 200 quotes a
-- transaction ran about a quarter slower with the clause than without it
-- (BENCHMARKS.md, "Third pass"). The same guarantee — a session's search_path cannot
-- change what a trigger calls — now comes from naming every function and operator
-- with its schema, so the clause goes. What the triggers do is unchanged.
-- (games_fill and the scores triggers keep their pinned search_path: they run a few
-- times a second, and they use operators and tables that cannot all be named so.)

CREATE OR REPLACE FUNCTION quotes_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := pg_catalog.clock_timestamp();
    IF NEW.price IS NULL OR NEW.price OPERATOR(pg_catalog.<=) 0 OR NEW.price OPERATOR(pg_catalog.=) 'NaN' THEN
        RETURN NEW; -- let quotes_price_positive / quotes_price_finite name the problem
    END IF;
    -- (coalesce, greatest and least are part of SQL's grammar, not functions looked up by name)
    NEW.prev_close := coalesce(NEW.prev_close, NEW.price);
    NEW.day_open := coalesce(NEW.day_open, NEW.price);
    NEW.day_high := greatest(coalesce(NEW.day_high, NEW.price), NEW.price);
    NEW.day_low := least(coalesce(NEW.day_low, NEW.price), NEW.price);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION market_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := pg_catalog.clock_timestamp();
    RETURN NEW;
END
$$;
