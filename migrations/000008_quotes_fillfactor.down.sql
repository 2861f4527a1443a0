ALTER TABLE quotes RESET (fillfactor);
