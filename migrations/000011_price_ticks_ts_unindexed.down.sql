CREATE INDEX price_ticks_ts ON price_ticks (ts);
