-- Indexes that keep the ticket list fast on large tables, as in the Postgres migration of the
-- same number: a (filter, created_at, id) index per common filter, partial on live tickets, so
-- a filtered newest-first page is a range scan that stops after one page. SQLite has no
-- trigram index, so text search scans here; the Postgres side adds one.
CREATE INDEX idx_tickets_status_created ON tickets (status, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_tickets_zone_created ON tickets (zone, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_tickets_team_created ON tickets (assigned_team, created_at, id) WHERE deleted_at IS NULL;
