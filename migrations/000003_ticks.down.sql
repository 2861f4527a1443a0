-- Back to 000002's capture: a per-session staging table flushed at COMMIT under the
-- ordering lock. Events still in the queue (committed, not yet ticked) are moved into
-- the log first, so nothing committed is lost.
INSERT INTO ticks (snapshot) VALUES (pg_current_snapshot());
DROP TRIGGER events_queue_capture_only ON events_queue;
DROP TRIGGER ticks_sequence ON ticks;
DROP FUNCTION tickerboard_tick(), ticks_sequence(), events_queue_capture_only();
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickerboard_writer') THEN
        REVOKE ALL ON events_queue, ticks FROM tickerboard_writer;
    END IF;
END
$$;
DROP TABLE events_queue, ticks, tick_key;
ALTER TABLE events DROP COLUMN txid;

CREATE UNLOGGED TABLE events_commit (
    txid xid8 PRIMARY KEY
);

-- 000002's function bodies.
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
CREATE CONSTRAINT TRIGGER events_commit_flush AFTER INSERT ON events_commit
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tickerboard_flush();

CREATE OR REPLACE FUNCTION events_capture_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 OR current_setting('tickerboard.flushing', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'events_written_by_capture_only: the event log is written only at commit by the capture triggers'
            USING ERRCODE = 'insufficient_privilege', TABLE = 'events',
                  HINT = 'Change quotes, games or scores, or call tickerboard_emit(event, key, payload); the event is logged when you commit.';
    END IF;
    RETURN NULL;
END
$$;

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

-- Pin the search_path and rights again, as 000002 did.
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
