-- Tables first: CASCADE also drops the JSON functions that take their row types.
DROP TABLE IF EXISTS scores, games, price_ticks, quotes, events, events_pruned, events_commit CASCADE;
DROP FUNCTION IF EXISTS tables_truncated(), scores_stage(), scores_tally(), scores_check(),
    games_stage(), games_fill(), quotes_stage(), quotes_record_ticks(), quotes_fill(),
    tickerboard_emit(text, text, jsonb), tickerboard_flush(), tickerboard_staged(), tickerboard_pending();
