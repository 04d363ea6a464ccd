-- The same partial index as the Postgres migration of this number: tickets whose due date
-- precedes their creation, in created_at order. hub/sqlite does not split its "due before X"
-- query on it (SQLite lists stay single statements); the index keeps the schemas in step and
-- costs nothing, as it holds only back-dated tickets.
CREATE INDEX idx_tickets_due_early ON tickets (created_at, id) WHERE due_date < created_at AND deleted_at IS NULL;
