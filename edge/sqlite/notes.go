package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// Notes are rows of entity "note" like any replicated row: made here, a note is applied to
// its row and queued in the outbox in one transaction (so it survives being offline), and
// notes from the hub arrive through the same merge as tickets. The rows table's
// assigned_team column holds a note's ticket id (as it holds a user's team id), so a
// ticket's notes are one index range.

func noteOf(r merge.Row) (domain.Note, error) {
	var n domain.Note
	err := decodeRow(r, &n)
	return n, err
}

// CreateNote stores a note made on this edge on a live ticket it holds and queues its create
// change, in one transaction. ID and times are filled if empty; the zone is the ticket's.
// Returns CodeNotFound for an unknown or deleted ticket, CodeInvalid for an invalid note,
// CodeConflict if the ID is taken.
func (s *Store) CreateNote(ctx context.Context, n domain.Note) (domain.Note, error) {
	if n.ID != "" && !domain.ValidID(n.ID) {
		return n, domain.FieldErrorf("id", "id %q is not a ulid", n.ID)
	}
	err := s.write(ctx, func(tx *tx) error {
		tr, err := tx.row(ctx, domain.EntityTicket, n.TicketID)
		if err != nil {
			return err
		}
		if len(tr.Changes) == 0 || tr.Deleted != nil {
			return domain.Errorf(domain.CodeNotFound, "ticket %q not found", n.TicketID)
		}
		tk, err := ticketOf(tr)
		if err != nil {
			return err
		}
		if n, err = n.Place(tk, actor(ctx), tx.now); err != nil {
			return err
		}
		if r, err := tx.row(ctx, domain.EntityNote, n.ID); err != nil {
			return err
		} else if len(r.Changes) > 0 {
			return domain.Errorf(domain.CodeConflict, "note %s already exists", n.ID)
		}
		_, _, err = tx.local(ctx, domain.EntityNote, n.ID, n.Zone, domain.OpUpsert, nil, n)
		return err
	})
	return n, err
}

// ListNotes returns the live notes of a live ticket held here, oldest first, the ones made
// here and not yet pushed included. Returns CodeNotFound for an unknown or deleted ticket.
func (s *Store) ListNotes(ctx context.Context, ticketID string) ([]domain.Note, error) {
	if _, err := s.GetTicket(ctx, ticketID); err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT doc FROM rows WHERE entity = 'note' AND assigned_team = ? AND deleted = 0
		ORDER BY created_at, id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	defer rows.Close()
	out := []domain.Note{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("list notes: %w", err)
		}
		var n domain.Note
		if err := json.Unmarshal([]byte(doc), &n); err != nil {
			return nil, fmt.Errorf("decode note: %w", err)
		}
		if n.ID == "" {
			continue // entered the scope without its history yet (fetched with /rows)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
