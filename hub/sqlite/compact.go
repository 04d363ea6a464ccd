package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

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

// compactBatch is how many rows one compaction plan covers: its write transaction is short
// enough that a push waiting for the single writer connection waits milliseconds, and a run
// over a big log is not all commit overhead.
const compactBatch = 100

// Horizon reads the enforced horizon. The single writer connection already keeps a
// compactor from moving it during the push.
func (t *syncTx) Horizon(ctx context.Context) (string, error) {
	return readState(ctx, t.tx.Tx, "horizon")
}

// DroppedChanges looks ids up in the index of changes compaction dropped.
func (t *syncTx) DroppedChanges(ctx context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	for start := 0; start < len(ids); start += 500 {
		ph, args := inList(ids[start:min(len(ids), start+500)])
		rows, err := t.tx.QueryContext(ctx, "SELECT id, seq FROM changes_dropped WHERE id IN ("+ph+")", args...)
		if err != nil {
			return nil, fmt.Errorf("dropped changes: %w", err)
		}
		for rows.Next() {
			var id string
			var seq int64
			if err := rows.Scan(&id, &seq); err != nil {
				rows.Close()
				return nil, fmt.Errorf("dropped changes: %w", err)
			}
			out[id] = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("dropped changes: %w", err)
		}
	}
	return out, nil
}

// DropChanges deletes changes from the log and indexes their ids with their seqs.
func (t *syncTx) DropChanges(ctx context.Context, dropped []domain.Change, now time.Time) error {
	for start := 0; start < len(dropped); start += 300 {
		part := dropped[start:min(len(dropped), start+300)]
		ids := make([]string, len(part))
		args := make([]any, 0, 3*len(part))
		for i, c := range part {
			ids[i] = c.ID
			args = append(args, c.ID, c.Seq, micros(now))
		}
		if _, err := t.tx.ExecContext(ctx, "INSERT INTO changes_dropped (id, seq, dropped_at) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(part)), ", ")+" ON CONFLICT (id) DO NOTHING", args...); err != nil {
			return fmt.Errorf("index dropped changes: %w", err)
		}
		ph, idArgs := inList(ids)
		if _, err := t.tx.ExecContext(ctx, "DELETE FROM changes WHERE id IN ("+ph+")", idArgs...); err != nil {
			return fmt.Errorf("drop changes: %w", err)
		}
	}
	return nil
}

// RewriteChanges replaces the patch and base of trimmed changes in place.
func (t *syncTx) RewriteChanges(ctx context.Context, trimmed []domain.Change) error {
	for _, c := range trimmed {
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
		if _, err := t.exec(ctx, "UPDATE changes SET patch = ?, base = ? WHERE id = ?", string(patch), string(base), c.ID); err != nil {
			return fmt.Errorf("rewrite change %s: %w", c.ID, err)
		}
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readState(ctx context.Context, q querier, name string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, "SELECT value FROM sync_state WHERE name = ?", name).Scan(&v)
	if err != nil && err != sql.ErrNoRows {
		return "", fmt.Errorf("read sync state %s: %w", name, err)
	}
	return v, nil
}

func writeState(ctx context.Context, tx *tx, name, value string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO sync_state (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
		return fmt.Errorf("write sync state %s: %w", name, err)
	}
	return nil
}

// Compact stores the enforced horizon (forward only) and then folds every row with changes
// between the last compacted horizon and it, a batch of rows at a time: read and planned on a
// reader (syncstore.PlanCompaction), applied in a short write transaction. See
// syncstore.Compactor.
func (s *Store) Compact(ctx context.Context, horizon time.Time) (syncstore.CompactStats, error) {
	start := time.Now()
	var st syncstore.CompactStats
	want := merge.HorizonAt(horizon).HLC
	var enforced, compacted string
	err := s.write(ctx, func(tx *tx) error {
		var err error
		if enforced, err = readState(ctx, tx.Tx, "horizon"); err != nil {
			return err
		}
		if compacted, err = readState(ctx, tx.Tx, "compacted"); err != nil {
			return err
		}
		if want > enforced {
			enforced = want
			return writeState(ctx, tx, "horizon", enforced)
		}
		return nil
	})
	if err != nil {
		return st, err
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
			// Read and plan on a reader, so the writer is held only to apply the plan.
			rtx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				return st, fmt.Errorf("begin compaction read: %w", err)
			}
			logged, err := (&syncTx{tx: &tx{Tx: rtx}}).RowChanges(ctx, batch)
			rtx.Rollback()
			if err != nil {
				return st, err
			}
			pl, err := syncstore.PlanCompaction(logged, batch, h)
			if err != nil {
				return st, err
			}
			if len(pl.Dropped)+len(pl.Trimmed) > 0 {
				if err := s.write(ctx, func(tx *tx) error { return pl.Apply(ctx, &syncTx{tx: tx}, tx.now) }); err != nil {
					return st, err
				}
			}
			st.Add(pl.Stats)
			if err := syncstore.Pace(ctx, time.Since(began), s.ingest.Busy(time.Now())); err != nil {
				return st, err
			}
		}
		if err := s.write(ctx, func(tx *tx) error {
			cur, err := readState(ctx, tx.Tx, "compacted")
			if err != nil || cur >= enforced {
				return err
			}
			return writeState(ctx, tx, "compacted", enforced)
		}); err != nil {
			return st, err
		}
	}
	st.Millis = time.Since(start).Milliseconds()
	return st, nil
}

// compactCandidates returns the rows with a change whose clock lies in [from, to): the only
// rows compacting at to changes after compacting at from (compaction composes). A change
// without a clock is placed by its "at".
func (s *Store) compactCandidates(ctx context.Context, from, to string) ([]syncstore.RowKey, error) {
	fromAt, toAt := syncstore.HorizonWall(from), syncstore.HorizonWall(to)
	rows, err := s.reader.QueryContext(ctx, `SELECT DISTINCT entity, entity_id FROM changes
		WHERE (hlc <> '' AND hlc >= ? AND hlc < ?) OR (hlc = '' AND at >= ? AND at < ?)
		ORDER BY entity, entity_id`, from, to, micros(fromAt), micros(toAt))
	if err != nil {
		return nil, fmt.Errorf("compaction candidates: %w", err)
	}
	defer rows.Close()
	var out []syncstore.RowKey
	for rows.Next() {
		var k syncstore.RowKey
		if err := rows.Scan(&k.Entity, &k.ID); err != nil {
			return nil, fmt.Errorf("compaction candidates: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// SnapshotLog reads, in one read transaction, the cursor, the enforced horizon, the scope's
// zone names and the changes up to the cursor of every row in scope (syncstore.SnapshotLog).
func (s *Store) SnapshotLog(ctx context.Context, zones []string) (syncstore.SnapshotLog, error) {
	var out syncstore.SnapshotLog
	rtx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return out, fmt.Errorf("begin snapshot: %w", err)
	}
	defer rtx.Rollback()
	if err := rtx.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&out.Cursor); err != nil {
		return out, fmt.Errorf("snapshot cursor: %w", err)
	}
	if out.Horizon, err = readState(ctx, rtx, "horizon"); err != nil {
		return out, err
	}
	q := "SELECT " + changeCols + " FROM changes WHERE seq <= ?"
	args := []any{out.Cursor}
	if zones == nil {
		names, err := rtx.QueryContext(ctx, "SELECT name FROM zones ORDER BY name")
		if err != nil {
			return out, fmt.Errorf("snapshot zones: %w", err)
		}
		for names.Next() {
			var n string
			if err := names.Scan(&n); err != nil {
				names.Close()
				return out, fmt.Errorf("snapshot zones: %w", err)
			}
			out.Zones = append(out.Zones, n)
		}
		names.Close()
		if err := names.Err(); err != nil {
			return out, fmt.Errorf("snapshot zones: %w", err)
		}
	} else {
		out.Zones = zones
		ph, za := inList(zones)
		q += ` AND (
			(entity = 'ticket' AND entity_id IN (SELECT id FROM tickets WHERE zone IN (` + ph + `)))
			OR (entity = 'team' AND entity_id IN (SELECT id FROM teams WHERE zone IN (` + ph + `)))
			OR (entity = 'note' AND entity_id IN (SELECT id FROM notes WHERE zone IN (` + ph + `)))
			OR (entity = 'user' AND entity_id IN (SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.zone IN (` + ph + `)))
			OR (entity = 'zone' AND entity_id IN (SELECT id FROM zones WHERE name IN (` + ph + `))))`
		for range 5 {
			args = append(args, za...)
		}
	}
	rows, err := rtx.QueryContext(ctx, q+" ORDER BY entity, entity_id, seq", args...)
	if err != nil {
		return out, fmt.Errorf("snapshot changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ch, err := scanChange(rows)
		if err != nil {
			return out, err
		}
		out.Changes = append(out.Changes, ch)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("snapshot changes: %w", err)
	}
	return out, nil
}
