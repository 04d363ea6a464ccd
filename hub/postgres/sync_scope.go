package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

var _ syncstore.ScopeStore = (*Store)(nil)

// mayMoveSQL selects log rows that can move their row's scope zone (syncstore.MayMove).
const mayMoveSQL = `(c.op = 'upsert' AND ((c.entity IN ('ticket', 'team', 'note') AND c.patch->'zone' IS NOT NULL)
	OR (c.entity = 'user' AND c.patch->'team_id' IS NOT NULL)))`

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
	q := `SELECT ` + changeCols + ` FROM changes c WHERE c.seq > $1 AND (c.zone = ANY($3) OR (` + mayMoveSQL +
		` AND ` + prevZoneSQL + ` = ANY($3))) ORDER BY c.seq LIMIT $2`
	rows, err := s.pool.Query(ctx, q, after, limit, zones)
	if err != nil {
		return nil, translate(fmt.Errorf("list scope changes: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Change, error) { return scanChange(row) })
	if err != nil {
		return nil, translate(fmt.Errorf("list scope changes: %w", err))
	}
	if out == nil {
		out = []domain.Change{}
	}
	return out, nil
}

// PrevZones returns the previous logged zone of each change's row, for changes that may move.
func (s *Store) PrevZones(ctx context.Context, changes []domain.Change) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range changes {
		if !syncstore.MayMove(c) || c.Seq <= 0 {
			continue
		}
		var z string
		err := s.pool.QueryRow(ctx, `SELECT zone FROM changes WHERE entity = $1 AND entity_id = $2 AND seq < $3
			ORDER BY seq DESC LIMIT 1`, string(c.Entity), c.EntityID, c.Seq).Scan(&z)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, translate(fmt.Errorf("previous zone of %s: %w", c.ID, err))
		}
		out[c.ID] = z
	}
	return out, nil
}

// RowHistory reads the whole history of rows in zones, in one repeatable-read transaction.
func (s *Store) RowHistory(ctx context.Context, zones []string, keys []syncstore.RowKey, all bool) (syncstore.RowHistory, error) {
	var h syncstore.RowHistory
	if len(zones) == 0 {
		return h, domain.Errorf(domain.CodeInvalid, "row history needs zones")
	}
	wanted := map[domain.Entity][]string{}
	for _, k := range keys {
		wanted[k.Entity] = append(wanted[k.Entity], k.ID)
	}
	queries := map[domain.Entity]string{
		domain.EntityTicket: "SELECT id FROM tickets WHERE zone = ANY($1)",
		domain.EntityTeam:   "SELECT id FROM teams WHERE zone = ANY($1)",
		domain.EntityZone:   "SELECT id FROM zones WHERE name = ANY($1)",
		domain.EntityUser:   "SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.zone = ANY($1)",
		domain.EntityNote:   "SELECT id FROM notes WHERE zone = ANY($1)",
	}
	idCol := map[domain.Entity]string{domain.EntityTicket: "id", domain.EntityTeam: "id", domain.EntityZone: "id", domain.EntityUser: "u.id", domain.EntityNote: "id"}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&h.Cursor); err != nil {
			return fmt.Errorf("row history cursor: %w", err)
		}
		ids := map[domain.Entity][]string{}
		collect := func(e domain.Entity, q string, args ...any) error {
			rows, err := tx.Query(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("row history %s: %w", e, err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("row history %s: %w", e, err)
			}
			ids[e] = append(ids[e], got...)
			return nil
		}
		for _, e := range []domain.Entity{domain.EntityZone, domain.EntityTeam, domain.EntityTicket, domain.EntityUser, domain.EntityNote} {
			if all && e != domain.EntityUser {
				if err := collect(e, queries[e], zones); err != nil {
					return err
				}
			} else if len(wanted[e]) > 0 {
				if err := collect(e, queries[e]+" AND "+idCol[e]+" = ANY($2)", zones, wanted[e]); err != nil {
					return err
				}
			}
		}
		if len(ids[domain.EntityTeam]) > 0 {
			if err := collect(domain.EntityUser, "SELECT id FROM users WHERE team_id = ANY($1)", ids[domain.EntityTeam]); err != nil {
				return err
			}
		}
		var changes []domain.Change
		for _, e := range []domain.Entity{domain.EntityTeam, domain.EntityTicket, domain.EntityUser, domain.EntityZone, domain.EntityNote} {
			list := slices.Compact(slices.Sorted(slices.Values(ids[e])))
			if len(list) == 0 {
				continue
			}
			rows, err := tx.Query(ctx, "SELECT "+changeCols+" FROM changes WHERE seq <= $1 AND entity = $2 AND entity_id = ANY($3) ORDER BY entity_id, seq",
				h.Cursor, string(e), list)
			if err != nil {
				return fmt.Errorf("row history changes: %w", err)
			}
			got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Change, error) { return scanChange(row) })
			if err != nil {
				return fmt.Errorf("row history changes: %w", err)
			}
			changes = append(changes, got...)
		}
		h.Rows = syncstore.GroupHistory(changes)
		return nil
	})
	if err != nil {
		return syncstore.RowHistory{}, translate(err)
	}
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
		c, err := scanEdge(tx.QueryRow(ctx, "SELECT "+edgeCols+" FROM edge_credentials WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.CodeNotFound, "no edge named %q", name)
		}
		if err != nil {
			return fmt.Errorf("read edge: %w", err)
		}
		if c.RevokedAt != nil {
			return domain.Errorf(domain.CodeConflict, "edge %q is revoked", name)
		}
		b, _ := json.Marshal(zones)
		if _, err := tx.Exec(ctx, "UPDATE edge_credentials SET zones = $1 WHERE name = $2", string(b), name); err != nil {
			return fmt.Errorf("update edge zones: %w", err)
		}
		c.Zones = zones
		out = c
		return nil
	})
	return out, err
}
