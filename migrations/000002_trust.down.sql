-- Back to 000001's capture: triggers with the writer's rights and search_path, ids
-- from the sequence, no CHECKs on the log. The role tickerboard_writer stays (other
-- databases of the server may use it); it loses its rights in this database.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickerboard_writer') THEN
        REVOKE ALL ON quotes, games, scores, price_ticks, events, events_pruned FROM tickerboard_writer;
        REVOKE ALL ON SEQUENCE games_id_seq, scores_id_seq FROM tickerboard_writer;
        REVOKE ALL ON FUNCTION tickerboard_emit(text, text, jsonb) FROM tickerboard_writer;
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM tickerboard_writer', current_schema());
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM tickerboard_writer', current_database());
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION tickerboard_pending(), tickerboard_staged(), tickerboard_flush(),
    tickerboard_emit(text, text, jsonb) TO PUBLIC;

DROP TRIGGER scores_truncated ON scores;
DROP TRIGGER scores_emit_update ON scores;
DROP TRIGGER scores_tally_update ON scores;
DROP TRIGGER scores_check_update ON scores;
DROP TRIGGER events_capture_only ON events;
DROP FUNCTION scores_tally_update(), scores_check_update(), events_capture_only();

DROP TRIGGER quotes_emit_update ON quotes;
CREATE TRIGGER quotes_emit_update AFTER UPDATE ON quotes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION quotes_stage();
DROP TRIGGER games_emit_update ON games;
CREATE TRIGGER games_emit_update AFTER UPDATE ON games
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION games_stage();

ALTER TABLE events
    DROP CONSTRAINT events_name_format, DROP CONSTRAINT events_key_format,
    DROP CONSTRAINT events_created_at_finite, DROP CONSTRAINT events_payload_size;
ALTER TABLE quotes
    DROP CONSTRAINT quotes_price_finite, DROP CONSTRAINT quotes_prev_close_finite,
    DROP CONSTRAINT quotes_day_open_finite, DROP CONSTRAINT quotes_day_high_finite,
    DROP CONSTRAINT quotes_day_low_finite;
ALTER TABLE price_ticks DROP CONSTRAINT price_ticks_price_finite, DROP CONSTRAINT price_ticks_ts_finite;
ALTER TABLE games DROP CONSTRAINT games_starts_at_finite;
ALTER TABLE scores DROP CONSTRAINT scores_created_at_finite;

-- 000001's function bodies, with the writer's rights and search_path again.
CREATE OR REPLACE FUNCTION tickerboard_pending() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.tickerboard_pending') IS NULL THEN
        CREATE TEMP TABLE tickerboard_pending (
            seq     bigint GENERATED ALWAYS AS IDENTITY,
            event   text NOT NULL,
            key     text NOT NULL,
            payload jsonb NOT NULL
        ) ON COMMIT DELETE ROWS;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION tickerboard_staged() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('tickerboard.staged', true), '') = '' THEN
        PERFORM set_config('tickerboard.staged', 'yes', true);
        INSERT INTO events_commit (txid) VALUES (pg_current_xact_id());
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION tickerboard_flush() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    first_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7294615230471);
    WITH moved AS (DELETE FROM pg_temp.tickerboard_pending RETURNING seq, event, key, payload),
         added AS (INSERT INTO events (event, key, payload)
                   SELECT event, key, payload FROM moved ORDER BY seq RETURNING id)
    SELECT min(id) INTO first_id FROM added;
    DELETE FROM events_commit WHERE txid = NEW.txid;
    PERFORM set_config('tickerboard.staged', '', true);
    IF first_id IS NOT NULL THEN
        PERFORM pg_notify('tickerboard', first_id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tickerboard_emit(p_event text, p_key text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickerboard_pending();
    INSERT INTO pg_temp.tickerboard_pending (event, key, payload) VALUES (p_event, p_key, p_payload);
    PERFORM tickerboard_staged();
END
$$;

CREATE OR REPLACE FUNCTION quotes_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    IF NEW.price IS NULL OR NEW.price <= 0 THEN
        RETURN NEW; -- let quotes_price_positive name the problem
    END IF;
    NEW.prev_close := coalesce(NEW.prev_close, NEW.price);
    NEW.day_open := coalesce(NEW.day_open, NEW.price);
    NEW.day_high := greatest(coalesce(NEW.day_high, NEW.price), NEW.price);
    NEW.day_low := least(coalesce(NEW.day_low, NEW.price), NEW.price);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION quotes_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM tickerboard_pending();
    IF TG_OP = 'DELETE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'price', o.symbol, jsonb_build_object('symbol', o.symbol, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'price', q.symbol, quote_json(q) FROM new_rows q;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM tickerboard_staged();
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION games_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM tickerboard_pending();
    IF TG_OP = 'DELETE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'score', o.id::text, jsonb_build_object('id', o.id, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'score', g.id::text, game_json(g) FROM new_rows g;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM tickerboard_staged();
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION scores_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM tickerboard_pending();
    IF TG_OP = 'DELETE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'play', o.game_id::text, jsonb_build_object('id', o.id, 'game_id', o.game_id, 'deleted', true,
                                                          'created_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'play', s.game_id::text, play_json(s) FROM new_rows s;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM tickerboard_staged();
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tables_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickerboard_emit('reset', TG_TABLE_NAME, jsonb_build_object('reason', 'truncate', 'table', TG_TABLE_NAME));
    RETURN NULL;
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'tickerboard_pending()', 'tickerboard_staged()', 'tickerboard_flush()',
        'tickerboard_emit(text, text, jsonb)', 'quotes_stage()', 'games_stage()', 'scores_stage()',
        'quotes_record_ticks()', 'tables_truncated()', 'quotes_fill()', 'games_fill()',
        'scores_check()', 'scores_tally()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY INVOKER RESET ALL', f);
    END LOOP;
END
$$;
