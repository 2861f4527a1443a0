DROP TRIGGER quotes_ticks_delete ON quotes;
DROP TRIGGER quotes_ticks_rename ON quotes;
DROP TRIGGER quotes_ticks_truncate ON quotes;
DROP FUNCTION quotes_ticks_follow();
DROP FUNCTION quotes_ticks_truncate();
DELETE FROM price_ticks t WHERE NOT EXISTS (SELECT 1 FROM quotes q WHERE q.symbol = t.symbol);
ALTER TABLE price_ticks ADD CONSTRAINT price_ticks_symbol_fkey
    FOREIGN KEY (symbol) REFERENCES quotes (symbol) ON UPDATE CASCADE ON DELETE CASCADE;
