package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/aiff/aiff/domain"
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
	if err := tx.QueryRowContext(ctx, "UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value").Scan(&ch.Seq); err != nil {
		return domain.Change{}, fmt.Errorf("next change seq: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO changes (seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ch.Seq, ch.ID, ch.Origin, ch.Actor, string(ch.Entity), ch.EntityID, string(ch.Op), ch.Zone, string(b), ch.HLC,
		micros(ch.At), micros(tx.now)); err != nil {
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
	q := "SELECT seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at FROM changes WHERE seq > ?"
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
		var (
			ch    domain.Change
			patch string
			at    int64
		)
		if err := rows.Scan(&ch.Seq, &ch.ID, &ch.Origin, &ch.Actor, &ch.Entity, &ch.EntityID, &ch.Op, &ch.Zone, &patch, &ch.HLC, &at); err != nil {
			return nil, fmt.Errorf("scan change: %w", err)
		}
		if err := json.Unmarshal([]byte(patch), &ch.Patch); err != nil {
			return nil, fmt.Errorf("decode patch of change %s: %w", ch.ID, err)
		}
		ch.At = fromMicros(at)
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
