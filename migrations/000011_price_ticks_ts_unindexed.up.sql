-- The sparkline ticks' index on ts goes, as the log's on created_at did (000010): every
-- tick the capture appends paid an index insert and a WAL record for it (one tick per
-- price change when changes come one at a time), and its one use was pruning. Pruning
-- now goes symbol by symbol through the (symbol, ts) index the sparkline reads with:
-- the symbols found by skipping through that index (one probe each), then each one's
-- old ticks.
DROP INDEX price_ticks_ts;
