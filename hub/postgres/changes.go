package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
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
	if err := tx.QueryRow(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value`).Scan(&ch.Seq); err != nil {
		return domain.Change{}, fmt.Errorf("next change seq: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		ch.Seq, ch.ID, ch.Origin, ch.Actor, string(ch.Entity), ch.EntityID, string(ch.Op), ch.Zone, string(b), ch.HLC,
		ch.At, tx.now); err != nil {
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
	q := `SELECT seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at FROM changes WHERE seq > $1`
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
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Change, error) {
		var (
			ch    domain.Change
			patch []byte
		)
		if err := row.Scan(&ch.Seq, &ch.ID, &ch.Origin, &ch.Actor, &ch.Entity, &ch.EntityID, &ch.Op, &ch.Zone, &patch, &ch.HLC, &ch.At); err != nil {
			return ch, err
		}
		if err := json.Unmarshal(patch, &ch.Patch); err != nil {
			return ch, fmt.Errorf("decode patch of change %s: %w", ch.ID, err)
		}
		ch.At = ch.At.UTC()
		return ch, nil
	})
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
