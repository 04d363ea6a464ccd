-- Indexes that keep the ticket list fast at a million tickets (hub/postgres BenchmarkListTickets).
--
-- A list page is "live tickets matching a filter, newest first, 50 at a time". The common
-- filters (status, zone, team) get a (filter, created_at, id) index each, so such a page is a
-- range scan that stops after 51 rows however large the table; they are partial (deleted_at IS
-- NULL) because every list excludes tombstones. The plain (created_at, id) index of 0001 serves
-- the unfiltered list and rarer filters.
CREATE INDEX idx_tickets_status_created ON tickets (status, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_tickets_zone_created ON tickets (zone, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_tickets_team_created ON tickets (assigned_team, created_at, id) WHERE deleted_at IS NULL;

-- Text search ("q") matches a lowercase substring of the ticket number, title, description and
-- location. ticket_search_text joins them with a separator no query contains (hub/postgres
-- searches field by field when one does), so one expression serves both the query and the
-- trigram index below.
CREATE FUNCTION ticket_search_text(number BIGINT, title TEXT, description TEXT, location TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower('tkt-' || CASE WHEN number < 1000000 THEN lpad(number::text, 6, '0') ELSE number::text END
        || E'\x01' || title || E'\x01' || description || E'\x01' || location) $$;

-- A trigram GIN index turns LIKE '%text%' into an index lookup. pg_trgm ships with Postgres but
-- creating it needs a privileged role; without it the search still works, by scanning. The
-- extension goes into public, once per database (a database-wide lock keeps replicas and
-- parallel test schemas from racing), and its operator class is named with its schema so the
-- index builds whatever the search_path.
DO $$
DECLARE
    nsp TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('aiff.create_extension.pg_trgm'));
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm unavailable (%): ticket text search will scan', SQLERRM;
    END;
    SELECT n.nspname INTO nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    IF nsp IS NOT NULL THEN
        EXECUTE format('CREATE INDEX idx_tickets_search ON tickets USING gin '
            '(ticket_search_text(number, title, description, location) %I.gin_trgm_ops) WHERE deleted_at IS NULL', nsp);
    END IF;
END
$$;
