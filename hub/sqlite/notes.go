package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

const noteCols = "id, ticket_id, zone, author, body, created_at, updated_at, deleted_at"

func scanNote(row interface{ Scan(...any) error }) (domain.Note, error) {
	var (
		n                domain.Note
		created, updated int64
		deleted          sql.NullInt64
	)
	if err := row.Scan(&n.ID, &n.TicketID, &n.Zone, &n.Author, &n.Body, &created, &updated, &deleted); err != nil {
		return n, err
	}
	n.CreatedAt, n.UpdatedAt, n.DeletedAt = fromMicros(created), fromMicros(updated), fromNullMicros(deleted)
	return n, nil
}

// CreateNote stores n on its ticket and logs it (domain.NoteStore). The ticket is read in the
// write transaction, so the note takes the zone the ticket has at commit.
func (s *Store) CreateNote(ctx context.Context, n domain.Note) (domain.Note, error) {
	if n.ID != "" && !domain.ValidID(n.ID) {
		return domain.Note{}, domain.FieldErrorf("id", "id %q is not a ulid", n.ID)
	}
	in := n
	var out domain.Note
	err := s.write(ctx, func(tx *tx) error {
		n := in
		tk, err := getTicket(ctx, tx, n.TicketID)
		if err != nil {
			return err
		}
		if n, err = n.Place(tk, tx.actor, tx.now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notes (`+noteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			n.ID, n.TicketID, n.Zone, n.Author, n.Body, micros(n.CreatedAt), micros(n.UpdatedAt)); err != nil {
			if domain.ErrorCode(translate(err)) == domain.CodeConflict {
				return domain.Errorf(domain.CodeConflict, "note %s already exists", n.ID)
			}
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
	if _, err := getTicket(ctx, s.reader, ticketID); err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT "+noteCols+" FROM notes WHERE ticket_id = ? AND deleted_at IS NULL ORDER BY created_at, id", ticketID)
	if err != nil {
		return nil, translate(fmt.Errorf("list notes: %w", err))
	}
	defer rows.Close()
	out := []domain.Note{}
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, fmt.Errorf("scan note: %w", err)
		}
		out = append(out, n)
	}
	return out, translate(rows.Err())
}

// rezoneNotes moves the live notes of ticket id to zone after an API write moved the ticket,
// logging one change per note, so the notes follow their ticket to the replicas of its new
// zone and leave the old one's (syncstore/notes.go does the same for a push).
func (tx *tx) rezoneNotes(ctx context.Context, ticketID, zone string) error {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM notes WHERE ticket_id = ? AND deleted_at IS NULL AND zone <> ? ORDER BY id", ticketID, zone)
	if err != nil {
		return fmt.Errorf("notes of ticket %s: %w", ticketID, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("notes of ticket %s: %w", ticketID, err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("notes of ticket %s: %w", ticketID, err)
	}
	z, _ := json.Marshal(zone)
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, "UPDATE notes SET zone = ? WHERE id = ?", zone, id); err != nil {
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
	rows, err := t.tx.QueryContext(ctx, "SELECT id FROM notes WHERE ticket_id = ? ORDER BY id", ticketID)
	if err != nil {
		return nil, fmt.Errorf("notes of ticket %s: %w", ticketID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("notes of ticket %s: %w", ticketID, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// lockNotes reads the notes of ids into out (LockRows; the writer connection excludes other
// writers already).
func (t *syncTx) lockNotes(ctx context.Context, ids []string, out map[syncstore.RowKey]any) error {
	for start := 0; start < len(ids); start += 500 {
		ph, args := inList(ids[start:min(len(ids), start+500)])
		rows, err := t.tx.QueryContext(ctx, "SELECT "+noteCols+" FROM notes WHERE id IN ("+ph+")", args...)
		if err != nil {
			return fmt.Errorf("load note rows: %w", err)
		}
		for rows.Next() {
			n, err := scanNote(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("scan note: %w", err)
			}
			out[syncstore.RowKey{Entity: domain.EntityNote, ID: n.ID}] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// putNote writes a pushed note (syncstore.Put).
func (t *syncTx) putNote(ctx context.Context, n domain.Note, insert bool) error {
	if insert {
		if _, err := t.exec(ctx, `INSERT INTO notes (`+noteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			n.ID, n.TicketID, n.Zone, n.Author, n.Body, micros(n.CreatedAt), micros(n.UpdatedAt), microsPtr(n.DeletedAt)); err != nil {
			return fmt.Errorf("insert note: %w", err)
		}
		return nil
	}
	if _, err := t.exec(ctx, `UPDATE notes SET zone = ?, author = ?, body = ?, created_at = ?, updated_at = ?, deleted_at = ? WHERE id = ?`,
		n.Zone, n.Author, n.Body, micros(n.CreatedAt), micros(n.UpdatedAt), microsPtr(n.DeletedAt), n.ID); err != nil {
		return fmt.Errorf("update note: %w", err)
	}
	return nil
}
