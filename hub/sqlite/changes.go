package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// appendChange writes one change of entity/id to the log in tx. Seq comes from the
// change_seq counter, incremented under the write lock of the same transaction, so seqs are
// gap-free and in commit order. A nil or empty patch on an upsert writes nothing: callers
// check for that first, and this is a second guard.
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
	// base for each field is the row's latest clock (syncstore.Stamp).
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
		baseJSON, _ = json.Marshal(ch.Base)
	}
	if err := tx.QueryRowContext(ctx, "UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value").Scan(&ch.Seq); err != nil {
		return domain.Change{}, fmt.Errorf("next change seq: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO changes (seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, received_at, base)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ch.Seq, ch.ID, ch.Origin, ch.Actor, string(ch.Entity), ch.EntityID, string(ch.Op), ch.Zone, string(b), ch.HLC,
		micros(ch.At), micros(tx.now), string(baseJSON)); err != nil {
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
	q := "SELECT " + changeCols + " FROM changes WHERE seq > ?"
	args := []any{after}
	if len(zones) > 0 {
		ph, za := inList(zones)
		q += " AND zone IN (" + ph + ")"
		args = append(args, za...)
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, limit)
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
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

// LastSeq returns the highest Seq given so far, 0 for an empty log.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&seq); err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return seq.Int64, nil
}
