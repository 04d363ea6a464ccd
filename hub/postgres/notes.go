package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
)

const noteCols = "id, ticket_id, zone, author, body, created_at, updated_at, deleted_at"

func scanNote(row pgx.Row) (domain.Note, error) {
	var n domain.Note
	if err := row.Scan(&n.ID, &n.TicketID, &n.Zone, &n.Author, &n.Body, &n.CreatedAt, &n.UpdatedAt, &n.DeletedAt); err != nil {
		return n, err
	}
	n.CreatedAt, n.UpdatedAt, n.DeletedAt = n.CreatedAt.UTC(), n.UpdatedAt.UTC(), utcPtr(n.DeletedAt)
	return n, nil
}

// CreateNote stores n on its ticket and logs it (domain.NoteStore). The ticket row is locked
// first, as a ticket update locks it, so the note takes the zone the ticket has at commit and
// a concurrent move of the ticket either sees the note (and moves it) or comes first.
func (s *Store) CreateNote(ctx context.Context, n domain.Note) (domain.Note, error) {
	if n.ID != "" && !domain.ValidID(n.ID) {
		return domain.Note{}, domain.FieldErrorf("id", "id %q is not a ulid", n.ID)
	}
	in := n
	var out domain.Note
	err := s.write(ctx, func(tx *tx) error {
		n := in
		tk, err := getTicket(ctx, tx, n.TicketID, true)
		if err != nil {
			return err
		}
		if n, err = n.Place(tk, tx.actor, tx.now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO notes (`+noteCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
			n.ID, n.TicketID, n.Zone, n.Author, n.Body, n.CreatedAt, n.UpdatedAt)
		if isUnique(err) {
			return domain.Errorf(domain.CodeConflict, "note %s already exists", n.ID)
		}
		if err != nil {
			return fmt.Errorf("insert note: %w", err)
		}
		patch, err := domain.Diff(nil, n)
		if err != nil {
			return err
		}
		if _, err := tx.appendChange(ctx, domain.EntityNote, n.ID, domain.OpUpsert, n.Zone, patch); err != nil {
			return err
		}
		out = n
		return nil
	})
	return out, err
}

// ListNotes returns the live notes of a live ticket, oldest first (domain.NoteStore).
func (s *Store) ListNotes(ctx context.Context, ticketID string) ([]domain.Note, error) {
	if _, err := getTicket(ctx, s.pool, ticketID, false); err != nil {
		return nil, translate(err)
	}
	rows, err := s.pool.Query(ctx, "SELECT "+noteCols+" FROM notes WHERE ticket_id = $1 AND deleted_at IS NULL ORDER BY created_at, id", ticketID)
	if err != nil {
		return nil, translate(fmt.Errorf("list notes: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Note, error) { return scanNote(r) })
	if err != nil {
		return nil, translate(fmt.Errorf("list notes: %w", err))
	}
	if out == nil {
		out = []domain.Note{}
	}
	return out, nil
}

// rezoneNotes moves the live notes of ticket id to zone after an API write moved the ticket
// (whose row the caller holds locked), logging one change per note, so the notes follow their
// ticket to the replicas of its new zone and leave the old one's (syncstore/notes.go does the
// same for a push).
func (tx *tx) rezoneNotes(ctx context.Context, ticketID, zone string) error {
	rows, err := tx.Query(ctx, "SELECT id FROM notes WHERE ticket_id = $1 AND deleted_at IS NULL AND zone <> $2 ORDER BY id FOR UPDATE", ticketID, zone)
	if err != nil {
		return fmt.Errorf("notes of ticket %s: %w", ticketID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("notes of ticket %s: %w", ticketID, err)
	}
	z, _ := json.Marshal(zone)
	for _, id := range ids {
		if _, err := tx.Exec(ctx, "UPDATE notes SET zone = $1 WHERE id = $2", zone, id); err != nil {
			return fmt.Errorf("move note %s: %w", id, err)
		}
		if _, err := tx.appendChange(ctx, domain.EntityNote, id, domain.OpUpsert, zone, map[string]json.RawMessage{"zone": z}); err != nil {
			return err
		}
	}
	return nil
}

// TicketNotes lists the ids of a ticket's notes for a push (syncstore.Tx).
func (t *syncTx) TicketNotes(ctx context.Context, ticketID string) ([]string, error) {
	rows, err := t.tx.Query(ctx, "SELECT id FROM notes WHERE ticket_id = $1 ORDER BY id", ticketID)
	if err != nil {
		return nil, fmt.Errorf("notes of ticket %s: %w", ticketID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("notes of ticket %s: %w", ticketID, err)
	}
	return ids, nil
}

// lockNotesSQL is LockRows' query for notes.
const lockNotesSQL = "SELECT " + noteCols + " FROM notes WHERE id = ANY($1) ORDER BY id FOR UPDATE"

// scanLockedNote is scanLockedRows for one note.
func scanLockedNote(rows pgx.Rows) (any, string, error) {
	n, err := scanNote(rows)
	return n, n.ID, err
}

// queueNote queues the write of a pushed note (syncstore.Put).
func queueNote(b *pgx.Batch, n domain.Note, insert bool) {
	if insert {
		b.Queue(`INSERT INTO notes (`+noteCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			n.ID, n.TicketID, n.Zone, n.Author, n.Body, utc(n.CreatedAt), utc(n.UpdatedAt), utcPtr(n.DeletedAt))
		return
	}
	b.Queue(`UPDATE notes SET zone = $1, author = $2, body = $3, created_at = $4, updated_at = $5, deleted_at = $6 WHERE id = $7`,
		n.Zone, n.Author, n.Body, utc(n.CreatedAt), utc(n.UpdatedAt), utcPtr(n.DeletedAt), n.ID)
}
