-- Back to 000003: the triggers are the only capture.
DO $$
BEGIN
    IF (SELECT m.mode FROM capture_mode m) = 'wal' THEN
        PERFORM tickerboard_capture_switch('triggers');
    END IF;
END
$$;
DROP PUBLICATION tickerboard;
ALTER TABLE events DROP COLUMN xid;
ALTER TABLE scores REPLICA IDENTITY DEFAULT;
DROP FUNCTION tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]),
    tickerboard_capture_switch(text), tickerboard_full_xid(bigint, xid8);
DROP TABLE capture_emit, capture_progress;

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
    PERFORM tickerboard_pending();
    INSERT INTO pg_temp.tickerboard_pending (event, key, payload) VALUES (p_event, p_key, p_payload);
    PERFORM tickerboard_staged();
END
$$;
DROP TABLE capture_mode;
DROP FUNCTION tickerboard_emit_check(text, text, jsonb);

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

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['tickerboard_emit(text, text, jsonb)', 'tables_truncated()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
    EXECUTE format('ALTER FUNCTION events_capture_only() SET search_path = %I, pg_temp', current_schema());
END
$$;

-- The WAL capture's replication slot, if no instance is using it (it would keep WAL
-- for a capture that no longer exists). Needs the REPLICATION attribute; otherwise
-- drop it by hand: SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
-- WHERE database = current_database() AND slot_name LIKE 'tickerboard%';
DO $$
BEGIN
    PERFORM pg_catalog.pg_drop_replication_slot(s.slot_name)
    FROM pg_catalog.pg_replication_slots s
    WHERE s.database = current_database() AND s.slot_name LIKE 'tickerboard%' AND NOT s.active;
EXCEPTION WHEN insufficient_privilege OR object_in_use THEN
    RAISE NOTICE 'the WAL capture''s replication slot was not dropped: %', SQLERRM;
END
$$;
