-- The market's session: pre-open, open or closed, from the price feed's simulated
-- trading day. It lives in the database like every other part of the board, so a psql
-- user can change it (UPDATE market SET session = 'closed'), every instance serves the
-- same one, and a change reaches viewers as a `market` event through the capture path
-- of 000002: a statement trigger stages the row, SECURITY DEFINER with a pinned
-- search_path, flushed at commit; TRUNCATE is a reset.

-- One row (id = true): the market is one thing. day counts trading days since the
-- feed first ran; opens_at/closes_at are the current (or next) session's bounds.
CREATE TABLE market (
    id         boolean PRIMARY KEY DEFAULT true CONSTRAINT market_one_row CHECK (id),
    session    text NOT NULL DEFAULT 'closed'
               CONSTRAINT market_session_valid CHECK (session IN ('pre-open', 'open', 'closed')),
    day        int NOT NULL DEFAULT 0,
    opens_at   timestamptz NOT NULL DEFAULT now() CONSTRAINT market_opens_at_finite CHECK (isfinite(opens_at)),
    closes_at  timestamptz NOT NULL DEFAULT now() CONSTRAINT market_closes_at_finite CHECK (isfinite(closes_at)),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- The row exists before any feed runs, so an UPDATE from psql always has one to change.
-- Inserted before the capture trigger: migrating is not news.
INSERT INTO market DEFAULT VALUES;

CREATE FUNCTION market_json(m market) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('session', m.session, 'day', m.day, 'opens_at', m.opens_at,
                              'closes_at', m.closes_at, 'updated_at', m.updated_at)
$$;

CREATE FUNCTION market_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;
CREATE TRIGGER market_fill BEFORE INSERT OR UPDATE ON market
    FOR EACH ROW EXECUTE FUNCTION market_fill();

-- event: market, key '' — the row as JSON, or JSON null when it is deleted.
CREATE FUNCTION market_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM tickerboard_pending();
    IF TG_OP = 'DELETE' THEN
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'market', '', 'null'::jsonb FROM old_rows o;
    ELSE
        INSERT INTO pg_temp.tickerboard_pending (event, key, payload)
        SELECT 'market', '', market_json(m) FROM new_rows m;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM tickerboard_staged();
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER market_emit_insert AFTER INSERT ON market
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION market_stage();
CREATE TRIGGER market_emit_update AFTER UPDATE ON market
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION market_stage();
CREATE TRIGGER market_emit_delete AFTER DELETE ON market
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION market_stage();
CREATE TRIGGER market_truncated AFTER TRUNCATE ON market
    FOR EACH STATEMENT EXECUTE FUNCTION tables_truncated();

-- tickerboard_emit as in 000002, with `market` reserved: it comes from the market table.
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

-- CREATE OR REPLACE resets a function's SECURITY and SET clauses, so tickerboard_emit
-- gets 000002's again, and the new functions theirs.
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['tickerboard_emit(text, text, jsonb)', 'market_stage()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
    FOREACH f IN ARRAY ARRAY['market_fill()', 'market_json(market)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;

-- tickerboard_writer may read the market and change its row, not add or remove it.
REVOKE ALL ON market FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickerboard_writer') THEN
        GRANT SELECT, UPDATE ON market TO tickerboard_writer;
    END IF;
END
$$;
