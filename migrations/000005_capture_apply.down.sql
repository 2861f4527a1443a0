-- Back to 000004's apply (no append returning the notification's text).
DROP FUNCTION tickerboard_capture_append(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]);
DROP FUNCTION tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]);

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
BEGIN
    EXECUTE format('ALTER FUNCTION tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]) SET search_path = %I, pg_temp', current_schema());
END
$$;
ALTER FUNCTION tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]) SET lock_timeout = '5s';
REVOKE EXECUTE ON FUNCTION tickerboard_capture_apply(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]) FROM PUBLIC;
