-- Back to 000005's append (its body verbatim, without the lock on quotes first).

CREATE OR REPLACE FUNCTION tickerboard_capture_append(p_prev pg_lsn, p_lsn pg_lsn, p_stream_mode text, p_changes jsonb,
                                          p_ord bigint[], p_event text[], p_key text[], p_payload text[],
                                          p_at text[], p_x bigint[],
                                          OUT first_id bigint, OUT written bigint, OUT skipped bigint,
                                          OUT note text)
LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
    me xid8 := pg_current_xact_id();
    xids xid8[];
    sub int[];
    m_ord bigint[];
    m_sub int[];
    m_event text[];
    m_key text[];
    m_payload text[];
    m_at text[];
    m_x bigint[];
    flag text;
BEGIN
    UPDATE capture_progress SET applied_lsn = p_lsn, stream_mode = p_stream_mode
    WHERE applied_lsn IS NOT DISTINCT FROM p_prev;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tickerboard_capture_conflict: the capture has moved past %; another instance applied it', p_prev
            USING ERRCODE = 'serialization_failure';
    END IF;
    written := 0;
    skipped := 0;
    -- Row changes become events here (the leader built the price events itself):
    -- what the log's CHECKs would refuse is skipped and counted, so no row can stop
    -- the capture. Most batches have none, and skip this statement altogether.
    IF coalesce(jsonb_array_length(p_changes), 0) > 0 THEN
        WITH made AS (
        SELECT (c.ch->>'i')::bigint AS ord, e.sub, e.event, e.key, e.payload, (c.ch->>'t')::timestamptz AS created_at,
               (c.ch->>'x')::bigint AS x
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
        ), checked AS (
            SELECT m.*, (m.event IS NOT NULL AND m.key IS NOT NULL AND m.payload IS NOT NULL AND m.created_at IS NOT NULL
                         AND m.event ~ '^[a-z][a-z0-9_-]{0,31}$'
                         AND char_length(m.key) <= 64 AND m.key !~ '[\x01-\x1f\x7f-\x9f\u2028\u2029]'
                         AND isfinite(m.created_at)
                         AND octet_length(m.payload::text) <= 16384) IS TRUE AS valid
            FROM made m
        )
        SELECT array_agg(c.ord) FILTER (WHERE c.valid), array_agg(c.sub) FILTER (WHERE c.valid),
               array_agg(c.event) FILTER (WHERE c.valid), array_agg(c.key) FILTER (WHERE c.valid),
               array_agg(c.payload::text) FILTER (WHERE c.valid), array_agg(c.created_at::text) FILTER (WHERE c.valid),
               array_agg(c.x) FILTER (WHERE c.valid), count(*) FILTER (WHERE NOT c.valid)
        INTO m_ord, m_sub, m_event, m_key, m_payload, m_at, m_x, skipped
        FROM checked c;
    END IF;
    IF coalesce(cardinality(p_ord), 0) + coalesce(cardinality(m_ord), 0) = 0 THEN
        RETURN;
    END IF;
    sub := array_fill(1, ARRAY[coalesce(cardinality(p_ord), 0)]);
    SELECT array_agg(DISTINCT tickerboard_full_xid(x, me)) INTO xids FROM unnest(p_x || m_x) x;
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
        (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM events_id_seq s)),
        set_config('tickerboard.flushing', 'apply:' || pg_current_xact_id()::text, true)
    INTO base, flag;

    -- One statement: the events (the leader's and those made above, numbered in
    -- commit order), the sparkline's ticks (a new or changed price of a quote that
    -- still exists), and the notification's text.
    WITH rows AS (
        SELECT u.ord, u.sub, u.event, u.key, u.payload::jsonb AS payload, u.at::timestamptz AS created_at,
               tickerboard_full_xid(u.x, me) AS xid
        FROM unnest(p_ord || m_ord, sub || m_sub, p_event || m_event, p_key || m_key, p_payload || m_payload,
                    p_at || m_at, p_x || m_x) AS u(ord, sub, event, key, payload, at, x)
    ), ins AS (
        INSERT INTO events (id, event, key, payload, created_at, xid)
        SELECT base + row_number() OVER (ORDER BY r.ord, r.sub), r.event, r.key, r.payload, r.created_at, r.xid
        FROM rows r
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
    SELECT (SELECT count(*) FROM ins),
           -- The notification carries the events themselves when they fit (NOTIFY takes
           -- 8000 bytes), so listening instances need not read the log for them; else
           -- the first id, a doorbell. Instances believe carried events only from the
           -- session holding the capture's advisory lock (store.CaptureLockKey): anyone
           -- may NOTIFY on this channel.
           (SELECT json_agg(json_build_object('id', i.id, 'event', i.event, 'key', i.key, 'payload', i.payload,
                                              'created_at', i.created_at, 'xid', i.xid::text::bigint) ORDER BY i.id)::text
            FROM (SELECT * FROM ins LIMIT 33) i HAVING count(*) <= 32)
    INTO written, note;

    -- (One statement each way: at a few hundred calls a second, a call's statements
    -- cost more than its rows.)
    IF written > 0 THEN
        first_id := base + 1;
        IF note IS NULL OR octet_length(note) > 7900 THEN
            note := first_id::text;
        END IF;
        PERFORM set_config('tickerboard.flushing', '', true), setval('events_id_seq', base + written),
                pg_notify('tickerboard', note);
    ELSE
        PERFORM set_config('tickerboard.flushing', '', true);
    END IF;
END
$$;

-- (CREATE OR REPLACE resets a function's settings: they are set again, as 000005 set them.)
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION tickerboard_capture_append(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]) SET search_path = %I, pg_temp', current_schema());
END
$$;
ALTER FUNCTION tickerboard_capture_append(pg_lsn, pg_lsn, text, jsonb, bigint[], text[], text[], text[], text[], bigint[]) SET lock_timeout = '5s';
