package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aiff/aiff/domain"
)

// activeStatuses are the statuses that count as a team's active tickets (and block deleting it).
const activeStatuses = "'assigned', 'in_progress', 'on_hold'"

// teamCols selects a team with ActiveTickets computed on read from its tickets.
const teamCols = `t.id, t.name, t.zone, t.description, t.skills, t.capacity, t.shift_start, t.shift_end,
	t.home_lat, t.home_lng, t.status, t.is_active, t.tickets_completed, t.customer_rating, t.response_time,
	t.completion_rate, t.efficiency, t.created_at, t.updated_at, t.deleted_at,
	(SELECT count(*) FROM tickets k WHERE k.assigned_team = t.id AND k.deleted_at IS NULL
		AND k.status IN (` + activeStatuses + `))`

func scanTeam(row interface{ Scan(...any) error }) (domain.Team, error) {
	var (
		t                domain.Team
		skills           string
		homeLat, homeLng sql.NullFloat64
		created, updated int64
		deleted          sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Zone, &t.Description, &skills, &t.Capacity, &t.ShiftStart, &t.ShiftEnd,
		&homeLat, &homeLng, &t.Status, &t.IsActive, &t.TicketsCompleted, &t.CustomerRating, &t.ResponseTime,
		&t.CompletionRate, &t.Efficiency, &created, &updated, &deleted, &t.ActiveTickets); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(skills), &t.Skills); err != nil {
		return t, fmt.Errorf("decode skills of team %s: %w", t.ID, err)
	}
	if t.Skills == nil {
		t.Skills = []string{}
	}
	t.HomeLat, t.HomeLng = nullFloat(homeLat), nullFloat(homeLng)
	t.CreatedAt, t.UpdatedAt, t.DeletedAt = fromMicros(created), fromMicros(updated), fromNullMicros(deleted)
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
	err := s.write(ctx, func(tx *tx) error {
		if t.ID == "" {
			t.ID = domain.NewID(tx.now)
		}
		if t.CreatedAt.IsZero() {
			t.CreatedAt = tx.now
		}
		if t.UpdatedAt.IsZero() {
			t.UpdatedAt = t.CreatedAt
		}
		t.CreatedAt, t.UpdatedAt = trunc(t.CreatedAt), trunc(t.UpdatedAt)
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
		_, err = tx.appendChange(ctx, domain.EntityTeam, t.ID, domain.OpUpsert, t.Zone, patch)
		return err
	})
	if err != nil {
		return domain.Team{}, err
	}
	return t, nil
}

func (tx *tx) insertTeam(ctx context.Context, t domain.Team) error {
	skills, err := json.Marshal(t.Skills)
	if err != nil {
		return fmt.Errorf("encode skills: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO teams (id, name, zone, description, skills, capacity, shift_start, shift_end,
		home_lat, home_lng, status, is_active, tickets_completed, customer_rating, response_time, completion_rate,
		efficiency, created_at, updated_at, deleted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Zone, t.Description, string(skills), t.Capacity, t.ShiftStart, t.ShiftEnd,
		ptrArg(t.HomeLat), ptrArg(t.HomeLng), string(t.Status), t.IsActive, t.TicketsCompleted, t.CustomerRating,
		t.ResponseTime, t.CompletionRate, t.Efficiency, micros(t.CreatedAt), micros(t.UpdatedAt), microsPtr(t.DeletedAt))
	if isUnique(err) {
		return domain.Errorf(domain.CodeConflict, "team %s already exists", t.ID)
	}
	if err != nil {
		return fmt.Errorf("insert team: %w", err)
	}
	return nil
}

// getTeam reads a live (not deleted) team through q.
func getTeam(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (domain.Team, error) {
	t, err := scanTeam(q.QueryRowContext(ctx, "SELECT "+teamCols+" FROM teams t WHERE t.id = ? AND t.deleted_at IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Team{}, domain.Errorf(domain.CodeNotFound, "team %s not found", id)
	}
	if err != nil {
		return domain.Team{}, fmt.Errorf("get team: %w", err)
	}
	return t, nil
}

// GetTeam returns the team, CodeNotFound for an unknown or deleted one.
func (s *Store) GetTeam(ctx context.Context, id string) (domain.Team, error) {
	return getTeam(ctx, s.reader, id)
}

// UpdateTeam reads the team, calls fn and stores its result in one transaction. ID, times and
// ActiveTickets are the store's: fn cannot change them. An update that changes nothing writes
// nothing and returns the team as it was.
func (s *Store) UpdateTeam(ctx context.Context, id string, fn func(domain.Team) (domain.Team, error)) (domain.Team, error) {
	var out domain.Team
	err := s.write(ctx, func(tx *tx) error {
		old, err := getTeam(ctx, tx, id)
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
		if _, err := tx.ExecContext(ctx, `UPDATE teams SET name = ?, zone = ?, description = ?, skills = ?, capacity = ?,
			shift_start = ?, shift_end = ?, home_lat = ?, home_lng = ?, status = ?, is_active = ?, tickets_completed = ?,
			customer_rating = ?, response_time = ?, completion_rate = ?, efficiency = ?, updated_at = ? WHERE id = ?`,
			t.Name, t.Zone, t.Description, string(skills), t.Capacity, t.ShiftStart, t.ShiftEnd, ptrArg(t.HomeLat),
			ptrArg(t.HomeLng), string(t.Status), t.IsActive, t.TicketsCompleted, t.CustomerRating, t.ResponseTime,
			t.CompletionRate, t.Efficiency, micros(t.UpdatedAt), t.ID); err != nil {
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
// must be reassigned first) and CodeNotFound for an unknown or deleted team.
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *tx) error {
		old, err := getTeam(ctx, tx, id)
		if err != nil {
			return err
		}
		if old.ActiveTickets > 0 {
			return domain.Errorf(domain.CodeConflict, "team %s has %d active tickets; reassign them first", old.Name, old.ActiveTickets)
		}
		t := old
		t.UpdatedAt = tx.now
		t.DeletedAt = &tx.now
		if _, err := tx.ExecContext(ctx, "UPDATE teams SET deleted_at = ?, updated_at = ? WHERE id = ?", micros(tx.now), micros(tx.now), id); err != nil {
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
	where := []string{"t.deleted_at IS NULL"}
	var args []any
	if len(f.Zone) > 0 {
		ph, a := inList(f.Zone)
		where = append(where, "t.zone IN ("+ph+")")
		args = append(args, a...)
	}
	if len(f.ScopeZones) > 0 {
		ph, a := inList(f.ScopeZones)
		where = append(where, "t.zone IN ("+ph+")")
		args = append(args, a...)
	}
	if len(f.Status) > 0 {
		ph, a := inList(f.Status)
		where = append(where, "t.status IN ("+ph+")")
		args = append(args, a...)
	}
	if f.Active != nil {
		where = append(where, "t.is_active = ?")
		args = append(args, *f.Active)
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT "+teamCols+" FROM teams t WHERE "+strings.Join(where, " AND ")+" ORDER BY t.name, t.id", args...)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	out := []domain.Team{}
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			return nil, fmt.Errorf("scan team: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// cleanFloat copies p so the stored value does not alias the caller's.
func cleanFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
