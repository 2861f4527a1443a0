-- The log's index on created_at goes. Every event paid for it (an index insert and a
-- WAL record, which the WAL sender then reads too: about one record in four of a
-- price change's), and its one use was pruning: "the newest event older than the
-- retention". Pruning now walks the log in id order (its primary key) from the front
-- and stops at the first event that is not old enough, reading only what it is about
-- to delete. (Ids follow commit order, and so, nearly, do the times: where they do
-- not, pruning stops at the first younger event, so no event younger than the
-- retention is ever cut.)
DROP INDEX events_created_at;
