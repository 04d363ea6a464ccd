package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
)

var (
	_ syncstore.Compactor      = (*Store)(nil)
	_ syncstore.SnapshotSource = (*Store)(nil)
	_ syncstore.HorizonTx      = (*syncTx)(nil)
	_ syncstore.CompactTx      = (*syncTx)(nil)
)

// compactBatch is how many rows one compaction plan covers.
const compactBatch = 100

// Horizon reads the enforced horizon FOR SHARE: a compactor moving it waits until this push
// commits, so every push that commits after the move has checked the new horizon, and a
// snapshot or compaction that reads the new one sees every change checked against the old.
func (t *syncTx) Horizon(ctx context.Context) (string, error) {
	var v string
	err := t.tx.QueryRow(ctx, "SELECT value FROM sync_state WHERE name = 'horizon' FOR SHARE").Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("read horizon: %w", err)
	}
	return v, nil
}

// DroppedChanges looks ids up in the index of changes compaction dropped.
func (t *syncTx) DroppedChanges(ctx context.Context, ids []string) (map[string]int64, error) {
	rows, err := t.tx.Query(ctx, "SELECT id, seq FROM changes_dropped WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("dropped changes: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, fmt.Errorf("dropped changes: %w", err)
		}
		out[id] = seq
	}
	return out, rows.Err()
}

// DropChanges deletes changes from the log and indexes their ids with their seqs.
func (t *syncTx) DropChanges(ctx context.Context, dropped []domain.Change, now time.Time) error {
	ids := make([]string, len(dropped))
	seqs := make([]int64, len(dropped))
	for i, c := range dropped {
		ids[i], seqs[i] = c.ID, c.Seq
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO changes_dropped (id, seq, dropped_at)
		SELECT id, seq, $3 FROM unnest($1::text[], $2::bigint[]) AS d(id, seq) ON CONFLICT (id) DO NOTHING`,
		ids, seqs, now); err != nil {
		return fmt.Errorf("index dropped changes: %w", err)
	}
	if _, err := t.tx.Exec(ctx, "DELETE FROM changes WHERE id = ANY($1)", ids); err != nil {
		return fmt.Errorf("drop changes: %w", err)
	}
	return nil
}

// RewriteChanges replaces the patch and base of trimmed changes in place, in one statement.
func (t *syncTx) RewriteChanges(ctx context.Context, trimmed []domain.Change) error {
	ids := make([]string, len(trimmed))
	patches := make([]string, len(trimmed))
	bases := make([]string, len(trimmed))
	for i, c := range trimmed {
		patch, base := []byte("{}"), []byte("{}")
		var err error
		if c.Op == domain.OpUpsert && c.Patch != nil {
			if patch, err = syncstore.EncodeJSON(c.Patch); err != nil {
				return fmt.Errorf("encode patch of %s: %w", c.ID, err)
			}
		}
		if len(c.Base) > 0 {
			if base, err = syncstore.EncodeJSON(c.Base); err != nil {
				return fmt.Errorf("encode base of %s: %w", c.ID, err)
			}
		}
		ids[i], patches[i], bases[i] = c.ID, string(patch), string(base)
	}
	if _, err := t.tx.Exec(ctx, `UPDATE changes c SET patch = r.patch::json, base = r.base::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[]) AS r(id, patch, base) WHERE c.id = r.id`,
		ids, patches, bases); err != nil {
		return fmt.Errorf("rewrite changes: %w", err)
	}
	return nil
}

type stateQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readState(ctx context.Context, q stateQuerier, name string, lock string) (string, error) {
	var v string
	err := q.QueryRow(ctx, "SELECT value FROM sync_state WHERE name = $1"+lock, name).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("read sync state %s: %w", name, err)
	}
	return v, nil
}

func writeState(ctx context.Context, tx *tx, name, value string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO sync_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
		return fmt.Errorf("write sync state %s: %w", name, err)
	}
	return nil
}

// Compact stores the enforced horizon (forward only; the update waits for pushes that read
// the old one) and then folds every row with changes between the last compacted horizon and
// it, a batch of rows at a time: read and planned outside (syncstore.PlanCompaction), applied
// in a short write transaction. Pushes to the same rows may commit in between: they only
// append changes above the horizon, and compacting then appending equals appending then
// compacting. See syncstore.Compactor.
func (s *Store) Compact(ctx context.Context, horizon time.Time) (syncstore.CompactStats, error) {
	start := time.Now()
	var st syncstore.CompactStats
	want := merge.HorizonAt(horizon).HLC
	var enforced, compacted string
	err := s.write(ctx, func(tx *tx) error {
		var err error
		if enforced, err = readState(ctx, tx, "horizon", " FOR UPDATE"); err != nil {
			return err
		}
		if compacted, err = readState(ctx, tx, "compacted", ""); err != nil {
			return err
		}
		if want > enforced {
			enforced = want
			return writeState(ctx, tx, "horizon", enforced)
		}
		return nil
	})
	if err != nil {
		return st, translate(err)
	}
	st.Horizon = enforced
	h, err := merge.ParseHorizon(enforced)
	if err != nil {
		return st, fmt.Errorf("stored horizon: %w", err)
	}
	if compacted < enforced {
		keys, err := s.compactCandidates(ctx, compacted, enforced)
		if err != nil {
			return st, err
		}
		for start := 0; start < len(keys); start += compactBatch {
			batch, began := keys[start:min(len(keys), start+compactBatch)], time.Now()
			// Read and plan outside the write transaction, which then only applies the plan.
			var logged map[syncstore.RowKey][]domain.Change
			err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(rtx pgx.Tx) error {
				var err error
				logged, err = (&syncTx{&tx{Tx: rtx}}).RowChanges(ctx, batch)
				return err
			})
			if err != nil {
				return st, translate(err)
			}
			pl, err := syncstore.PlanCompaction(logged, batch, h)
			if err != nil {
				return st, err
			}
			if len(pl.Dropped)+len(pl.Trimmed) > 0 {
				if err := s.write(ctx, func(tx *tx) error { return pl.Apply(ctx, &syncTx{tx}, tx.now) }); err != nil {
					return st, translate(err)
				}
			}
			st.Add(pl.Stats)
			if err := syncstore.Pace(ctx, time.Since(began), s.ingest.Busy(time.Now())); err != nil {
				return st, err
			}
		}
		if err := s.write(ctx, func(tx *tx) error {
			cur, err := readState(ctx, tx, "compacted", " FOR UPDATE")
			if err != nil || cur >= enforced {
				return err
			}
			return writeState(ctx, tx, "compacted", enforced)
		}); err != nil {
			return st, translate(err)
		}
	}
	st.Millis = time.Since(start).Milliseconds()
	return st, nil
}

// compactCandidates returns the rows with a change whose clock lies in [from, to): the only
// rows compacting at to changes after compacting at from (compaction composes). A change
// without a clock is placed by its "at". Clocks compare byte-wise (COLLATE "C").
func (s *Store) compactCandidates(ctx context.Context, from, to string) ([]syncstore.RowKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT entity, entity_id FROM changes
		WHERE (hlc <> '' AND hlc COLLATE "C" >= $1 AND hlc COLLATE "C" < $2) OR (hlc = '' AND at >= $3 AND at < $4)
		ORDER BY entity, entity_id`, from, to, syncstore.HorizonWall(from), syncstore.HorizonWall(to))
	if err != nil {
		return nil, translate(fmt.Errorf("compaction candidates: %w", err))
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (syncstore.RowKey, error) {
		var k syncstore.RowKey
		err := row.Scan(&k.Entity, &k.ID)
		return k, err
	})
	if err != nil {
		return nil, translate(fmt.Errorf("compaction candidates: %w", err))
	}
	return keys, nil
}

// SnapshotLog reads, in one repeatable-read transaction, the cursor, the enforced horizon, the
// scope's zone names and the changes up to the cursor of every row in scope
// (syncstore.SnapshotLog).
func (s *Store) SnapshotLog(ctx context.Context, zones []string) (syncstore.SnapshotLog, error) {
	var out syncstore.SnapshotLog
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		out = syncstore.SnapshotLog{}
		if err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&out.Cursor); err != nil {
			return fmt.Errorf("snapshot cursor: %w", err)
		}
		var err error
		if out.Horizon, err = readState(ctx, tx, "horizon", ""); err != nil {
			return err
		}
		q := `SELECT ` + changeCols + ` FROM changes WHERE seq <= $1`
		args := []any{out.Cursor}
		if zones == nil {
			rows, err := tx.Query(ctx, `SELECT name FROM zones ORDER BY name COLLATE "C"`)
			if err != nil {
				return fmt.Errorf("snapshot zones: %w", err)
			}
			if out.Zones, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return fmt.Errorf("snapshot zones: %w", err)
			}
		} else {
			out.Zones = zones
			q += ` AND (
				(entity = 'ticket' AND entity_id IN (SELECT id FROM tickets WHERE zone = ANY($2)))
				OR (entity = 'team' AND entity_id IN (SELECT id FROM teams WHERE zone = ANY($2)))
				OR (entity = 'note' AND entity_id IN (SELECT id FROM notes WHERE zone = ANY($2)))
				OR (entity = 'user' AND entity_id IN (SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.zone = ANY($2)))
				OR (entity = 'zone' AND entity_id IN (SELECT id FROM zones WHERE name = ANY($2))))`
			args = append(args, zones)
		}
		rows, err := tx.Query(ctx, q+` ORDER BY entity COLLATE "C", entity_id COLLATE "C", seq`, args...)
		if err != nil {
			return fmt.Errorf("snapshot changes: %w", err)
		}
		out.Changes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Change, error) { return scanChange(row) })
		if err != nil {
			return fmt.Errorf("snapshot changes: %w", err)
		}
		return nil
	})
	return out, translate(err)
}
