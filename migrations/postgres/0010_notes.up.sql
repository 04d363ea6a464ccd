-- Ticket notes: short remarks technicians write on a ticket, often offline on an edge. Each
-- note is its own row (never a field of the ticket), so concurrent notes on one ticket all
-- survive merge. zone is always the ticket's zone (kept so when the ticket moves) because the
-- change log and every replica scope rows by zone.
CREATE TABLE notes (
    id         TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    zone       TEXT NOT NULL,
    author     TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX idx_notes_ticket ON notes (ticket_id, created_at);
