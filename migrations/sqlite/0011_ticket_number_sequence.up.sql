-- The Postgres hub moved ticket numbers to a sequence in this step. The SQLite hub has one
-- writer at a time, so its counters row never makes writers wait on each other: unchanged.
SELECT 1;
