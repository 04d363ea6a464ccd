package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

var _ syncstore.ScopeStore = (*Store)(nil)

// mayMoveSQL selects log rows that can move their row's scope zone (syncstore.MayMove).
const mayMoveSQL = `(c.op = 'upsert' AND ((c.entity IN ('ticket', 'team', 'note') AND json_type(c.patch, '$.zone') IS NOT NULL)
	OR (c.entity = 'user' AND json_type(c.patch, '$.team_id') IS NOT NULL)))`

// prevZoneSQL is the zone of the row's logged change just before c (idx_changes_entity).
const prevZoneSQL = `(SELECT p.zone FROM changes p WHERE p.entity = c.entity AND p.entity_id = c.entity_id
	AND p.seq < c.seq ORDER BY p.seq DESC LIMIT 1)`

// ListScopeChanges is ListChanges restricted to zones plus the exits out of them.
func (s *Store) ListScopeChanges(ctx context.Context, after int64, zones []string, limit int) ([]domain.Change, error) {
	if len(zones) == 0 {
		return nil, domain.Errorf(domain.CodeInvalid, "list scope changes needs zones")
	}
	if limit <= 0 {
		limit = 500
	}
	limit = min(limit, 5000)
	ph, za := inList(zones)
	q := "SELECT " + changeCols + " FROM changes c WHERE c.seq > ? AND (c.zone IN (" + ph + ") OR (" + mayMoveSQL +
		" AND " + prevZoneSQL + " IN (" + ph + "))) ORDER BY c.seq LIMIT ?"
	args := append([]any{after}, za...)
	args = append(args, za...)
	args = append(args, limit)
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list scope changes: %w", err)
	}
	defer rows.Close()
	out := []domain.Change{}
	for rows.Next() {
		ch, err := scanChange(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

// PrevZones returns the previous logged zone of each change's row, for changes that may move.
func (s *Store) PrevZones(ctx context.Context, changes []domain.Change) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range changes {
		if !syncstore.MayMove(c) || c.Seq <= 0 {
			continue
		}
		var z string
		err := s.reader.QueryRowContext(ctx, `SELECT zone FROM changes WHERE entity = ? AND entity_id = ? AND seq < ?
			ORDER BY seq DESC LIMIT 1`, string(c.Entity), c.EntityID, c.Seq).Scan(&z)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("previous zone of %s: %w", c.ID, err)
		}
		out[c.ID] = z
	}
	return out, nil
}

// RowHistory reads the whole history of rows in zones, in one read transaction.
func (s *Store) RowHistory(ctx context.Context, zones []string, keys []syncstore.RowKey, all bool) (syncstore.RowHistory, error) {
	var h syncstore.RowHistory
	if len(zones) == 0 {
		return h, domain.Errorf(domain.CodeInvalid, "row history needs zones")
	}
	rtx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return h, fmt.Errorf("begin row history: %w", err)
	}
	defer rtx.Rollback()
	if err := rtx.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&h.Cursor); err != nil {
		return h, fmt.Errorf("row history cursor: %w", err)
	}
	zph, za := inList(zones)
	ids := map[domain.Entity][]string{}
	collect := func(e domain.Entity, q string, args ...any) error {
		rows, err := rtx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("row history %s: %w", e, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("row history %s: %w", e, err)
			}
			ids[e] = append(ids[e], id)
		}
		return rows.Err()
	}
	wanted := map[domain.Entity][]string{}
	for _, k := range keys {
		wanted[k.Entity] = append(wanted[k.Entity], k.ID)
	}
	queries := map[domain.Entity]string{
		domain.EntityTicket: "SELECT id FROM tickets WHERE zone IN (" + zph + ")",
		domain.EntityTeam:   "SELECT id FROM teams WHERE zone IN (" + zph + ")",
		domain.EntityZone:   "SELECT id FROM zones WHERE name IN (" + zph + ")",
		domain.EntityUser:   "SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.zone IN (" + zph + ")",
		domain.EntityNote:   "SELECT id FROM notes WHERE zone IN (" + zph + ")",
	}
	idCol := map[domain.Entity]string{domain.EntityTicket: "id", domain.EntityTeam: "id", domain.EntityZone: "id", domain.EntityUser: "u.id", domain.EntityNote: "id"}
	for _, e := range []domain.Entity{domain.EntityZone, domain.EntityTeam, domain.EntityTicket, domain.EntityUser, domain.EntityNote} {
		if all && e != domain.EntityUser {
			if err := collect(e, queries[e], za...); err != nil {
				return h, err
			}
			continue
		}
		for chunk := range slices.Chunk(wanted[e], 400) {
			ph, ia := inList(chunk)
			if err := collect(e, queries[e]+" AND "+idCol[e]+" IN ("+ph+")", append(slices.Clone(za), ia...)...); err != nil {
				return h, err
			}
		}
	}
	// Users follow their team: every team returned brings its users.
	for chunk := range slices.Chunk(ids[domain.EntityTeam], 400) {
		ph, ia := inList(chunk)
		if err := collect(domain.EntityUser, "SELECT id FROM users WHERE team_id IN ("+ph+")", ia...); err != nil {
			return h, err
		}
	}
	var changes []domain.Change
	for _, e := range []domain.Entity{domain.EntityTeam, domain.EntityTicket, domain.EntityUser, domain.EntityZone, domain.EntityNote} {
		list := slices.Compact(slices.Sorted(slices.Values(ids[e])))
		for chunk := range slices.Chunk(list, 400) {
			ph, ia := inList(chunk)
			rows, err := rtx.QueryContext(ctx, "SELECT "+changeCols+" FROM changes WHERE seq <= ? AND entity = ? AND entity_id IN ("+ph+
				") ORDER BY entity_id, seq", append([]any{h.Cursor, string(e)}, ia...)...)
			if err != nil {
				return h, fmt.Errorf("row history changes: %w", err)
			}
			for rows.Next() {
				ch, err := scanChange(rows)
				if err != nil {
					rows.Close()
					return h, err
				}
				changes = append(changes, ch)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return h, fmt.Errorf("row history changes: %w", err)
			}
		}
	}
	h.Rows = syncstore.GroupHistory(changes)
	return h, nil
}

// UpdateEdgeZones replaces a live credential's zones.
func (s *Store) UpdateEdgeZones(ctx context.Context, name string, zones []string) (syncstore.EdgeCredential, error) {
	var out syncstore.EdgeCredential
	if err := syncstore.ValidateEdge(syncstore.EdgeCredential{Name: name, Zones: zones}); err != nil {
		return out, err
	}
	err := s.write(ctx, func(tx *tx) error {
		for _, z := range zones {
			if ok, err := tx.zoneExists(ctx, z); err != nil {
				return err
			} else if !ok {
				return domain.FieldErrorf("zones", "unknown zone %q", z)
			}
		}
		c, err := scanEdge(tx.QueryRowContext(ctx, "SELECT "+edgeCols+" FROM edge_credentials WHERE name = ?", name))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.Errorf(domain.CodeNotFound, "no edge named %q", name)
		}
		if err != nil {
			return fmt.Errorf("read edge: %w", err)
		}
		if c.RevokedAt != nil {
			return domain.Errorf(domain.CodeConflict, "edge %q is revoked", name)
		}
		b, _ := json.Marshal(zones)
		if _, err := tx.ExecContext(ctx, "UPDATE edge_credentials SET zones = ? WHERE name = ?", string(b), name); err != nil {
			return fmt.Errorf("update edge zones: %w", err)
		}
		c.Zones = zones
		out = c
		return nil
	})
	return out, err
}
