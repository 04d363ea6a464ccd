-- changes.patch keeps the exact bytes of each patch, as SQLite's TEXT column does: jsonb
-- re-serializes values (spaces after commas, its own number and escape forms), so a patch read
-- back from the log would differ byte-wise from the one written and from the same change on an
-- edge. json stores the text verbatim and still checks it is valid JSON.
ALTER TABLE changes ALTER COLUMN patch DROP DEFAULT;
ALTER TABLE changes ALTER COLUMN patch TYPE JSON USING patch::json;
ALTER TABLE changes ALTER COLUMN patch SET DEFAULT '{}';
