package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
)

// activeStatuses are the statuses that count as a team's active tickets (and block deleting it).
const activeStatuses = "'assigned', 'in_progress', 'on_hold'"

// teamCols selects a team with ActiveTickets computed on read from its tickets (served by the
// (assigned_team, status) index).
const teamCols = `t.id, t.name, t.zone, t.description, t.skills, t.capacity, t.shift_start, t.shift_end,
	t.home_lat, t.home_lng, t.status, t.is_active, t.tickets_completed, t.customer_rating, t.response_time,
	t.completion_rate, t.efficiency, t.created_at, t.updated_at, t.deleted_at,
	(SELECT count(*) FROM tickets k WHERE k.assigned_team = t.id AND k.deleted_at IS NULL
		AND k.status IN (` + activeStatuses + `))`

func scanTeam(row pgx.Row) (domain.Team, error) {
	var (
		t      domain.Team
		skills []byte
		active int64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Zone, &t.Description, &skills, &t.Capacity, &t.ShiftStart, &t.ShiftEnd,
		&t.HomeLat, &t.HomeLng, &t.Status, &t.IsActive, &t.TicketsCompleted, &t.CustomerRating, &t.ResponseTime,
		&t.CompletionRate, &t.Efficiency, &t.CreatedAt, &t.UpdatedAt, &t.DeletedAt, &active); err != nil {
		return t, err
	}
	if err := json.Unmarshal(skills, &t.Skills); err != nil {
		return t, fmt.Errorf("decode skills of team %s: %w", t.ID, err)
	}
	if t.Skills == nil {
		t.Skills = []string{}
	}
	t.ActiveTickets = int(active)
	t.CreatedAt, t.UpdatedAt, t.DeletedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC(), utcPtr(t.DeletedAt)
	return t, nil
}

// teamPatch is the change-log patch between two versions of a team. ActiveTickets is left out:
// it is computed from tickets, not stored.
func teamPatch(old *domain.Team, t domain.Team) (map[string]json.RawMessage, error) {
	var p map[string]json.RawMessage
	var err error
	if old == nil {
		p, err = domain.Diff(nil, t)
	} else {
		p, err = domain.Diff(*old, t)
	}
	delete(p, "active_tickets")
	return p, err
}

// CreateTeam stores t, filling ID and times if empty. Returns CodeInvalid (field zone) for an
// unknown zone and CodeConflict if the ID is taken.
func (s *Store) CreateTeam(ctx context.Context, t domain.Team) (domain.Team, error) {
	if t.Skills == nil {
		t.Skills = []string{}
	}
	if t.Status == "" {
		t.Status = domain.TeamAvailable
	}
	if err := t.Validate(); err != nil {
		return domain.Team{}, err
	}
	t.ActiveTickets, t.DeletedAt = 0, nil
	var out domain.Team
	err := s.write(ctx, func(tx *tx) error {
		t := t
		if t.ID == "" {
			t.ID = domain.NewID(tx.now)
		}
		if t.CreatedAt.IsZero() {
			t.CreatedAt = tx.now
		}
		if t.UpdatedAt.IsZero() {
			t.UpdatedAt = t.CreatedAt
		}
		t.CreatedAt, t.UpdatedAt = utc(t.CreatedAt), utc(t.UpdatedAt)
		if ok, err := tx.zoneExists(ctx, t.Zone); err != nil {
			return err
		} else if !ok {
			return domain.FieldErrorf("zone", "unknown zone %q", t.Zone)
		}
		if err := tx.insertTeam(ctx, t); err != nil {
			return err
		}
		patch, err := teamPatch(nil, t)
		if err != nil {
			return err
		}
		if _, err = tx.appendChange(ctx, domain.EntityTeam, t.ID, domain.OpUpsert, t.Zone, patch); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return domain.Team{}, err
	}
	return out, nil
}

func (tx *tx) insertTeam(ctx context.Context, t domain.Team) error {
	skills, err := json.Marshal(t.Skills)
	if err != nil {
		return fmt.Errorf("encode skills: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO teams (id, name, zone, description, skills, capacity, shift_start, shift_end,
		home_lat, home_lng, status, is_active, tickets_completed, customer_rating, response_time, completion_rate,
		efficiency, created_at, updated_at, deleted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		t.ID, t.Name, t.Zone, t.Description, string(skills), t.Capacity, t.ShiftStart, t.ShiftEnd,
		t.HomeLat, t.HomeLng, string(t.Status), t.IsActive, t.TicketsCompleted, t.CustomerRating,
		t.ResponseTime, t.CompletionRate, t.Efficiency, t.CreatedAt, t.UpdatedAt, t.DeletedAt)
	if isUnique(err) {
		return domain.Errorf(domain.CodeConflict, "team %s already exists", t.ID)
	}
	if err != nil {
		return fmt.Errorf("insert team: %w", err)
	}
	return nil
}

// getTeam reads a live (not deleted) team through q; forUpdate locks its row until the
// transaction ends, so a concurrent assignment cannot slip in between a check and a write.
func getTeam(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string, forUpdate bool) (domain.Team, error) {
	sql := "SELECT " + teamCols + " FROM teams t WHERE t.id = $1 AND t.deleted_at IS NULL"
	if forUpdate {
		sql += " FOR NO KEY UPDATE OF t"
	}
	t, err := scanTeam(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Team{}, domain.Errorf(domain.CodeNotFound, "team %s not found", id)
	}
	if err != nil {
		return domain.Team{}, fmt.Errorf("get team: %w", err)
	}
	return t, nil
}

// GetTeam returns the team, CodeNotFound for an unknown or deleted one.
func (s *Store) GetTeam(ctx context.Context, id string) (domain.Team, error) {
	t, err := getTeam(ctx, s.pool, id, false)
	return t, translate(err)
}

// UpdateTeam reads the team, calls fn and stores its result in one transaction. ID, times and
// ActiveTickets are the store's: fn cannot change them. An update that changes nothing writes
// nothing and returns the team as it was.
func (s *Store) UpdateTeam(ctx context.Context, id string, fn func(domain.Team) (domain.Team, error)) (domain.Team, error) {
	var out domain.Team
	err := s.write(ctx, func(tx *tx) error {
		old, err := getTeam(ctx, tx, id, true)
		if err != nil {
			return err
		}
		t, err := fn(old)
		if err != nil {
			return err
		}
		t.ID, t.CreatedAt, t.DeletedAt, t.ActiveTickets, t.UpdatedAt = old.ID, old.CreatedAt, nil, old.ActiveTickets, old.UpdatedAt
		t.HomeLat, t.HomeLng = cleanFloat(t.HomeLat), cleanFloat(t.HomeLng)
		if t.Skills == nil {
			t.Skills = []string{}
		}
		if err := t.Validate(); err != nil {
			return err
		}
		if t.Zone != old.Zone {
			if ok, err := tx.zoneExists(ctx, t.Zone); err != nil {
				return err
			} else if !ok {
				return domain.FieldErrorf("zone", "unknown zone %q", t.Zone)
			}
		}
		if p, err := teamPatch(&old, t); err != nil {
			return err
		} else if len(p) == 0 {
			out = old
			return nil
		}
		t.UpdatedAt = tx.now
		patch, err := teamPatch(&old, t)
		if err != nil {
			return err
		}
		skills, err := json.Marshal(t.Skills)
		if err != nil {
			return fmt.Errorf("encode skills: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE teams SET name = $1, zone = $2, description = $3, skills = $4, capacity = $5,
			shift_start = $6, shift_end = $7, home_lat = $8, home_lng = $9, status = $10, is_active = $11,
			tickets_completed = $12, customer_rating = $13, response_time = $14, completion_rate = $15, efficiency = $16,
			updated_at = $17 WHERE id = $18`,
			t.Name, t.Zone, t.Description, string(skills), t.Capacity, t.ShiftStart, t.ShiftEnd, t.HomeLat,
			t.HomeLng, string(t.Status), t.IsActive, t.TicketsCompleted, t.CustomerRating, t.ResponseTime,
			t.CompletionRate, t.Efficiency, t.UpdatedAt, t.ID); err != nil {
			return fmt.Errorf("update team: %w", err)
		}
		if _, err := tx.appendChange(ctx, domain.EntityTeam, t.ID, domain.OpUpsert, t.Zone, patch); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return domain.Team{}, err
	}
	return out, nil
}

// DeleteTeam soft-deletes the team. Returns CodeConflict while it has active tickets (they
// must be reassigned first) and CodeNotFound for an unknown or deleted team. The team row is
// locked first, and assignment takes a share lock on it, so no ticket can be assigned to the
// team between the count and the delete.
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *tx) error {
		old, err := getTeam(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if old.ActiveTickets > 0 {
			return domain.Errorf(domain.CodeConflict, "team %s has %d active tickets; reassign them first", old.Name, old.ActiveTickets)
		}
		t := old
		t.UpdatedAt = tx.now
		t.DeletedAt = &tx.now
		if _, err := tx.Exec(ctx, "UPDATE teams SET deleted_at = $1, updated_at = $1 WHERE id = $2", tx.now, id); err != nil {
			return fmt.Errorf("delete team: %w", err)
		}
		patch, err := teamPatch(&old, t)
		if err != nil {
			return err
		}
		_, err = tx.appendChange(ctx, domain.EntityTeam, id, domain.OpDelete, t.Zone, patch)
		return err
	})
}

// ListTeams returns the live teams matching f, ordered by name then id.
func (s *Store) ListTeams(ctx context.Context, f domain.TeamFilter) ([]domain.Team, error) {
	var w where
	w.add("t.deleted_at IS NULL")
	if len(f.Zone) > 0 {
		w.add("t.zone = ANY(?)", f.Zone)
	}
	if len(f.ScopeZones) > 0 {
		w.add("t.zone = ANY(?)", f.ScopeZones)
	}
	if len(f.Status) > 0 {
		w.add("t.status = ANY(?)", strs(f.Status))
	}
	if f.Active != nil {
		w.add("t.is_active = ?", *f.Active)
	}
	rows, err := s.pool.Query(ctx, "SELECT "+teamCols+" FROM teams t WHERE "+w.sql()+" ORDER BY t.name, t.id", w.args...)
	if err != nil {
		return nil, translate(fmt.Errorf("list teams: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Team, error) { return scanTeam(row) })
	if err != nil {
		return nil, translate(fmt.Errorf("list teams: %w", err))
	}
	return out, nil
}

// cleanFloat copies p so the stored value does not alias the caller's.
func cleanFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// where builds a WHERE clause with numbered placeholders: each '?' in a condition becomes the
// next $n.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	var b strings.Builder
	i := 0
	for _, r := range cond {
		if r == '?' && i < len(args) {
			w.args = append(w.args, args[i])
			i++
			fmt.Fprintf(&b, "$%d", len(w.args))
			continue
		}
		b.WriteRune(r)
	}
	w.conds = append(w.conds, b.String())
}

// arg adds a value and returns its placeholder, for SQL outside the WHERE clause.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "TRUE"
	}
	return strings.Join(w.conds, " AND ")
}

// strs converts a slice of string-based values to []string for a text[] parameter.
func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}
