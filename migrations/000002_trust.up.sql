-- Every change is an event or refused, and the log is written only by the capture path.
--
-- 000001 captured changes with triggers that ran with the writer's rights and the
-- writer's search_path, so any session could write the log directly, shadow `events`
-- with a temporary table, or leave rows no viewer can be sent. This migration keeps
-- that capture design and hardens it:
--   * the functions that write the staging table or the log are SECURITY DEFINER,
--     with a search_path pinned (below) to this schema and then pg_temp, last;
--   * `events` refuses rows that can never be delivered (named CHECKs) and any write
--     that does not come from tickerboard_flush (events_written_by_capture_only);
--   * the flush assigns ids itself, above everything ever handed out, so neither a
--     far-ahead row nor a setval() can hide or reorder later events;
--   * a writer waits at most 5 s for the ordering lock and is told who holds it;
--   * UPDATE of scores, key changes and TRUNCATE of scores become events;
--   * non-finite numbers and times are refused;
--   * the role tickerboard_writer can do everything the README shows and nothing
--     that breaks the log.

-- Rows that can never be delivered are as good as skipped: delete them (a gap in ids
-- is normal) so the CHECKs below can hold.
DELETE FROM events
WHERE NOT (event ~ '^[a-z][a-z0-9_-]{0,31}$')
   OR char_length(key) > 64 OR key ~ '[\x01-\x1f\x7f-\x9f\u2028\u2029]'
   OR NOT isfinite(created_at)
   OR octet_length(payload::text) > 16384;

ALTER TABLE events
    ADD CONSTRAINT events_name_format CHECK (event ~ '^[a-z][a-z0-9_-]{0,31}$'),
    ADD CONSTRAINT events_key_format
        CHECK (char_length(key) <= 64 AND key !~ '[\x01-\x1f\x7f-\x9f\u2028\u2029]'),
    ADD CONSTRAINT events_created_at_finite CHECK (isfinite(created_at)),
    ADD CONSTRAINT events_payload_size CHECK (octet_length(payload::text) <= 16384);

-- Non-finite values are refused. numeric(14,4) already refuses ±Infinity ("numeric
-- field overflow"), but 'NaN' passes `price > 0`. Existing bad rows are removed or
-- put right first, through the old triggers, so viewers hear of it.
DELETE FROM quotes
WHERE price = 'NaN' OR prev_close = 'NaN' OR day_open = 'NaN' OR day_high = 'NaN' OR day_low = 'NaN';
DELETE FROM price_ticks WHERE price = 'NaN' OR NOT isfinite(ts);
UPDATE games SET starts_at = NULL WHERE NOT isfinite(starts_at);
UPDATE scores SET created_at = clock_timestamp() WHERE NOT isfinite(created_at);

ALTER TABLE quotes
    ADD CONSTRAINT quotes_price_finite CHECK (price <> 'NaN'),
    ADD CONSTRAINT quotes_prev_close_finite CHECK (prev_close <> 'NaN'),
    ADD CONSTRAINT quotes_day_open_finite CHECK (day_open <> 'NaN'),
    ADD CONSTRAINT quotes_day_high_finite CHECK (day_high <> 'NaN'),
    ADD CONSTRAINT quotes_day_low_finite CHECK (day_low <> 'NaN');
ALTER TABLE price_ticks
    ADD CONSTRAINT price_ticks_price_finite CHECK (price <> 'NaN'),
    ADD CONSTRAINT price_ticks_ts_finite CHECK (isfinite(ts));
ALTER TABLE games ADD CONSTRAINT games_starts_at_finite CHECK (isfinite(starts_at));
ALTER TABLE scores ADD CONSTRAINT scores_created_at_finite CHECK (isfinite(created_at));

-- tickerboard_pending makes sure this session has its staging table, owned by the
-- capture functions' owner. A table of that name made by anyone else (the writer has
-- TEMP rights) is refused: triggers on it would run with the owner's rights.
CREATE OR REPLACE FUNCTION tickerboard_pending() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t regclass := to_regclass('pg_temp.tickerboard_pending');
BEGIN
    IF t IS NULL THEN
        CREATE TEMP TABLE tickerboard_pending (
            seq     bigint GENERATED ALWAYS AS IDENTITY,
            event   text NOT NULL,
            key     text NOT NULL,
            payload jsonb NOT NULL
        ) ON COMMIT DELETE ROWS;
    ELSIF (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = t)
          <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'tickerboard_pending_owner: pg_temp.tickerboard_pending was not made by the capture path'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'DROP TABLE pg_temp.tickerboard_pending; the triggers make their own.';
    END IF;
END
$$;

-- tickerboard_staged arranges, once per transaction, for the staged events to be
-- flushed at commit. It asks the commit queue itself rather than a setting, which any
-- session could set to make its changes skip the log.
CREATE OR REPLACE FUNCTION tickerboard_staged() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events_commit (txid) VALUES (pg_current_xact_id()) ON CONFLICT (txid) DO NOTHING;
END
$$;

-- The flush. Ids: the flush assigns them itself, under the ordering lock, above the
-- highest id ever handed out — the log's max (a row written far ahead), the pruned
-- mark and the sequence (which a REPEATABLE READ snapshot cannot miss) — then moves
-- the sequence up. So ids never go backwards, whatever setval() did, and a far-ahead
-- row never hides later commits. The lock is waited for at most lock_timeout (5 s,
-- set on this function below); then the commit fails saying who holds it.
CREATE OR REPLACE FUNCTION tickerboard_flush() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
    n bigint;
    holder text;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7294615230471) THEN
        BEGIN
            PERFORM pg_advisory_xact_lock(7294615230471);
        EXCEPTION WHEN lock_not_available THEN
            -- pg_locks splits a bigint advisory key into classid (high 32 bits) and
            -- objid (low 32 bits), with objsubid = 1.
            SELECT format('pid %s (application "%s")', l.pid, coalesce(a.application_name, ''))
            INTO holder
            FROM pg_catalog.pg_locks l
            LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid::bigint = 7294615230471 >> 32
              AND l.objid::bigint = 7294615230471 & 4294967295
              AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
            LIMIT 1;
            RAISE EXCEPTION 'tickerboard_ordering_lock_timeout: waited % for the event-ordering lock held by %; nothing was committed',
                    current_setting('lock_timeout'), coalesce(holder, 'another session')
                USING ERRCODE = 'lock_not_available',
                      HINT = 'Some session holds pg_advisory_lock(7294615230471) or a commit is stuck; end it with pg_terminate_backend(pid), then retry.';
        END;
    END IF;
    SELECT greatest(
        (SELECT coalesce(max(e.id), 0) FROM events e),
        (SELECT p.through FROM events_pruned p),
        (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM events_id_seq s))
    INTO base;
    PERFORM set_config('tickerboard.flushing', 'on', true);
    WITH moved AS (DELETE FROM pg_temp.tickerboard_pending RETURNING seq, event, key, payload),
         added AS (INSERT INTO events (id, event, key, payload)
                   SELECT base + row_number() OVER (ORDER BY seq), event, key, payload FROM moved
                   RETURNING id)
    SELECT count(*) INTO n FROM added;
    PERFORM set_config('tickerboard.flushing', '', true);
    IF n > 0 THEN
        PERFORM setval('events_id_seq', base + n);
    END IF;
    DELETE FROM events_commit WHERE txid = NEW.txid;
    IF n > 0 THEN
        PERFORM pg_notify('tickerboard', (base + 1)::text);
    END IF;
    RETURN NULL;
END
$$;

-- events_capture_only: the log is written at commit by tickerboard_flush and by
-- nothing else, not even a superuser's INSERT (roles other than the owner have no
-- rights on it at all). Retention's DELETE is allowed.
CREATE FUNCTION events_capture_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 OR current_setting('tickerboard.flushing', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'events_written_by_capture_only: the event log is written only at commit by the capture triggers'
            USING ERRCODE = 'insufficient_privilege', TABLE = 'events',
                  HINT = 'Change quotes, games or scores, or call tickerboard_emit(event, key, payload); the event is logged when you commit.';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_capture_only BEFORE INSERT OR UPDATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_capture_only();

-- tickerboard_emit adds one event of your own to the current transaction's changes,
-- e.g. `SELECT tickerboard_emit('reset', '', '{"reason": "maintenance"}');`. It checks
-- the event against the log's rules now, so the mistake is reported here rather than
-- at COMMIT. `price`, `score` and `play` come from the tables; `snapshot`,
-- `heartbeat` and `unavailable` are the server's own.
CREATE OR REPLACE FUNCTION tickerboard_emit(p_event text, p_key text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_event IS NULL OR p_key IS NULL OR p_payload IS NULL THEN
        RAISE EXCEPTION 'tickerboard_emit_not_null: event, key and payload must not be NULL'
            USING ERRCODE = 'not_null_violation', CONSTRAINT = 'tickerboard_emit_not_null',
                  HINT = 'Use '''' for no key and ''{}'' for an empty payload.';
    END IF;
    IF p_event !~ '^[a-z][a-z0-9_-]{0,31}$' THEN
        RAISE EXCEPTION 'events_name_format: event name % is not 1 to 32 of a-z, 0-9, _ and -, starting with a letter', to_json(p_event)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_name_format', TABLE = 'events',
                  HINT = 'For example tickerboard_emit(''reset'', '''', ''{"reason": "maintenance"}'').';
    END IF;
    IF p_event IN ('price', 'score', 'play', 'snapshot', 'heartbeat', 'unavailable') THEN
        RAISE EXCEPTION 'events_name_reserved: event name "%" is reserved', p_event
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_name_reserved', TABLE = 'events',
                  HINT = 'price, score and play come from the quotes, games and scores tables (change a row instead); snapshot, heartbeat and unavailable are the server''s own.';
    END IF;
    IF char_length(p_key) > 64 OR p_key ~ '[\x01-\x1f\x7f-\x9f\u2028\u2029]' THEN
        RAISE EXCEPTION 'events_key_format: key % is longer than 64 characters or holds control characters', to_json(left(p_key, 80))
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_key_format', TABLE = 'events';
    END IF;
    IF octet_length(p_payload::text) > 16384 THEN
        RAISE EXCEPTION 'events_payload_size: payload is % bytes as text; the limit is 16384 (16 KiB)', octet_length(p_payload::text)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_payload_size', TABLE = 'events';
    END IF;
    PERFORM tickerboard_pending();
    INSERT INTO pg_temp.tickerboard_pending (event, key, payload) VALUES (p_event, p_key, p_payload);
    PERFORM tickerboard_staged();
END
$$;

-- Quotes: a 'NaN' price is left for quotes_price_finite to name, without spreading
-- into the derived columns first.
CREATE OR REPLACE FUNCTION quotes_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    IF NEW.price IS NULL OR NEW.price <= 0 OR NEW.price = 'NaN' THEN
        RETURN NEW; -- let quotes_price_positive / quotes_price_finite name the problem
    END IF;
    NEW.prev_close := coalesce(NEW.prev_close, NEW.price);
    NEW.day_open := coalesce(NEW.day_open, NEW.price);
    NEW.day_high := greatest(coalesce(NEW.day_high, NEW.price), NEW.price);
    NEW.day_low := least(coalesce(NEW.day_low, NEW.price), NEW.price);
    RETURN NEW;
END
$$;

-- event: price — the quote row as JSON, or {"symbol": …, "deleted": true}. A changed
-- symbol is a delete of the old one, then the new row.
CREATE OR REPLACE FUNCTION quotes_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    gone bigint := 0;
BEGIN
    PERFORM tickerboard_pending();
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'price', o.symbol, jsonb_build_object('symbol', o.symbol, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows q WHERE q.symbol = o.symbol)
        ORDER BY o.symbol;
        GET DIAGNOSTICS gone = ROW_COUNT;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'price', o.symbol, jsonb_build_object('symbol', o.symbol, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'price', q.symbol, quote_json(q) FROM new_rows q;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n + gone > 0 THEN
        PERFORM tickerboard_staged();
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER quotes_emit_update ON quotes;
CREATE TRIGGER quotes_emit_update AFTER UPDATE ON quotes
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION quotes_stage();

-- event: score — the game row as JSON, or {"id": …, "deleted": true}. A changed id is
-- a delete of the old one, then the new row (a game with plays cannot change its id:
-- scores_game_exists).
CREATE OR REPLACE FUNCTION games_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    gone bigint := 0;
BEGIN
    PERFORM tickerboard_pending();
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'score', o.id::text, jsonb_build_object('id', o.id, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows g WHERE g.id = o.id)
        ORDER BY o.id;
        GET DIAGNOSTICS gone = ROW_COUNT;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'score', o.id::text, jsonb_build_object('id', o.id, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'score', g.id::text, game_json(g) FROM new_rows g;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n + gone > 0 THEN
        PERFORM tickerboard_staged();
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER games_emit_update ON games;
CREATE TRIGGER games_emit_update AFTER UPDATE ON games
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION games_stage();

-- Scores: a play may be corrected (points, team, scorer, even its game), but a change
-- that moves points into or out of a final game is refused like a new play on it.
CREATE FUNCTION scores_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g games;
BEGIN
    IF (NEW.game_id, NEW.team, NEW.points) IS NOT DISTINCT FROM (OLD.game_id, OLD.team, OLD.points) THEN
        RETURN NEW;
    END IF;
    FOR g IN SELECT * FROM games WHERE id IN (OLD.game_id, NEW.game_id) ORDER BY id FOR NO KEY UPDATE LOOP
        IF g.status = 'final' THEN
            RAISE EXCEPTION 'scores_game_not_final: game % is final; its plays can no longer change its score', g.id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'scores_game_not_final', TABLE = 'scores',
                      HINT = 'Only the scorer, period or clock of a play in a final game can be corrected.';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
CREATE TRIGGER scores_check_update BEFORE UPDATE ON scores
    FOR EACH ROW EXECUTE FUNCTION scores_check_update();

-- A corrected play: its old points come off its old game and its new points go on its
-- new game, set-based, in one UPDATE per game so each game emits one `score`. Games
-- whose totals do not move are left alone.
CREATE FUNCTION scores_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE games g SET
        home_score = greatest(0, g.home_score + t.home),
        away_score = greatest(0, g.away_score + t.away),
        status = CASE WHEN t.gained AND g.status = 'scheduled' THEN 'live' ELSE g.status END,
        period = CASE WHEN t.gained THEN greatest(g.period, 1) ELSE g.period END
    FROM (SELECT game_id, sum(home) AS home, sum(away) AS away, bool_or(gained) AS gained
          FROM (SELECT game_id,
                       CASE WHEN team = 'home' THEN points ELSE 0 END AS home,
                       CASE WHEN team = 'away' THEN points ELSE 0 END AS away,
                       true AS gained
                FROM new_rows
                UNION ALL
                SELECT game_id,
                       CASE WHEN team = 'home' THEN -points ELSE 0 END,
                       CASE WHEN team = 'away' THEN -points ELSE 0 END,
                       false
                FROM old_rows) d
          GROUP BY game_id) t
    WHERE g.id = t.game_id AND (t.home <> 0 OR t.away <> 0);
    RETURN NULL;
END
$$;
CREATE TRIGGER scores_tally_update AFTER UPDATE ON scores
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scores_tally_update();

-- event: play — the scores row as JSON, or {"id": …, "game_id": …, "deleted": true}.
-- A play that moved to another game (or got a new id) is deleted from the old one
-- first, then the new row follows.
CREATE OR REPLACE FUNCTION scores_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    gone bigint := 0;
BEGIN
    PERFORM tickerboard_pending();
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'play', o.game_id::text, jsonb_build_object('id', o.id, 'game_id', o.game_id, 'deleted', true,
                                                          'created_at', clock_timestamp())
        FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows s WHERE s.id = o.id AND s.game_id = o.game_id)
        ORDER BY o.id;
        GET DIAGNOSTICS gone = ROW_COUNT;
    END IF;
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
    IF n + gone > 0 THEN
        PERFORM tickerboard_staged();
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER scores_emit_update AFTER UPDATE ON scores
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scores_stage();

-- TRUNCATE fires no row triggers: tell every viewer to start over from a snapshot.
-- A reset right after a reset adds nothing, so TRUNCATE games CASCADE (which empties
-- scores too) sends one.
CREATE OR REPLACE FUNCTION tables_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickerboard_pending();
    IF coalesce((SELECT p.event = 'reset' FROM pg_temp.tickerboard_pending p ORDER BY p.seq DESC LIMIT 1), false) THEN
        RETURN NULL;
    END IF;
    PERFORM tickerboard_emit('reset', TG_TABLE_NAME, jsonb_build_object('reason', 'truncate', 'table', TG_TABLE_NAME));
    RETURN NULL;
END
$$;
CREATE TRIGGER scores_truncated AFTER TRUNCATE ON scores
    FOR EACH STATEMENT EXECUTE FUNCTION tables_truncated();

-- Pin every capture function's search_path to this schema, then pg_temp last, so no
-- session's `events` (temporary or in another schema) stands in for the real one.
-- Those that write the staging table, the log or price_ticks run with their owner's
-- rights, so writers need none on the log.
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'tickerboard_pending()', 'tickerboard_staged()', 'tickerboard_flush()',
        'tickerboard_emit(text, text, jsonb)', 'quotes_stage()', 'games_stage()', 'scores_stage()',
        'quotes_record_ticks()', 'tables_truncated()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
    FOREACH f IN ARRAY ARRAY[
        'quotes_fill()', 'games_fill()', 'scores_check()', 'scores_check_update()',
        'scores_tally()', 'scores_tally_update()', 'events_capture_only()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
ALTER FUNCTION tickerboard_flush() SET lock_timeout = '5s';

-- Least privilege. Nobody but the owner touches the log, the commit queue or the
-- pruned mark, and the internals are not callable.
REVOKE ALL ON events, events_commit, events_pruned FROM PUBLIC;
REVOKE ALL ON SEQUENCE events_id_seq FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tickerboard_pending(), tickerboard_staged(), tickerboard_flush(),
    tickerboard_emit(text, text, jsonb) FROM PUBLIC;

-- tickerboard_writer: a login role (no password: it logs in where the server trusts
-- local users, e.g. `docker compose exec db psql -U tickerboard_writer`) that can do
-- everything the README shows and nothing that breaks the log. Roles are shared by
-- every database of the server, so another migration may be creating it right now.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickerboard_writer') THEN
        BEGIN
            CREATE ROLE tickerboard_writer LOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created concurrently
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'tickerboard_writer not created: % lacks CREATEROLE; create it with CREATE ROLE tickerboard_writer LOGIN and migrate again', current_user;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickerboard_writer') THEN
        BEGIN
            EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO tickerboard_writer', current_database());
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'CONNECT and TEMPORARY on database % not granted to tickerboard_writer: % does not own it (PUBLIC has both by default)', current_database(), current_user;
        END;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO tickerboard_writer', current_schema());
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON quotes, games, scores TO tickerboard_writer;
        -- TRUNCATE quotes CASCADE empties price_ticks too, which needs its own right.
        GRANT SELECT, TRUNCATE ON price_ticks TO tickerboard_writer;
        GRANT SELECT ON events, events_pruned TO tickerboard_writer;
        GRANT USAGE ON SEQUENCE games_id_seq, scores_id_seq TO tickerboard_writer;
        GRANT EXECUTE ON FUNCTION tickerboard_emit(text, text, jsonb) TO tickerboard_writer;
    END IF;
END
$$;
