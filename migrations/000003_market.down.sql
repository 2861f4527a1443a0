-- Back to 000002: no market table, and `market` no longer reserved.
DROP FUNCTION market_json(market);
DROP TABLE market;
DROP FUNCTION market_stage(), market_fill();

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
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION tickerboard_emit(text, text, jsonb) SECURITY DEFINER SET search_path = %I, pg_temp', current_schema());
END
$$;
