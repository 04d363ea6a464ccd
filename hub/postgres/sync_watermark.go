package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

var (
	_ syncstore.Watermarks = (*Store)(nil)
	_ syncstore.PurgeTx    = (*syncTx)(nil)
)

// purgeBatch is how many tombstones one purge transaction removes.
const purgeBatch = 100

func encodeZones(zones []string) *string {
	if zones == nil {
		return nil
	}
	b, _ := json.Marshal(zones)
	s := string(b)
	return &s
}

func decodeZones(v *string) []string {
	if v == nil {
		return nil
	}
	out := []string{}
	json.Unmarshal([]byte(*v), &out)
	return out
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadReplica reads node's watermark (locked with lock); ok is false if it has none.
func loadReplica(ctx context.Context, q rowQuerier, node, lock string) (r syncstore.Replica, floor int64, ok bool, err error) {
	var zones *string
	err = q.QueryRow(ctx, "SELECT node, zones, cursor, floor, seen_at, stale_at FROM sync_replicas WHERE node = $1"+lock, node).
		Scan(&r.Node, &zones, &r.Cursor, &floor, &r.SeenAt, &r.StaleAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, 0, false, nil
	}
	if err != nil {
		return r, 0, false, fmt.Errorf("read replica %s: %w", node, err)
	}
	r.Zones, r.SeenAt, r.StaleAt = decodeZones(zones), r.SeenAt.UTC(), utcPtr(r.StaleAt)
	return r, floor, true, nil
}

// RecordCursor raises node's watermark (syncstore.Watermarks). A stale replica, or a cursor
// below the snapshot the replica re-bootstrapped from, is refused with
// *syncstore.BehindHorizonError.
func (s *Store) RecordCursor(ctx context.Context, node string, zones []string, cursor int64) (syncstore.Replica, error) {
	var out syncstore.Replica
	err := s.write(ctx, func(tx *tx) error {
		r, floor, ok, err := loadReplica(ctx, tx, node, " FOR UPDATE")
		if err != nil {
			return err
		}
		if ok && (r.StaleAt != nil || cursor < floor) {
			var purged int64
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM sync_purged").Scan(&purged); err != nil {
				return fmt.Errorf("purged through: %w", err)
			}
			return &syncstore.BehindHorizonError{Cursor: cursor, Dropped: max(purged, floor)}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sync_replicas (node, zones, cursor, seen_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (node) DO UPDATE SET zones = excluded.zones, cursor = greatest(sync_replicas.cursor, excluded.cursor),
			seen_at = excluded.seen_at`, node, encodeZones(zones), cursor, tx.now); err != nil {
			return fmt.Errorf("record cursor of %s: %w", node, err)
		}
		out, _, _, err = loadReplica(ctx, tx, node, "")
		return err
	})
	return out, err
}

// Rebootstrapped clears a stale replica's mark as it loads a snapshot at cursor, which
// becomes its floor (syncstore.Watermarks). A replica that is not stale is left alone.
func (s *Store) Rebootstrapped(ctx context.Context, node string, zones []string, cursor int64) error {
	return s.write(ctx, func(tx *tx) error {
		if _, err := tx.Exec(ctx, `UPDATE sync_replicas SET stale_at = NULL, floor = $1, cursor = $1, zones = $2, seen_at = $3
			WHERE node = $4 AND stale_at IS NOT NULL`, cursor, encodeZones(zones), tx.now, node); err != nil {
			return fmt.Errorf("rebootstrap %s: %w", node, err)
		}
		return nil
	})
}

// Replicas lists the watermarks by node.
func (s *Store) Replicas(ctx context.Context) ([]syncstore.Replica, error) {
	if s.pool == nil {
		return nil, domain.Errorf(domain.CodeUnavailable, "store is not open")
	}
	rows, err := s.pool.Query(ctx, "SELECT node, zones, cursor, seen_at, stale_at FROM sync_replicas ORDER BY node")
	if err != nil {
		return nil, translate(fmt.Errorf("list replicas: %w", err))
	}
	defer rows.Close()
	var out []syncstore.Replica
	for rows.Next() {
		var r syncstore.Replica
		var zones *string
		if err := rows.Scan(&r.Node, &zones, &r.Cursor, &r.SeenAt, &r.StaleAt); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		r.Zones, r.SeenAt, r.StaleAt = decodeZones(zones), r.SeenAt.UTC(), utcPtr(r.StaleAt)
		out = append(out, r)
	}
	return out, rows.Err()
}

// lockTyped locks a row's typed record the way a push does (LockRows), so a purge and a
// push to the same row are serialized.
var lockTyped = map[domain.Entity]string{
	domain.EntityTicket: "SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE",
	domain.EntityTeam:   "SELECT 1 FROM teams WHERE id = $1 FOR UPDATE",
	domain.EntityUser:   "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
	domain.EntityZone:   "SELECT 1 FROM zones WHERE id = $1 FOR UPDATE",
	domain.EntityNote:   "SELECT 1 FROM notes WHERE id = $1 FOR UPDATE",
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
				tag, err := tx.Exec(ctx, "UPDATE sync_replicas SET stale_at = $1 WHERE node = $2 AND stale_at IS NULL AND seen_at < $3",
					tx.now, n, silentBefore)
				if err != nil {
					return fmt.Errorf("mark %s stale: %w", n, err)
				}
				if tag.RowsAffected() == 0 {
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
		var purged, changes int
		err := s.write(ctx, func(tx *tx) error {
			purged, changes = 0, 0
			for _, t := range batch {
				if q, ok := lockTyped[t.Key.Entity]; ok {
					var one int
					if err := tx.QueryRow(ctx, q, t.Key.ID).Scan(&one); err != nil && !errors.Is(err, pgx.ErrNoRows) {
						return fmt.Errorf("lock %s %s: %w", t.Key.Entity, t.Key.ID, err)
					}
				}
				var last int64
				if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM changes WHERE entity = $1 AND entity_id = $2",
					string(t.Key.Entity), t.Key.ID).Scan(&last); err != nil {
					return fmt.Errorf("last change of %s %s: %w", t.Key.Entity, t.Key.ID, err)
				}
				if last != t.LastSeq {
					continue // a change arrived after the plan: not every holder has it
				}
				if _, err := tx.Exec(ctx, `INSERT INTO sync_purged_changes (id, seq)
					SELECT id, seq FROM changes WHERE entity = $1 AND entity_id = $2 ON CONFLICT (id) DO NOTHING`,
					string(t.Key.Entity), t.Key.ID); err != nil {
					return fmt.Errorf("index purged changes: %w", err)
				}
				tag, err := tx.Exec(ctx, "DELETE FROM changes WHERE entity = $1 AND entity_id = $2", string(t.Key.Entity), t.Key.ID)
				if err != nil {
					return fmt.Errorf("purge %s %s: %w", t.Key.Entity, t.Key.ID, err)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO sync_purged (entity, entity_id, seq, purged_at) VALUES ($1, $2, $3, $4)
					ON CONFLICT (entity, entity_id) DO NOTHING`, string(t.Key.Entity), t.Key.ID, t.LastSeq, tx.now); err != nil {
					return fmt.Errorf("record purge of %s %s: %w", t.Key.Entity, t.Key.ID, err)
				}
				purged++
				changes += int(tag.RowsAffected())
			}
			return nil
		})
		if err != nil {
			return st, err
		}
		st.Purged += purged
		st.Changes += changes
	}
	return st, nil
}

// tombstones lists the deleted rows still in the log with their zone and last seq.
func (s *Store) tombstones(ctx context.Context) ([]syncstore.Tombstone, error) {
	if s.pool == nil {
		return nil, domain.Errorf(domain.CodeUnavailable, "store is not open")
	}
	rows, err := s.pool.Query(ctx, `SELECT d.entity, d.entity_id, min(d.zone),
		(SELECT max(c.seq) FROM changes c WHERE c.entity = d.entity AND c.entity_id = d.entity_id)
		FROM changes d WHERE d.op = 'delete' GROUP BY d.entity, d.entity_id ORDER BY d.entity, d.entity_id`)
	if err != nil {
		return nil, translate(fmt.Errorf("list tombstones: %w", err))
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
	if len(keys) == 0 {
		return out, nil
	}
	ents, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		ents[i], ids[i] = string(k.Entity), k.ID
	}
	rows, err := t.tx.Query(ctx, `SELECT p.entity, p.entity_id FROM sync_purged p
		JOIN unnest($1::text[], $2::text[]) AS k(entity, entity_id) ON p.entity = k.entity AND p.entity_id = k.entity_id`, ents, ids)
	if err != nil {
		return nil, fmt.Errorf("purged rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e, id string
		if err := rows.Scan(&e, &id); err != nil {
			return nil, fmt.Errorf("purged rows: %w", err)
		}
		out[syncstore.RowKey{Entity: domain.Entity(e), ID: id}] = true
	}
	return out, rows.Err()
}

// PurgedChanges returns the seq each of ids had when its row was purged.
func (t *syncTx) PurgedChanges(ctx context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	rows, err := t.tx.Query(ctx, "SELECT id, seq FROM sync_purged_changes WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("purged changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, fmt.Errorf("purged changes: %w", err)
		}
		out[id] = seq
	}
	return out, rows.Err()
}
