-- Capture from the WAL when the server can decode it (wal_level = logical).
--
-- Until now every change became an event inside the writer's transaction: statement
-- triggers staged it, and one flush per transaction wrote the log at COMMIT under the
-- ordering lock, so event-producing commits ran one at a time and each changed row
-- paid ~50 µs of trigger work. With logical decoding the writer pays nothing but its
-- own WAL: the leading app instance reads committed changes, in commit order, from a
-- replication slot (publication `tickerboard`) and appends them to the same log with
-- tickerboard_capture_apply, many transactions per call.
--
-- Both captures write the same log with the same ids and payloads (the *_json
-- functions), so readers, resume and retention do not know which one ran. Which one
-- runs is the row in capture_mode, changed only by tickerboard_capture_switch, which
-- enables or disables the capture triggers in the same transaction. That transaction
-- takes the board tables' locks, so every transaction that fired the triggers commits
-- before it and every one after it finds them disabled; and since capture_mode is in
-- the publication, the switch is itself a decoded change: the leader knows exactly
-- from which commit on the WAL is the capture. The table-derived board columns are
-- unchanged (quotes_fill etc. still run); the sparkline's price_ticks are written by
-- the capture that is running.

CREATE TABLE capture_mode (
    only_row   bool PRIMARY KEY DEFAULT true CONSTRAINT capture_mode_one_row CHECK (only_row),
    mode       text NOT NULL DEFAULT 'triggers' CONSTRAINT capture_mode_valid CHECK (mode IN ('triggers', 'wal')),
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO capture_mode DEFAULT VALUES;

-- Where the WAL capture is: the commit LSN of the last decoded transaction it applied
-- (or skipped), and the mode the decoded stream was in after it. Written only by
-- tickerboard_capture_apply, in the same transaction as the events, so a leader that
-- dies mid-way leaves its successor exactly where the log is.
CREATE TABLE capture_progress (
    only_row    bool PRIMARY KEY DEFAULT true CONSTRAINT capture_progress_one_row CHECK (only_row),
    applied_lsn pg_lsn,
    stream_mode text NOT NULL DEFAULT 'triggers' CONSTRAINT capture_progress_stream_mode_valid CHECK (stream_mode IN ('triggers', 'wal'))
);
INSERT INTO capture_progress DEFAULT VALUES;

-- tickerboard_emit's events while the WAL is the capture: inserted and deleted in the
-- emitting transaction, so the table stays empty and only the WAL keeps the insert.
CREATE TABLE capture_emit (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event   text NOT NULL,
    key     text NOT NULL,
    payload jsonb NOT NULL
);

-- Under the WAL capture the log trails the tables by the capture's lag, so a snapshot
-- (tables and head read together) can already show a change whose event comes after
-- its head. Each event it writes records its transaction, so a stream can leave out
-- the events its snapshot already showed (visible in the snapshot's pg_current_snapshot()).
-- The triggers write events in the writer's transaction: their snapshot never trails,
-- and xid stays NULL.
ALTER TABLE events ADD COLUMN xid xid8;

-- A deleted play's event names its game, so deletes of scores carry the whole row.
ALTER TABLE scores REPLICA IDENTITY FULL;

CREATE PUBLICATION tickerboard FOR TABLE quotes, games, scores, market, capture_mode, capture_emit
    WITH (publish = 'insert, update, delete');

-- tickerboard_emit_check raises the rule an event of one's own breaks, if any.
CREATE FUNCTION tickerboard_emit_check(p_event text, p_key text, p_payload jsonb) RETURNS void
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
    IF p_event IN ('price', 'score', 'play', 'market', 'snapshot', 'heartbeat', 'unavailable') THEN
        RAISE EXCEPTION 'events_name_reserved: event name "%" is reserved', p_event
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_name_reserved', TABLE = 'events',
                  HINT = 'price, score, play and market come from the quotes, games, scores and market tables (change a row instead); snapshot, heartbeat and unavailable are the server''s own.';
    END IF;
    IF char_length(p_key) > 64 OR p_key ~ '[\x01-\x1f\x7f-\x9f\u2028\u2029]' THEN
        RAISE EXCEPTION 'events_key_format: key % is longer than 64 characters or holds control characters', to_json(left(p_key, 80))
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_key_format', TABLE = 'events';
    END IF;
    IF octet_length(p_payload::text) > 16384 THEN
        RAISE EXCEPTION 'events_payload_size: payload is % bytes as text; the limit is 16384 (16 KiB)', octet_length(p_payload::text)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_payload_size', TABLE = 'events';
    END IF;
END
$$;

-- tickerboard_emit: checked now, then staged for the flush or, when the WAL is the
-- capture, written where the decoder finds it. It reads the mode FOR SHARE, so a
-- switch waits for it: an event is never staged by one capture and committed under
-- the other.
CREATE OR REPLACE FUNCTION tickerboard_emit(p_event text, p_key text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickerboard_emit_check(p_event, p_key, p_payload);
    IF (SELECT m.mode FROM capture_mode m FOR SHARE) = 'wal' THEN
        WITH added AS (INSERT INTO capture_emit (event, key, payload) VALUES (p_event, p_key, p_payload) RETURNING seq)
        DELETE FROM capture_emit c USING added a WHERE c.seq = a.seq;
        RETURN;
    END IF;
    PERFORM tickerboard_pending();
    INSERT INTO pg_temp.tickerboard_pending (event, key, payload) VALUES (p_event, p_key, p_payload);
    PERFORM tickerboard_staged();
END
$$;

-- TRUNCATE is captured by its trigger under both captures (the WAL's truncate is not
-- published). Under the triggers a reset right after a reset adds nothing (TRUNCATE
-- games CASCADE empties scores too); under the WAL a second one costs a snapshot.
CREATE OR REPLACE FUNCTION tables_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT m.mode FROM capture_mode m) = 'triggers' THEN
        PERFORM tickerboard_pending();
        IF coalesce((SELECT p.event = 'reset' FROM pg_temp.tickerboard_pending p ORDER BY p.seq DESC LIMIT 1), false) THEN
            RETURN NULL;
        END IF;
    END IF;
    PERFORM tickerboard_emit('reset', TG_TABLE_NAME, jsonb_build_object('reason', 'truncate', 'table', TG_TABLE_NAME));
    RETURN NULL;
END
$$;

-- The log is written by the flush (at commit, in a trigger) and by the WAL capture's
-- apply (which marks its transaction); anything else is refused.
CREATE OR REPLACE FUNCTION events_capture_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ((pg_trigger_depth() >= 2 AND current_setting('tickerboard.flushing', true) IS NOT DISTINCT FROM 'on')
            OR current_setting('tickerboard.flushing', true) IS NOT DISTINCT FROM 'apply:' || pg_current_xact_id()::text) THEN
        RAISE EXCEPTION 'events_written_by_capture_only: the event log is written only at commit by the capture triggers'
            USING ERRCODE = 'insufficient_privilege', TABLE = 'events',
                  HINT = 'Change quotes, games or scores, or call tickerboard_emit(event, key, payload); the event is logged when you commit.';
    END IF;
    RETURN NULL;
END
$$;

-- tickerboard_capture_switch makes p_mode the capture: it takes the board tables'
-- locks (waiting at most lock_timeout for writers to commit), turns the capture
-- triggers on or off, and records the mode, all in one transaction. Called by the
-- leading app instance; returns the mode that was in force before.
CREATE FUNCTION tickerboard_capture_switch(p_mode text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    was text;
    verb text := CASE p_mode WHEN 'wal' THEN 'DISABLE' WHEN 'triggers' THEN 'ENABLE' END;
    t text[];
BEGIN
    IF verb IS NULL THEN
        RAISE EXCEPTION 'capture_mode_valid: capture mode must be wal or triggers, not %', to_json(p_mode)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'capture_mode_valid';
    END IF;
    SELECT m.mode INTO was FROM capture_mode m FOR UPDATE;
    IF was = p_mode THEN
        RETURN was;
    END IF;
    LOCK TABLE quotes, games, scores, market IN SHARE ROW EXCLUSIVE MODE;
    FOREACH t SLICE 1 IN ARRAY ARRAY[
        ['quotes', 'quotes_emit_insert'], ['quotes', 'quotes_emit_update'], ['quotes', 'quotes_emit_delete'],
        ['quotes', 'quotes_ticks_insert'], ['quotes', 'quotes_ticks_update'],
        ['games', 'games_emit_insert'], ['games', 'games_emit_update'], ['games', 'games_emit_delete'],
        ['scores', 'scores_emit_insert'], ['scores', 'scores_emit_update'], ['scores', 'scores_emit_delete'],
        ['market', 'market_emit_insert'], ['market', 'market_emit_update'], ['market', 'market_emit_delete']] LOOP
        EXECUTE format('ALTER TABLE %I %s TRIGGER %I', t[1], verb, t[2]);
    END LOOP;
    UPDATE capture_mode SET mode = p_mode, changed_at = now();
    RETURN was;
END
$$;

-- tickerboard_full_xid is the 64-bit id of a decoded transaction from its 32-bit xid
-- (what the replication stream carries): it committed before p_now began, so it is in
-- p_now's epoch or, if above p_now's own 32 bits, the one before. A plain SQL
-- expression, so it is inlined where it is used.
CREATE FUNCTION tickerboard_full_xid(p_xid bigint, p_now xid8) RETURNS xid8 LANGUAGE sql IMMUTABLE AS $$
    SELECT (((p_now::text::bigint >> 32) << 32) + p_xid
            - CASE WHEN p_xid > (p_now::text::bigint & 4294967295) THEN 4294967296 ELSE 0 END)::text::xid8
$$;

-- tickerboard_capture_apply appends decoded transactions to the log, in one call for
-- as many transactions as the leader has received. Changes come in two forms, numbered
-- together in commit order by ord:
--   * events the leader built itself (p_ord … p_x, arrays of one length): price
--     events, the busiest, whose payload it writes exactly as quote_json does;
--   * p_changes, a JSON array of row changes for the SQL to turn into events:
--     {"i": ord, "r": relation, "o": "I"|"U"|"D", "n": new row, "k": old row or key
--     (when the key changed, or for a delete), "t": commit time, "x": 32-bit xid},
--     row values in Postgres's text forms.
-- p_prev must be the applied LSN the caller read (so two leaders cannot both append);
-- the progress moves to p_lsn / p_stream_mode in the same transaction. Rows that break
-- the log's rules are skipped and counted, never allowed to stop the capture. Returns
-- the first id written, how many, how many skipped.
CREATE FUNCTION tickerboard_capture_apply(p_prev pg_lsn, p_lsn pg_lsn, p_stream_mode text, p_changes jsonb,
                                          p_ord bigint[], p_event text[], p_key text[], p_payload text[],
                                          p_at text[], p_x bigint[],
                                          OUT first_id bigint, OUT written bigint, OUT skipped bigint)
LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
    me xid8 := pg_current_xact_id();
    note text;
    xids xid8[];
BEGIN
    UPDATE capture_progress SET applied_lsn = p_lsn, stream_mode = p_stream_mode
    WHERE applied_lsn IS NOT DISTINCT FROM p_prev;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tickerboard_capture_conflict: the capture has moved past %; another instance applied it', p_prev
            USING ERRCODE = 'serialization_failure';
    END IF;
    written := 0;
    skipped := 0;
    IF coalesce(jsonb_array_length(p_changes), 0) = 0 AND coalesce(cardinality(p_ord), 0) = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT tickerboard_full_xid(x, me)) INTO xids
    FROM (SELECT unnest(p_x) AS x
          UNION ALL
          SELECT (c->>'x')::bigint FROM jsonb_array_elements(coalesce(p_changes, '[]')) c WHERE c ? 'x') t;
    -- A commit is in the WAL (and so decoded) a moment before other sessions see it.
    -- An event must not be readable before its change is: a snapshot that reads the
    -- event's id must also show the change. So wait (microseconds, in practice)
    -- until every writer of the batch is visible to a fresh snapshot.
    FOR i IN 1..20000 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM unnest(xids) x WHERE NOT pg_visible_in_snapshot(x, pg_current_snapshot()));
        IF i = 20000 THEN
            RAISE EXCEPTION 'tickerboard_capture_invisible: a decoded transaction is still not visible after 2 s';
        END IF;
        PERFORM pg_sleep(0.0001);
    END LOOP;

    PERFORM pg_advisory_xact_lock(7294615230471);
    SELECT greatest(
        (SELECT coalesce(max(e.id), 0) FROM events e),
        (SELECT p.through FROM events_pruned p),
        (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM events_id_seq s))
    INTO base;
    PERFORM set_config('tickerboard.flushing', 'apply:' || pg_current_xact_id()::text, true);

    -- One statement: the events (those the leader built, which keep the log's rules,
    -- and those made here from row changes, checked against them: what the log's
    -- CHECKs would refuse is skipped and counted, so no row can stop the capture), the
    -- sparkline's ticks (a new or changed price of a quote that still exists), and
    -- the notification's text.
    WITH built AS (
        SELECT u.ord, 1 AS sub, u.event, u.key, u.payload::jsonb AS payload, u.at::timestamptz AS created_at,
               tickerboard_full_xid(u.x, me) AS xid, true AS valid
        FROM unnest(p_ord, p_event, p_key, p_payload, p_at, p_x) AS u(ord, event, key, payload, at, x)
    ), made AS (
        SELECT (c.ch->>'i')::bigint AS ord, e.sub, e.event, e.key, e.payload, (c.ch->>'t')::timestamptz AS created_at,
               tickerboard_full_xid((c.ch->>'x')::bigint, me) AS xid
        FROM jsonb_array_elements(coalesce(p_changes, '[]')) AS c(ch)
        CROSS JOIN LATERAL (
            -- the old key's delete, when a row left its key (or a play its game)
            SELECT 0 AS sub,
                   CASE c.ch->>'r' WHEN 'quotes' THEN 'price' WHEN 'games' THEN 'score' WHEN 'scores' THEN 'play' ELSE 'market' END AS event,
                   CASE c.ch->>'r' WHEN 'quotes' THEN c.ch->'k'->>'symbol' WHEN 'games' THEN c.ch->'k'->>'id'
                                   WHEN 'scores' THEN c.ch->'k'->>'game_id' ELSE '' END AS key,
                   CASE c.ch->>'r'
                       WHEN 'quotes' THEN jsonb_build_object('symbol', c.ch->'k'->>'symbol', 'deleted', true, 'updated_at', c.ch->'t')
                       WHEN 'games' THEN jsonb_build_object('id', (c.ch->'k'->>'id')::bigint, 'deleted', true, 'updated_at', c.ch->'t')
                       WHEN 'scores' THEN jsonb_build_object('id', (c.ch->'k'->>'id')::bigint, 'game_id', (c.ch->'k'->>'game_id')::bigint,
                                                             'deleted', true, 'created_at', c.ch->'t')
                       ELSE 'null'::jsonb END AS payload
            WHERE c.ch->>'r' IN ('quotes', 'games', 'scores', 'market')
              AND (c.ch->>'o' = 'D'
                   OR (c.ch->>'o' = 'U' AND c.ch->>'r' = 'quotes' AND c.ch->'k'->>'symbol' <> c.ch->'n'->>'symbol')
                   OR (c.ch->>'o' = 'U' AND c.ch->>'r' = 'games' AND c.ch->'k'->>'id' <> c.ch->'n'->>'id')
                   OR (c.ch->>'o' = 'U' AND c.ch->>'r' = 'scores'
                       AND (c.ch->'k'->>'id' <> c.ch->'n'->>'id' OR c.ch->'k'->>'game_id' <> c.ch->'n'->>'game_id')))
            UNION ALL
            -- the row as it is now
            SELECT 1, 'price', c.ch->'n'->>'symbol', quote_json(jsonb_populate_record(NULL::quotes, c.ch->'n'))
            WHERE c.ch->>'r' = 'quotes' AND c.ch->>'o' <> 'D'
            UNION ALL
            SELECT 1, 'score', c.ch->'n'->>'id', game_json(jsonb_populate_record(NULL::games, c.ch->'n'))
            WHERE c.ch->>'r' = 'games' AND c.ch->>'o' <> 'D'
            UNION ALL
            SELECT 1, 'play', c.ch->'n'->>'game_id', play_json(jsonb_populate_record(NULL::scores, c.ch->'n'))
            WHERE c.ch->>'r' = 'scores' AND c.ch->>'o' <> 'D'
            UNION ALL
            SELECT 1, 'market', '', market_json(jsonb_populate_record(NULL::market, c.ch->'n'))
            WHERE c.ch->>'r' = 'market' AND c.ch->>'o' <> 'D'
            UNION ALL
            SELECT 1, c.ch->'n'->>'event', c.ch->'n'->>'key', (c.ch->'n'->>'payload')::jsonb
            WHERE c.ch->>'r' = 'capture_emit' AND c.ch->>'o' = 'I'
        ) e
    ), rows AS (
        SELECT * FROM built
        UNION ALL
        SELECT m.*, (m.event IS NOT NULL AND m.key IS NOT NULL AND m.payload IS NOT NULL AND m.created_at IS NOT NULL
                     AND m.event ~ '^[a-z][a-z0-9_-]{0,31}$'
                     AND char_length(m.key) <= 64 AND m.key !~ '[\x01-\x1f\x7f-\x9f\u2028\u2029]'
                     AND isfinite(m.created_at)
                     AND octet_length(m.payload::text) <= 16384) IS TRUE
        FROM made m
    ), ins AS (
        INSERT INTO events (id, event, key, payload, created_at, xid)
        SELECT base + row_number() OVER (ORDER BY r.ord, r.sub), r.event, r.key, r.payload, r.created_at, r.xid
        FROM rows r WHERE r.valid
        RETURNING id, event, key, payload, created_at, xid
    ), ticks AS (
        -- A batch spans milliseconds: its last price of each symbol is the tick (every
        -- change is one when changes come one at a time).
        INSERT INTO price_ticks (symbol, price, ts)
        SELECT t.symbol, t.price, t.ts
        FROM (SELECT DISTINCT ON (i.key) i.key AS symbol, (i.payload->>'price')::numeric AS price,
                     (i.payload->>'updated_at')::timestamptz AS ts
              FROM ins i
              WHERE i.event = 'price' AND NOT i.payload ? 'deleted'
              ORDER BY i.key, i.id DESC) t
        JOIN quotes q ON q.symbol = t.symbol
        WHERE t.price IS DISTINCT FROM (SELECT pt.price FROM price_ticks pt WHERE pt.symbol = t.symbol ORDER BY pt.ts DESC LIMIT 1)
    )
    SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM rows WHERE NOT rows.valid),
           -- The notification carries the events themselves when they fit (NOTIFY takes
           -- 8000 bytes), so listening instances need not read the log for them; else
           -- the first id, a doorbell. Instances believe carried events only from the
           -- session holding the capture's advisory lock (store.CaptureLockKey): anyone
           -- may NOTIFY on this channel.
           (SELECT json_agg(json_build_object('id', i.id, 'event', i.event, 'key', i.key, 'payload', i.payload,
                                              'created_at', i.created_at, 'xid', i.xid::text::bigint) ORDER BY i.id)::text
            FROM (SELECT * FROM ins LIMIT 33) i HAVING count(*) <= 32)
    INTO written, skipped, note;
    PERFORM set_config('tickerboard.flushing', '', true);

    IF written > 0 THEN
        first_id := base + 1;
        PERFORM setval('events_id_seq', base + written);
        IF note IS NULL OR octet_length(note) > 7900 THEN
            note := first_id::text;
        END IF;
        PERFORM pg_notify('tickerboard', note);
    END IF;
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['tickerboard_emit(text, text, jsonb)', 'tables_truncated()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
    FOREACH f IN ARRAY ARRAY['tickerboard_emit_check(text, text, jsonb)', 'events_capture_only()',
                             'tickerboard_capture_switch(text)',
                             'tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[])'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
ALTER FUNCTION tickerboard_capture_switch(text) SET lock_timeout = '5s';
ALTER FUNCTION tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[])
    SET lock_timeout = '5s';

-- Only the owner (the app) switches and applies; writers may see which capture runs.
REVOKE ALL ON capture_mode, capture_progress, capture_emit FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tickerboard_capture_switch(text),
    tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]),
    tickerboard_emit_check(text, text, jsonb) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickerboard_writer') THEN
        GRANT SELECT ON capture_mode, capture_progress TO tickerboard_writer;
    END IF;
END
$$;
