package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

var (
	_ syncstore.Watermarks = (*Store)(nil)
	_ syncstore.PurgeTx    = (*syncTx)(nil)
)

// purgeBatch is how many tombstones one purge transaction removes.
const purgeBatch = 100

func encodeZones(zones []string) any {
	if zones == nil {
		return nil
	}
	b, _ := json.Marshal(zones)
	return string(b)
}

func decodeZones(v sql.NullString) []string {
	if !v.Valid {
		return nil
	}
	out := []string{}
	json.Unmarshal([]byte(v.String), &out)
	return out
}

// loadReplica reads node's watermark; ok is false if it has none.
func loadReplica(ctx context.Context, q querier, node string) (r syncstore.Replica, floor int64, ok bool, err error) {
	var zones sql.NullString
	var seen int64
	var stale sql.NullInt64
	err = q.QueryRowContext(ctx, "SELECT node, zones, cursor, floor, seen_at, stale_at FROM sync_replicas WHERE node = ?", node).
		Scan(&r.Node, &zones, &r.Cursor, &floor, &seen, &stale)
	if errors.Is(err, sql.ErrNoRows) {
		return r, 0, false, nil
	}
	if err != nil {
		return r, 0, false, fmt.Errorf("read replica %s: %w", node, err)
	}
	r.Zones, r.SeenAt, r.StaleAt = decodeZones(zones), fromMicros(seen), fromNullMicros(stale)
	return r, floor, true, nil
}

// RecordCursor raises node's watermark (syncstore.Watermarks). A stale replica, or a cursor
// below the snapshot the replica re-bootstrapped from, is refused with
// *syncstore.BehindHorizonError.
func (s *Store) RecordCursor(ctx context.Context, node string, zones []string, cursor int64) (syncstore.Replica, error) {
	var out syncstore.Replica
	err := s.write(ctx, func(tx *tx) error {
		r, floor, ok, err := loadReplica(ctx, tx.Tx, node)
		if err != nil {
			return err
		}
		if ok && (r.StaleAt != nil || cursor < floor) {
			var purged int64
			if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM sync_purged").Scan(&purged); err != nil {
				return fmt.Errorf("purged through: %w", err)
			}
			return &syncstore.BehindHorizonError{Cursor: cursor, Dropped: max(purged, floor)}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_replicas (node, zones, cursor, seen_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (node) DO UPDATE SET zones = excluded.zones, cursor = max(cursor, excluded.cursor), seen_at = excluded.seen_at`,
			node, encodeZones(zones), cursor, micros(tx.now)); err != nil {
			return fmt.Errorf("record cursor of %s: %w", node, err)
		}
		out, _, _, err = loadReplica(ctx, tx.Tx, node)
		return err
	})
	return out, err
}

// Rebootstrapped clears a stale replica's mark as it loads a snapshot at cursor, which
// becomes its floor (syncstore.Watermarks). A replica that is not stale is left alone.
func (s *Store) Rebootstrapped(ctx context.Context, node string, zones []string, cursor int64) error {
	return s.write(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sync_replicas SET stale_at = NULL, floor = ?, cursor = ?, zones = ?, seen_at = ?
			WHERE node = ? AND stale_at IS NOT NULL`, cursor, cursor, encodeZones(zones), micros(tx.now), node); err != nil {
			return fmt.Errorf("rebootstrap %s: %w", node, err)
		}
		return nil
	})
}

// Replicas lists the watermarks by node.
func (s *Store) Replicas(ctx context.Context) ([]syncstore.Replica, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT node, zones, cursor, seen_at, stale_at FROM sync_replicas ORDER BY node")
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []syncstore.Replica
	for rows.Next() {
		var r syncstore.Replica
		var zones sql.NullString
		var seen int64
		var stale sql.NullInt64
		if err := rows.Scan(&r.Node, &zones, &r.Cursor, &seen, &stale); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		r.Zones, r.SeenAt, r.StaleAt = decodeZones(zones), fromMicros(seen), fromNullMicros(stale)
		out = append(out, r)
	}
	return out, rows.Err()
}

// CollectTombstones marks silent replicas stale and purges the tombstones every live holder
// has acknowledged (syncstore.Watermarks).
func (s *Store) CollectTombstones(ctx context.Context, silentBefore time.Time) (syncstore.TombstoneStats, error) {
	var st syncstore.TombstoneStats
	replicas, err := s.Replicas(ctx)
	if err != nil {
		return st, err
	}
	tombs, err := s.tombstones(ctx)
	if err != nil {
		return st, err
	}
	st.Tombstones = len(tombs)
	purge, stale := syncstore.PlanTombstones(replicas, tombs, silentBefore)
	if len(stale) > 0 {
		moved := false
		err := s.write(ctx, func(tx *tx) error {
			moved, st.Stale = false, nil
			for _, n := range stale {
				// Only if still silent: a pull between the read and now keeps it live.
				res, err := tx.ExecContext(ctx, "UPDATE sync_replicas SET stale_at = ? WHERE node = ? AND stale_at IS NULL AND seen_at < ?",
					micros(tx.now), n, micros(silentBefore))
				if err != nil {
					return fmt.Errorf("mark %s stale: %w", n, err)
				}
				if k, _ := res.RowsAffected(); k == 0 {
					moved = true
					continue
				}
				st.Stale = append(st.Stale, n)
			}
			return nil
		})
		if err != nil {
			return st, err
		}
		if moved {
			return st, nil // a replica came back meanwhile: plan again at the next run
		}
	}
	for start := 0; start < len(purge); start += purgeBatch {
		batch := purge[start:min(len(purge), start+purgeBatch)]
		err := s.write(ctx, func(tx *tx) error {
			for _, t := range batch {
				var last int64
				if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM changes WHERE entity = ? AND entity_id = ?",
					string(t.Key.Entity), t.Key.ID).Scan(&last); err != nil {
					return fmt.Errorf("last change of %s %s: %w", t.Key.Entity, t.Key.ID, err)
				}
				if last != t.LastSeq {
					continue // a change arrived after the plan: not every holder has it
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO sync_purged_changes (id, seq)
					SELECT id, seq FROM changes WHERE entity = ? AND entity_id = ? ON CONFLICT (id) DO NOTHING`,
					string(t.Key.Entity), t.Key.ID); err != nil {
					return fmt.Errorf("index purged changes: %w", err)
				}
				res, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE entity = ? AND entity_id = ?", string(t.Key.Entity), t.Key.ID)
				if err != nil {
					return fmt.Errorf("purge %s %s: %w", t.Key.Entity, t.Key.ID, err)
				}
				n, _ := res.RowsAffected()
				if _, err := tx.ExecContext(ctx, `INSERT INTO sync_purged (entity, entity_id, seq, purged_at) VALUES (?, ?, ?, ?)
					ON CONFLICT (entity, entity_id) DO NOTHING`, string(t.Key.Entity), t.Key.ID, t.LastSeq, micros(tx.now)); err != nil {
					return fmt.Errorf("record purge of %s %s: %w", t.Key.Entity, t.Key.ID, err)
				}
				st.Purged++
				st.Changes += int(n)
			}
			return nil
		})
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// tombstones lists the deleted rows still in the log with their zone and last seq.
func (s *Store) tombstones(ctx context.Context) ([]syncstore.Tombstone, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT d.entity, d.entity_id, min(d.zone),
		(SELECT max(c.seq) FROM changes c WHERE c.entity = d.entity AND c.entity_id = d.entity_id)
		FROM changes d WHERE d.op = 'delete' GROUP BY d.entity, d.entity_id ORDER BY d.entity, d.entity_id`)
	if err != nil {
		return nil, fmt.Errorf("list tombstones: %w", err)
	}
	defer rows.Close()
	var out []syncstore.Tombstone
	for rows.Next() {
		var t syncstore.Tombstone
		var e string
		if err := rows.Scan(&e, &t.Key.ID, &t.Zone, &t.LastSeq); err != nil {
			return nil, fmt.Errorf("list tombstones: %w", err)
		}
		t.Key.Entity = domain.Entity(e)
		out = append(out, t)
	}
	return out, rows.Err()
}

// PurgedRows reports which of keys were purged (syncstore.PurgeTx).
func (t *syncTx) PurgedRows(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey]bool, error) {
	out := map[syncstore.RowKey]bool{}
	for _, k := range keys {
		var one int
		err := t.tx.QueryRowContext(ctx, "SELECT 1 FROM sync_purged WHERE entity = ? AND entity_id = ?", string(k.Entity), k.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("purged rows: %w", err)
		}
		out[k] = true
	}
	return out, nil
}

// PurgedChanges returns the seq each of ids had when its row was purged.
func (t *syncTx) PurgedChanges(ctx context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	for start := 0; start < len(ids); start += 500 {
		ph, args := inList(ids[start:min(len(ids), start+500)])
		rows, err := t.tx.QueryContext(ctx, "SELECT id, seq FROM sync_purged_changes WHERE id IN ("+ph+")", args...)
		if err != nil {
			return nil, fmt.Errorf("purged changes: %w", err)
		}
		for rows.Next() {
			var id string
			var seq int64
			if err := rows.Scan(&id, &seq); err != nil {
				rows.Close()
				return nil, fmt.Errorf("purged changes: %w", err)
			}
			out[id] = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("purged changes: %w", err)
		}
	}
	return out, nil
}
