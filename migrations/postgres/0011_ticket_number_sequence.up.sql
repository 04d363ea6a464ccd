-- Ticket numbers come from a sequence instead of the counters row. nextval takes no lock; the
-- row's lock was held by every transaction that created a ticket until it committed, which
-- put concurrent pushes that create tickets (and API creates) in single file for their whole
-- write. As with any sequence, a number taken by a transaction that rolls back is skipped.
CREATE SEQUENCE ticket_number_seq;
SELECT setval('ticket_number_seq', greatest(value, 1), value > 0) FROM counters WHERE name = 'ticket_number';
DELETE FROM counters WHERE name = 'ticket_number';
