-- "Due before X" under the default created_at sort (hub/postgres ListTickets, splitsOnDue).
--
-- A ticket falls due after it is created, so the tickets due before X are those created before
-- X and due before X (a range of the created_at index ending at X) plus the few created at or
-- after X yet due before X, whose due date precedes their creation (a back-dated due date).
-- This partial index holds only those few, in created_at order, so the list reads both halves
-- as short ordered range scans instead of filtering every ticket newer than X.
CREATE INDEX idx_tickets_due_early ON tickets (created_at, id) WHERE due_date < created_at AND deleted_at IS NULL;
