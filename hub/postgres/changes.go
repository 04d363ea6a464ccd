package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// appendChange writes one change of entity/id to the log in tx. Its Seq comes from
// `UPDATE counters … RETURNING` in the same transaction: the row lock is held until commit, so
// writers take numbers one at a time, commit in Seq order, and a rollback hands the number back
// (no gaps). Callers append last, after their row writes, to hold that lock briefly. A nil or
// empty patch on an upsert writes nothing.
func (tx *tx) appendChange(ctx context.Context, entity domain.Entity, id string, op domain.Op, zone string, patch map[string]json.RawMessage) (domain.Change, error) {
	if op == domain.OpUpsert && len(patch) == 0 {
		return domain.Change{}, nil
	}
	if patch == nil {
		patch = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return domain.Change{}, fmt.Errorf("encode patch: %w", err)
	}
	ch := domain.Change{
		ID: domain.NewID(tx.now), Origin: tx.origin, Actor: tx.actor, Entity: entity,
		EntityID: id, Op: op, Zone: zone, Patch: patch, At: tx.now,
	}
	// The hub is the serialization point: an API write has seen the row's whole log, so its
	// base for each field is the row's latest clock (syncstore.Stamp). The row itself is
	// locked by the caller, so no other writer can log a change of it in between.
	prior, err := tx.rowClocks(ctx, entity, id)
	if err != nil {
		return domain.Change{}, err
	}
	basePatch := patch
	if op == domain.OpDelete {
		basePatch = nil
	}
	ch.HLC, ch.Base = syncstore.Stamp(tx.clock, prior, entity, basePatch)
	baseJSON := []byte("{}")
	if len(ch.Base) > 0 {
		if baseJSON, err = json.Marshal(ch.Base); err != nil {
			return domain.Change{}, fmt.Errorf("encode base: %w", err)
		}
	}
	if err := tx.QueryRow(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value`).Scan(&ch.Seq); err != nil {
		return domain.Change{}, fmt.Errorf("next change seq: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, received_at, base)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		ch.Seq, ch.ID, ch.Origin, ch.Actor, string(ch.Entity), ch.EntityID, string(ch.Op), ch.Zone, string(b), ch.HLC,
		ch.At, tx.now, string(baseJSON)); err != nil {
		return domain.Change{}, fmt.Errorf("append change %s: %w", ch.ID, err)
	}
	return ch, nil
}

// ListChanges returns up to limit changes with Seq > after in Seq order, only those whose zone
// is in zones when zones is non-empty. limit <= 0 means 500; it is capped at 5000.
func (s *Store) ListChanges(ctx context.Context, after int64, zones []string, limit int) ([]domain.Change, error) {
	if limit <= 0 {
		limit = 500
	}
	limit = min(limit, 5000)
	q := `SELECT ` + changeCols + ` FROM changes WHERE seq > $1`
	args := []any{after}
	if len(zones) > 0 {
		q += ` AND zone = ANY($3)`
		args = append(args, limit, zones)
	} else {
		args = append(args, limit)
	}
	q += ` ORDER BY seq LIMIT $2`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, translate(fmt.Errorf("list changes: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Change, error) { return scanChange(row) })
	if err != nil {
		return nil, translate(fmt.Errorf("list changes: %w", err))
	}
	return out, nil
}

// LastSeq returns the highest Seq given so far, 0 for an empty log.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT value FROM counters WHERE name = 'change_seq'`).Scan(&seq); err != nil {
		return 0, translate(fmt.Errorf("last seq: %w", err))
	}
	return seq, nil
}

const changeCols = "seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, base"

// scanChange reads a row of changeCols.
func scanChange(row pgx.Row) (domain.Change, error) {
	var (
		ch          domain.Change
		patch, base []byte
	)
	if err := row.Scan(&ch.Seq, &ch.ID, &ch.Origin, &ch.Actor, &ch.Entity, &ch.EntityID, &ch.Op, &ch.Zone, &patch, &ch.HLC, &ch.At, &base); err != nil {
		return ch, fmt.Errorf("scan change: %w", err)
	}
	// The log's patches are compact objects (syncstore.AppendPatchJSON), split without a
	// full decode; patch is this row's own copy, so its values may alias it.
	var ok bool
	if ch.Patch, ok = syncstore.SplitPatchJSON(patch); !ok {
		ch.Patch = nil
		if err := json.Unmarshal(patch, &ch.Patch); err != nil {
			return ch, fmt.Errorf("decode patch of change %s: %w", ch.ID, err)
		}
	}
	if len(base) > 0 && string(base) != "{}" {
		if err := json.Unmarshal(base, &ch.Base); err != nil {
			return ch, fmt.Errorf("decode base of change %s: %w", ch.ID, err)
		}
	}
	ch.At = ch.At.UTC()
	return ch, nil
}

// rowClocks returns the logged changes of one row with the parts Stamp needs (served by the
// (entity, entity_id, seq) index).
func (tx *tx) rowClocks(ctx context.Context, entity domain.Entity, id string) ([]domain.Change, error) {
	rows, err := tx.Query(ctx, "SELECT id, origin, hlc, at FROM changes WHERE entity = $1 AND entity_id = $2", string(entity), id)
	if err != nil {
		return nil, fmt.Errorf("row clocks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Change, error) {
		var c domain.Change
		err := row.Scan(&c.ID, &c.Origin, &c.HLC, &c.At)
		c.At = c.At.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("row clocks: %w", err)
	}
	return out, nil
}

// observeClock moves the hub clock past every clock in the log, so a restart with a wall
// clock that stepped back never reuses a reading.
func (s *Store) observeClock(ctx context.Context) error {
	var top *string
	if err := s.pool.QueryRow(ctx, `SELECT max(hlc COLLATE "C") FROM changes`).Scan(&top); err != nil {
		return fmt.Errorf("read largest hlc: %w", err)
	}
	if top != nil {
		if ts, err := hlc.Parse(*top); err == nil {
			s.Clock.Observe(ts)
		}
	}
	return nil
}
