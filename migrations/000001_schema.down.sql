-- Tables first: CASCADE also drops the JSON functions that take their row types.
DROP TABLE IF EXISTS scores, games, price_ticks, quotes, events, events_pruned CASCADE;
DROP FUNCTION IF EXISTS tables_truncated(), scores_emit(), scores_apply(), scores_check(),
    games_emit(), games_fill(), quotes_emit(), quotes_record_ticks(), quotes_fill(),
    tickerboard_emit(text, text, jsonb);
