-- Capture at Postgres speed: writers never wait for each other.
--
-- 000001/000002 staged each transaction's events in a temp table and flushed them at
-- COMMIT under one advisory lock, so ids followed commit order — and every commit that
-- changed the board ran one at a time (issue 15: watched tables ran at ×0.08 the speed
-- of an unwatched one). This migration splits capture from ordering, as PgQ does:
--
--   * capture: each statement's triggers insert its events, set-based, straight into
--     events_queue, with the writer's transaction id and a seq from a sequence (insert
--     order), and ring the doorbell channel 'tickerboard_capture' with that transaction
--     id (one notification per transaction: Postgres folds repeats). No temp table, no
--     deferred trigger, no lock that another writer can hold.
--   * ordering: a tick (tickerboard_tick(), called by the app's notifier on a doorbell)
--     takes the tick lock — only tickers contend for it, never writers — and in one
--     statement, under one snapshot, moves every committed queue row into `events`,
--     ordered by seq, with ids above everything ever handed out; it records the
--     snapshot in `ticks` and NOTIFYs 'tickerboard' with the first id, the snapshot
--     and, when they fit in NOTIFY's 8000 bytes, the events themselves.
--
-- Order: a transaction committed before tick N's snapshot is in tick N or earlier; one
-- that committed after it is in a later tick. So ids follow commit order across ticks.
-- Within a tick, ids follow seq: a transaction that changed a row another had changed
-- waited for that one's commit, so its seq (and id) is higher — causal order holds;
-- transactions that touched nothing in common and committed between the same two
-- ticks are in insert order. Ids still become visible strictly in id order (ticks
-- commit one at a time), so readers resume with `WHERE id > last` as before.

-- The capture queue: events committed (or not yet) but not yet in the log. Its seq
-- must not be cached per session (CACHE 1, the default), or a later writer could draw
-- a lower number than the one it waited for.
CREATE TABLE events_queue (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event      text NOT NULL,
    key        text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000);

-- One row per tick that moved events: the snapshot it saw, and the ids it gave out.
-- Retention prunes it with the log.
CREATE TABLE ticks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    snapshot   pg_snapshot NOT NULL,
    first_id   bigint,
    last_id    bigint,
    events     int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ticks_created_at ON ticks (created_at);

-- The key ticks sign their notifications with. Any session may NOTIFY any channel, so
-- a listener believes a tick's snapshot and events only when the signature checks out;
-- only the owner (the app) can read the key.
CREATE TABLE tick_key (
    only_row bool PRIMARY KEY DEFAULT true CONSTRAINT tick_key_one_row CHECK (only_row),
    key      bytea NOT NULL DEFAULT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8'))
);
INSERT INTO tick_key DEFAULT VALUES;

-- The writer's transaction, kept with each event: which changes were committed
-- together (NULL for events logged before this migration).
ALTER TABLE events ADD COLUMN txid xid8;

-- Events staged by 000002's capture but not flushed cannot exist outside a running
-- transaction, so dropping that machinery loses nothing committed.
DROP TRIGGER events_commit_flush ON events_commit;
DROP FUNCTION tickerboard_flush();
DROP TABLE events_commit;

-- events_queue_capture_only: the queue is written by the capture triggers and by
-- tickerboard_emit, and by nothing else, not even a superuser's INSERT.
CREATE FUNCTION events_queue_capture_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 AND current_setting('tickerboard.emitting', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'events_written_by_capture_only: the event queue is written only by the capture triggers'
            USING ERRCODE = 'insufficient_privilege', TABLE = 'events_queue',
                  HINT = 'Change quotes, games or scores, or call tickerboard_emit(event, key, payload); the event is logged when you commit.';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_queue_capture_only BEFORE INSERT OR UPDATE ON events_queue
    FOR EACH STATEMENT EXECUTE FUNCTION events_queue_capture_only();

-- The log's guard: `events` is written by the tick (a trigger on `ticks`, so at
-- trigger depth 2) and by nothing else.
CREATE OR REPLACE FUNCTION events_capture_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 OR current_setting('tickerboard.flushing', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'events_written_by_capture_only: the event log is written only by the sequencer''s tick'
            USING ERRCODE = 'insufficient_privilege', TABLE = 'events',
                  HINT = 'Change quotes, games or scores, or call tickerboard_emit(event, key, payload); the event is logged when you commit.';
    END IF;
    RETURN NULL;
END
$$;

-- The tick, as a BEFORE INSERT trigger on ticks, so `INSERT INTO ticks DEFAULT VALUES`
-- is the whole protocol and the log's guard can tell it from a direct write. Ids: above
-- the highest id ever handed out — the log's max (a row written far ahead), the pruned
-- mark and the sequence — then the sequence is moved up, so ids never go backwards
-- whatever setval() did. Queue rows the log could never deliver (only a superuser with
-- the guard disabled can write them) are dropped rather than stall every later tick.
-- A tick with nothing to move is not recorded.
CREATE FUNCTION ticks_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
    n bigint;
    snap pg_snapshot;
    carried text;
    signed text;
    k bytea;
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
            RAISE EXCEPTION 'tickerboard_tick_lock_timeout: waited % for the tick lock held by %; no events were moved (writers are not affected)',
                    current_setting('lock_timeout'), coalesce(holder, 'another session')
                USING ERRCODE = 'lock_not_available',
                      HINT = 'Some session holds pg_advisory_lock(7294615230471) or a tick is stuck; end it with pg_terminate_backend(pid).';
        END;
    END IF;
    SELECT greatest(
        (SELECT coalesce(max(e.id), 0) FROM events e),
        (SELECT p.through FROM events_pruned p),
        (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM events_id_seq s))
    INTO base;
    PERFORM set_config('tickerboard.flushing', 'on', true);
    -- One statement, one snapshot: what it deletes is exactly what snap says committed.
    WITH snap AS (SELECT pg_current_snapshot() AS s),
         moved AS (DELETE FROM events_queue RETURNING seq, txid, event, key, payload, created_at),
         kept AS (SELECT * FROM moved
                  WHERE event ~ '^[a-z][a-z0-9_-]{0,31}$'
                    AND char_length(key) <= 64 AND key !~ '[\x01-\x1f\x7f-\x9f\u2028\u2029]'
                    AND isfinite(created_at) AND octet_length(payload::text) <= 16384),
         added AS (INSERT INTO events (id, txid, event, key, payload, created_at)
                   SELECT base + row_number() OVER (ORDER BY seq), txid, event, key, payload, created_at FROM kept
                   RETURNING id)
    SELECT (SELECT count(*) FROM added), (SELECT s FROM snap) INTO n, snap;
    PERFORM set_config('tickerboard.flushing', '', true);
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM setval('events_id_seq', base + n);
    IF n <= 64 THEN -- only a tick this small can fit in a notification
        SELECT json_agg(json_build_object('id', e.id, 'event', e.event, 'key', e.key,
                   'payload', e.payload, 'created_at', e.created_at) ORDER BY e.id)::text
        INTO carried FROM events e WHERE e.id BETWEEN base + 1 AND base + n;
    END IF;
    NEW.snapshot := snap;
    NEW.first_id := base + 1;
    NEW.last_id := base + n;
    NEW.events := n;
    -- The notification carries the events too when they fit in NOTIFY's 8000 bytes, so
    -- listening instances need not read the log for them.
    IF octet_length(carried) + octet_length(snap::text) > 7800 THEN
        carried := NULL;
    END IF;
    -- Signed (sha256(key || sha256(key || text)), which a listener checks) so no other
    -- session can make listeners skip a tick or publish events of its own.
    signed := (base + 1)::text || ' ' || snap::text || coalesce(E'\n' || carried, '');
    SELECT t.key INTO k FROM tick_key t;
    PERFORM pg_notify('tickerboard', (base + 1)::text || ' ' || snap::text || ' '
        || encode(sha256(k || sha256(k || convert_to(signed, 'UTF8'))), 'hex') || coalesce(E'\n' || carried, ''));
    RETURN NEW;
END
$$;
CREATE TRIGGER ticks_sequence BEFORE INSERT ON ticks
    FOR EACH ROW EXECUTE FUNCTION ticks_sequence();

-- tickerboard_tick moves every committed event into the log and returns the snapshot it
-- saw (as text, xmin:xmax:xip,…) so the caller knows which writers it has covered, and
-- the first id it gave out (NULL when there was nothing to move).
CREATE FUNCTION tickerboard_tick(OUT first_id bigint, OUT snapshot text) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticks (snapshot) VALUES (pg_current_snapshot())
    RETURNING ticks.first_id, ticks.snapshot::text INTO first_id, snapshot;
    IF snapshot IS NULL THEN
        snapshot := pg_current_snapshot()::text; -- nothing moved: at least this much is covered
    END IF;
END
$$;

-- tickerboard_emit adds one event of your own to the current transaction's changes,
-- e.g. `SELECT tickerboard_emit('reset', '', '{"reason": "maintenance"}');`. It checks
-- the event against the log's rules now, so the mistake is reported here.
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
    PERFORM set_config('tickerboard.emitting', 'on', true);
    INSERT INTO events_queue (event, key, payload) VALUES (p_event, p_key, p_payload);
    PERFORM set_config('tickerboard.emitting', '', true);
    PERFORM pg_notify('tickerboard_capture', pg_current_xact_id()::text);
END
$$;

-- event: price — the quote row as JSON, or {"symbol": …, "deleted": true}. A changed
-- symbol is a delete of the old one, then the new row.
CREATE OR REPLACE FUNCTION quotes_stage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO events_queue (event, key, payload)
        SELECT 'price', o.symbol, jsonb_build_object('symbol', o.symbol, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows q WHERE q.symbol = o.symbol)
        ORDER BY o.symbol;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO events_queue (event, key, payload)
        SELECT 'price', o.symbol, jsonb_build_object('symbol', o.symbol, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO events_queue (event, key, payload)
        SELECT 'price', q.symbol, quote_json(q) FROM new_rows q;
    END IF;
    PERFORM pg_notify('tickerboard_capture', pg_current_xact_id()::text);
    RETURN NULL;
END
$$;

-- event: score — the game row as JSON, or {"id": …, "deleted": true}.
CREATE OR REPLACE FUNCTION games_stage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO events_queue (event, key, payload)
        SELECT 'score', o.id::text, jsonb_build_object('id', o.id, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows g WHERE g.id = o.id)
        ORDER BY o.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO events_queue (event, key, payload)
        SELECT 'score', o.id::text, jsonb_build_object('id', o.id, 'deleted', true, 'updated_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO events_queue (event, key, payload)
        SELECT 'score', g.id::text, game_json(g) FROM new_rows g;
    END IF;
    PERFORM pg_notify('tickerboard_capture', pg_current_xact_id()::text);
    RETURN NULL;
END
$$;

-- event: play — the scores row as JSON, or {"id": …, "game_id": …, "deleted": true}.
CREATE OR REPLACE FUNCTION scores_stage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO events_queue (event, key, payload)
        SELECT 'play', o.game_id::text, jsonb_build_object('id', o.id, 'game_id', o.game_id, 'deleted', true,
                                                          'created_at', clock_timestamp())
        FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows s WHERE s.id = o.id AND s.game_id = o.game_id)
        ORDER BY o.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO events_queue (event, key, payload)
        SELECT 'play', o.game_id::text, jsonb_build_object('id', o.id, 'game_id', o.game_id, 'deleted', true,
                                                          'created_at', clock_timestamp())
        FROM old_rows o;
    ELSE
        INSERT INTO events_queue (event, key, payload)
        SELECT 'play', s.game_id::text, play_json(s) FROM new_rows s;
    END IF;
    PERFORM pg_notify('tickerboard_capture', pg_current_xact_id()::text);
    RETURN NULL;
END
$$;

-- TRUNCATE: a reset, but a reset right after this transaction's own reset adds nothing
-- (TRUNCATE games CASCADE empties scores too and sends one).
CREATE OR REPLACE FUNCTION tables_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce((SELECT q.event = 'reset' FROM events_queue q WHERE q.txid = pg_current_xact_id()
                 ORDER BY q.seq DESC LIMIT 1), false) THEN
        RETURN NULL;
    END IF;
    PERFORM tickerboard_emit('reset', TG_TABLE_NAME, jsonb_build_object('reason', 'truncate', 'table', TG_TABLE_NAME));
    RETURN NULL;
END
$$;

DROP FUNCTION tickerboard_staged();
DROP FUNCTION tickerboard_pending();

-- Pin every capture function's search_path to this schema, then pg_temp last; those
-- that write the queue, the log or the ticks run with their owner's rights.
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'ticks_sequence()', 'tickerboard_tick()', 'tickerboard_emit(text, text, jsonb)',
        'quotes_stage()', 'games_stage()', 'scores_stage()', 'tables_truncated()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
    FOREACH f IN ARRAY ARRAY['events_capture_only()', 'events_queue_capture_only()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
ALTER FUNCTION ticks_sequence() SET lock_timeout = '5s';

-- Least privilege: nobody but the owner writes the queue or the ticks, and only the
-- owner (the app) ticks.
REVOKE ALL ON events_queue, ticks, tick_key FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tickerboard_tick(), ticks_sequence(), events_queue_capture_only() FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickerboard_writer') THEN
        GRANT SELECT ON events_queue, ticks TO tickerboard_writer;
    END IF;
END
$$;
