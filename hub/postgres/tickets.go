package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
)

const ticketCols = `id, number, title, description, category, priority, status, zone, location, lat, lng, skills,
	assigned_team, assigned_to, due_date, created_at, updated_at, assigned_at, started_at, resolved_at, closed_at,
	customer_rating, deleted_at`

func scanTicket(row pgx.Row) (domain.Ticket, error) {
	var (
		t      domain.Ticket
		number int64
		skills []byte
		rating *int16
	)
	err := row.Scan(&t.ID, &number, &t.Title, &t.Description, &t.Category, &t.Priority, &t.Status, &t.Zone, &t.Location,
		&t.Lat, &t.Lng, &skills, &t.AssignedTeam, &t.AssignedTo, &t.DueDate, &t.CreatedAt, &t.UpdatedAt, &t.AssignedAt,
		&t.StartedAt, &t.ResolvedAt, &t.ClosedAt, &rating, &t.DeletedAt)
	if err != nil {
		return t, err
	}
	t.Number = domain.TicketNumber(number)
	if err := json.Unmarshal(skills, &t.Skills); err != nil {
		return t, fmt.Errorf("decode skills of ticket %s: %w", t.ID, err)
	}
	if t.Skills == nil {
		t.Skills = []string{}
	}
	if rating != nil {
		r := int(*rating)
		t.CustomerRating = &r
	}
	t.DueDate, t.CreatedAt, t.UpdatedAt = t.DueDate.UTC(), t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	t.AssignedAt, t.StartedAt, t.ResolvedAt = utcPtr(t.AssignedAt), utcPtr(t.StartedAt), utcPtr(t.ResolvedAt)
	t.ClosedAt, t.DeletedAt = utcPtr(t.ClosedAt), utcPtr(t.DeletedAt)
	return t, nil
}

// normalizeTicket gives t the exact form the store returns: UTC microsecond times, non-nil
// skills and unaliased pointers, so a stored ticket round-trips equal.
func normalizeTicket(t domain.Ticket) domain.Ticket {
	if t.Skills == nil {
		t.Skills = []string{}
	} else {
		t.Skills = slices.Clone(t.Skills)
	}
	t.DueDate, t.CreatedAt, t.UpdatedAt = trunc(t.DueDate), trunc(t.CreatedAt), trunc(t.UpdatedAt)
	t.AssignedAt, t.StartedAt, t.ResolvedAt = utcPtr(t.AssignedAt), utcPtr(t.StartedAt), utcPtr(t.ResolvedAt)
	t.ClosedAt, t.DeletedAt = utcPtr(t.ClosedAt), utcPtr(t.DeletedAt)
	t.Lat, t.Lng = cleanFloat(t.Lat), cleanFloat(t.Lng)
	if t.AssignedTeam != nil && *t.AssignedTeam == "" {
		t.AssignedTeam = nil
	}
	return t
}

// parseNumber reads "TKT-000123" as 123.
func parseNumber(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "TKT-"), 10, 64)
	return n, err == nil && n > 0 && strings.HasPrefix(s, "TKT-")
}

func ratingArg(r *int) any {
	if r == nil {
		return nil
	}
	return int16(*r)
}

// CreateTicket stores t, filling ID, Number (from the ticket_number counter), status open,
// CreatedAt/UpdatedAt (now) and DueDate (CreatedAt + SLA) when empty. Returns CodeInvalid with
// field zone or assigned_team for an unknown reference and CodeConflict if the ID or number is
// taken.
func (s *Store) CreateTicket(ctx context.Context, t domain.Ticket) (domain.Ticket, error) {
	if t.Status == "" {
		t.Status = domain.StatusOpen
	}
	if t.ID != "" && !domain.ValidID(t.ID) {
		return domain.Ticket{}, domain.FieldErrorf("id", "id %q is not a ulid", t.ID)
	}
	var given int64
	if t.Number != "" {
		n, ok := parseNumber(t.Number)
		if !ok {
			return domain.Ticket{}, domain.FieldErrorf("ticket_number", "ticket_number %q is not like TKT-000123", t.Number)
		}
		given = n
	}
	t.DeletedAt = nil
	in := t
	var out domain.Ticket
	err := s.write(ctx, func(tx *tx) error {
		t, number := in, given
		if t.ID == "" {
			t.ID = domain.NewID(tx.now)
		}
		if t.CreatedAt.IsZero() {
			t.CreatedAt = tx.now
		}
		if t.UpdatedAt.IsZero() {
			t.UpdatedAt = t.CreatedAt
		}
		if t.DueDate.IsZero() && t.Priority.Valid() {
			t.DueDate = t.CreatedAt.Add(t.Priority.SLA())
		}
		t = normalizeTicket(t)
		if err := t.Validate(); err != nil {
			return err
		}
		if err := tx.checkTicketRefs(ctx, nil, t); err != nil {
			return err
		}
		if number == 0 {
			nums, err := takeTicketNumbers(ctx, tx, 1)
			if err != nil {
				return err
			}
			number = nums[0]
		} else if _, err := tx.Exec(ctx, advanceTicketNumbersSQL, number); err != nil {
			return fmt.Errorf("bump ticket number: %w", err)
		}
		t.Number = domain.TicketNumber(number)
		if err := tx.insertTicket(ctx, t, number); err != nil {
			return err
		}
		if t.AssignedTeam != nil {
			if err := tx.recordAssignment(ctx, t, "manual"); err != nil {
				return err
			}
		}
		patch, err := domain.Diff(nil, t)
		if err != nil {
			return err
		}
		if _, err := tx.appendChange(ctx, domain.EntityTicket, t.ID, domain.OpUpsert, t.Zone, patch); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return domain.Ticket{}, err
	}
	return out, nil
}

func (tx *tx) insertTicket(ctx context.Context, t domain.Ticket, number int64) error {
	skills, err := json.Marshal(t.Skills)
	if err != nil {
		return fmt.Errorf("encode skills: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO tickets (id, number, title, description, category, priority, priority_rank, status,
		zone, location, lat, lng, skills, assigned_team, assigned_to, due_date, created_at, updated_at, assigned_at,
		started_at, resolved_at, closed_at, customer_rating, deleted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`,
		t.ID, number, t.Title, t.Description, t.Category, string(t.Priority), t.Priority.Rank(), string(t.Status),
		t.Zone, t.Location, t.Lat, t.Lng, string(skills), t.AssignedTeam, t.AssignedTo, t.DueDate, t.CreatedAt,
		t.UpdatedAt, t.AssignedAt, t.StartedAt, t.ResolvedAt, t.ClosedAt, ratingArg(t.CustomerRating), t.DeletedAt)
	if isUnique(err) {
		return domain.Errorf(domain.CodeConflict, "ticket %s or number %s already exists", t.ID, t.Number)
	}
	if err != nil {
		return fmt.Errorf("insert ticket: %w", err)
	}
	return nil
}

// checkTicketRefs checks that t's zone and team exist, where they differ from old (nil for a
// new ticket). A newly assigned team must also be live and active. Checking here, rather than
// leaving it to the foreign keys, names the value and also catches deleted or inactive teams.
func (tx *tx) checkTicketRefs(ctx context.Context, old *domain.Ticket, t domain.Ticket) error {
	if old == nil || old.Zone != t.Zone {
		if ok, err := tx.zoneExists(ctx, t.Zone); err != nil {
			return err
		} else if !ok {
			return domain.FieldErrorf("zone", "unknown zone %q", t.Zone)
		}
	}
	if t.AssignedTeam != nil && (old == nil || old.AssignedTeam == nil || *old.AssignedTeam != *t.AssignedTeam) {
		return tx.checkTeamAssignable(ctx, *t.AssignedTeam, "assigned_team")
	}
	return nil
}

// checkTeamAssignable returns CodeInvalid naming field unless team id is live and active. It
// share-locks the team row, so DeleteTeam (which locks it for update) cannot count the team's
// active tickets while this transaction adds one.
func (tx *tx) checkTeamAssignable(ctx context.Context, id, field string) error {
	var active bool
	err := tx.QueryRow(ctx, "SELECT is_active FROM teams WHERE id = $1 AND deleted_at IS NULL FOR SHARE", id).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.FieldErrorf(field, "unknown team %s", id)
	}
	if err != nil {
		return fmt.Errorf("check team: %w", err)
	}
	if !active {
		return domain.FieldErrorf(field, "team %s is not active", id)
	}
	return nil
}

// recordAssignment supersedes the ticket's current assignment row and adds one for its team.
func (tx *tx) recordAssignment(ctx context.Context, t domain.Ticket, method string) error {
	if _, err := tx.Exec(ctx, "UPDATE assignments SET status = 'superseded' WHERE ticket_id = $1 AND status = 'assigned'", t.ID); err != nil {
		return fmt.Errorf("supersede assignment: %w", err)
	}
	at := tx.now
	if t.AssignedAt != nil {
		at = *t.AssignedAt
	}
	if _, err := tx.Exec(ctx, `INSERT INTO assignments (id, ticket_id, team_id, assigned_at, assigned_by, method, status, notes)
		VALUES ($1, $2, $3, $4, $5, $6, 'assigned', '')`, domain.NewID(tx.now), t.ID, *t.AssignedTeam, at, tx.actor, method); err != nil {
		return fmt.Errorf("insert assignment: %w", err)
	}
	return nil
}

// getTicket reads a live ticket through q; forUpdate locks its row until the transaction ends.
func getTicket(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string, forUpdate bool) (domain.Ticket, error) {
	sql := "SELECT " + ticketCols + " FROM tickets WHERE id = $1 AND deleted_at IS NULL"
	if forUpdate {
		sql += " FOR NO KEY UPDATE"
	}
	t, err := scanTicket(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "ticket %s not found", id)
	}
	if err != nil {
		return domain.Ticket{}, fmt.Errorf("get ticket: %w", err)
	}
	return t, nil
}

// GetTicket returns the ticket, CodeNotFound for an unknown or deleted one.
func (s *Store) GetTicket(ctx context.Context, id string) (domain.Ticket, error) {
	t, err := getTicket(ctx, s.pool, id, false)
	return t, translate(err)
}

// UpdateTicket reads the ticket (locking its row), calls fn, checks the result's references and
// stores it, all in one transaction. ID, Number, CreatedAt and DeletedAt are the store's;
// UpdatedAt becomes now when anything changed. An update that changes nothing writes nothing
// (no change logged) and returns the ticket as it was. A change of team records an assignment.
func (s *Store) UpdateTicket(ctx context.Context, id string, fn func(domain.Ticket) (domain.Ticket, error)) (domain.Ticket, error) {
	var out domain.Ticket
	err := s.write(ctx, func(tx *tx) error {
		old, err := getTicket(ctx, tx, id, true)
		if err != nil {
			return err
		}
		t, err := fn(old)
		if err != nil {
			return err
		}
		t.ID, t.Number, t.CreatedAt, t.DeletedAt = old.ID, old.Number, old.CreatedAt, nil
		t = normalizeTicket(t)
		t.UpdatedAt = old.UpdatedAt
		if err := t.Validate(); err != nil {
			return err
		}
		if p, err := domain.Diff(old, t); err != nil {
			return err
		} else if len(p) == 0 {
			out = old
			return nil
		}
		if err := tx.checkTicketRefs(ctx, &old, t); err != nil {
			return err
		}
		t.UpdatedAt = tx.now
		if err := tx.storeTicket(ctx, old, t, "manual"); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return domain.Ticket{}, err
	}
	return out, nil
}

// storeTicket writes t over old, records an assignment when the team changed, and logs the
// change.
func (tx *tx) storeTicket(ctx context.Context, old, t domain.Ticket, method string) error {
	patch, err := domain.Diff(old, t)
	if err != nil {
		return err
	}
	skills, err := json.Marshal(t.Skills)
	if err != nil {
		return fmt.Errorf("encode skills: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET title = $2, description = $3, category = $4, priority = $5,
		priority_rank = $6, status = $7, zone = $8, location = $9, lat = $10, lng = $11, skills = $12,
		assigned_team = $13, assigned_to = $14, due_date = $15, updated_at = $16, assigned_at = $17, started_at = $18,
		resolved_at = $19, closed_at = $20, customer_rating = $21
		WHERE id = $1`,
		t.ID, t.Title, t.Description, t.Category, string(t.Priority), t.Priority.Rank(), string(t.Status), t.Zone,
		t.Location, t.Lat, t.Lng, string(skills), t.AssignedTeam, t.AssignedTo, t.DueDate, t.UpdatedAt, t.AssignedAt,
		t.StartedAt, t.ResolvedAt, t.ClosedAt, ratingArg(t.CustomerRating)); err != nil {
		return fmt.Errorf("update ticket: %w", err)
	}
	if t.AssignedTeam != nil && (old.AssignedTeam == nil || *old.AssignedTeam != *t.AssignedTeam) {
		if err := tx.recordAssignment(ctx, t, method); err != nil {
			return err
		}
	}
	if _, err = tx.appendChange(ctx, domain.EntityTicket, t.ID, domain.OpUpsert, t.Zone, patch); err != nil || old.Zone == t.Zone {
		return err
	}
	return tx.rezoneNotes(ctx, t.ID, t.Zone)
}

// DeleteTicket soft-deletes the ticket: it stays as a tombstone (deleted_at set) that sync
// carries as an op=delete change. Returns CodeNotFound for an unknown or deleted ticket.
func (s *Store) DeleteTicket(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *tx) error {
		old, err := getTicket(ctx, tx, id, true)
		if err != nil {
			return err
		}
		t := old
		t.UpdatedAt, t.DeletedAt = tx.now, &tx.now
		if _, err := tx.Exec(ctx, "UPDATE tickets SET deleted_at = $1, updated_at = $1 WHERE id = $2", tx.now, id); err != nil {
			return fmt.Errorf("delete ticket: %w", err)
		}
		patch, err := domain.Diff(old, t)
		if err != nil {
			return err
		}
		_, err = tx.appendChange(ctx, domain.EntityTicket, id, domain.OpDelete, t.Zone, patch)
		return err
	})
}

// AssignTickets assigns every ticket in ids to team teamID, all or none, in one transaction.
// Returns CodeInvalid (field team_id) unless the team is live and active, CodeInvalid (field
// ticket_ids) for an empty list or an unknown ticket, CodeInvalid (field method) unless method
// is manual or auto, and CodeConflict for a done ticket. A ticket already with that team is
// left as it is (no change, no new assignment). Returns the tickets in the order of ids.
//
// Every ticket row is locked first, in id order, before any change is logged: two overlapping
// batches then queue instead of deadlocking, and the change_seq row lock is taken only after
// every ticket lock, so it is never held while waiting for a ticket.
func (s *Store) AssignTickets(ctx context.Context, ids []string, teamID, method string) ([]domain.Ticket, error) {
	if method == "" {
		method = "manual"
	}
	if method != "manual" && method != "auto" {
		return nil, domain.FieldErrorf("method", "unknown assignment method %q (want manual or auto)", method)
	}
	if len(ids) == 0 {
		return nil, domain.FieldErrorf("ticket_ids", "ticket_ids is empty")
	}
	if teamID == "" {
		return nil, domain.FieldErrorf("team_id", "team_id is required")
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var out []domain.Ticket
	err := s.write(ctx, func(tx *tx) error {
		out = out[:0]
		if err := tx.checkTeamAssignable(ctx, teamID, "team_id"); err != nil {
			return err
		}
		locked := make(map[string]domain.Ticket, len(sorted))
		for _, id := range sorted {
			old, err := getTicket(ctx, tx, id, true)
			if domain.ErrorCode(err) == domain.CodeNotFound {
				return domain.FieldErrorf("ticket_ids", "unknown ticket %s", id)
			}
			if err != nil {
				return err
			}
			locked[id] = old
		}
		done := map[string]domain.Ticket{}
		for _, id := range ids {
			if t, ok := done[id]; ok {
				out = append(out, t)
				continue
			}
			old := locked[id]
			if old.AssignedTeam != nil && *old.AssignedTeam == teamID {
				if old.Status.Done() {
					return domain.Errorf(domain.CodeConflict, "ticket %s is %s and cannot be assigned", old.Number, old.Status)
				}
				done[id] = old
				out = append(out, old)
				continue
			}
			t, err := old.Assign(teamID, nil, tx.now)
			if err != nil {
				return err
			}
			t = normalizeTicket(t)
			if err := tx.storeTicket(ctx, old, t, method); err != nil {
				return err
			}
			done[id] = t
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
