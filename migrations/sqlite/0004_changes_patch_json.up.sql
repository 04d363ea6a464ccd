-- No-op on SQLite: changes.patch is TEXT, which already keeps each patch's exact bytes. The
-- Postgres migration of the same number turns its jsonb column into json for the same reason.
SELECT 1;
