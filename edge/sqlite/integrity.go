package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/integrity"
	"github.com/aiff/aiff/sync/merge"
)

// IntegrityView is what this replica holds of a zone, read in one transaction: the states
// its bucket checksums are computed from (sync/PROTOCOL.md §11), at Cursor.
type IntegrityView struct {
	Zone   string
	Cursor int64
	// Pending counts unsynced local changes, and accepted ones the cursor has not reached:
	// while there are any, the replica's rows differ from the hub's at Cursor on purpose and
	// are not compared.
	Pending int
	States  []merge.State
}

// Report returns the view's bucket checksums.
func (v IntegrityView) Report() integrity.Report {
	return integrity.NewReport(v.Zone, v.Cursor, v.States)
}

// Integrity reads the zone's rows (tickets and teams of the zone and the zone itself, as
// Digest does), the cursor and the number of pending changes in one read transaction. With
// pending changes the view has no States: the zone is not compared then (PROTOCOL.md §11),
// and decoding every row's history for nothing competed with the push of those very changes
// when an edge came back from working offline.
func (s *Store) Integrity(ctx context.Context, zone string) (IntegrityView, error) {
	v := IntegrityView{Zone: zone}
	rtx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return v, fmt.Errorf("begin integrity read: %w", err)
	}
	defer rtx.Rollback()
	if c, err := getMeta(ctx, rtx, metaCursor); err != nil {
		return v, err
	} else if c != "" {
		v.Cursor, _ = strconv.ParseInt(c, 10, 64)
	}
	// A change the hub accepted beyond the cursor is in the rows but not yet in the hub's
	// state at the cursor: not comparable either, until the stream brings it back.
	if err := rtx.QueryRowContext(ctx, "SELECT count(*) FROM outbox WHERE status = 'pending' OR (status = 'acked' AND hub_seq > ?)",
		v.Cursor).Scan(&v.Pending); err != nil {
		return v, fmt.Errorf("count pending: %w", err)
	}
	if v.Pending > 0 {
		return v, nil
	}
	rows, err := rtx.QueryContext(ctx, "SELECT entity, id, state FROM rows WHERE entity IN ('ticket', 'team', 'zone', 'note') AND zone = ?", zone)
	if err != nil {
		return v, fmt.Errorf("integrity rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e, id, b string
		if err := rows.Scan(&e, &id, &b); err != nil {
			return v, fmt.Errorf("scan integrity row: %w", err)
		}
		r, err := decodeState([]byte(b))
		if err != nil {
			// An unreadable state is a damaged row: count it as one the hub does not have,
			// so its bucket mismatches and the repair rewrites it.
			r = merge.Row{Entity: domain.Entity(e), ID: id, Fields: map[string]merge.Field{}}
		}
		// The key columns are the row's identity in the file: a state naming another row is
		// damage too, and is compared (and repaired) under the key.
		st := r.State()
		st.Entity, st.ID = domain.Entity(e), id
		v.States = append(v.States, st)
	}
	return v, rows.Err()
}

// RepairResult is what ReplaceBucket did.
type RepairResult struct {
	// Moved: the cursor was no longer the one the hub's rows were taken at; nothing was
	// written (compare again).
	Moved    bool
	Replaced int // rows rewritten from the hub's history
	Removed  int // rows held here that the hub does not have in the bucket
}

// ReplaceBucket replaces, in one transaction, this replica's rows of one bucket of zone with
// the hub's (their logged histories up to cursor, with this replica's pending changes
// replayed on top): rows the hub has are rewritten, rows of the bucket it lacks are removed.
// It writes nothing if the replica's cursor is no longer cursor, since rows cut at cursor
// would then lose changes the replica will not be sent again.
func (s *Store) ReplaceBucket(ctx context.Context, zone, bucket string, cursor int64, hubRows []integrity.Row) (RepairResult, error) {
	var res RepairResult
	err := s.write(ctx, func(t *tx) error {
		res = RepairResult{}
		cur, err := getMeta(ctx, t, metaCursor)
		if err != nil {
			return err
		}
		if n, _ := strconv.ParseInt(cur, 10, 64); n != cursor {
			res.Moved = true
			return nil
		}
		keep := map[RowKey]bool{}
		for _, hr := range hubRows {
			if integrity.BucketOf(hr.Entity, hr.ID) != bucket {
				return domain.Errorf(domain.CodeInvalid, "hub row %s %s is not in bucket %s", hr.Entity, hr.ID, bucket)
			}
			k := RowKey{Entity: hr.Entity, ID: hr.ID}
			keep[k] = true
			pending, err := t.pendingOf(ctx, k)
			if err != nil {
				return err
			}
			all := append(append([]domain.Change{}, hr.Changes...), pending...)
			row, err := merge.Replay(all)
			if err != nil {
				return fmt.Errorf("replay %s %s from the hub: %w", hr.Entity, hr.ID, err)
			}
			for _, c := range hr.Changes {
				t.observe(c)
				if c.Origin == t.s.Node && c.Seq > 0 {
					if err := t.ack(ctx, c.ID, c.Seq); err != nil {
						return err
					}
				}
			}
			if _, err := t.row(ctx, hr.Entity, hr.ID); err != nil {
				return err
			}
			t.put(row)
			res.Replaced++
		}
		held, err := t.keys(ctx, "SELECT entity, id FROM rows WHERE entity IN ('ticket', 'team', 'zone', 'note') AND zone = ?", zone)
		if err != nil {
			return err
		}
		for _, k := range held {
			if keep[k] || integrity.BucketOf(k.Entity, k.ID) != bucket {
				continue
			}
			if err := t.purge(ctx, k, "the hub does not hold this row (integrity repair)"); err != nil {
				return err
			}
			res.Removed++
		}
		return nil
	})
	return res, err
}

// pendingOf returns the row's pending local changes in the order they were made.
func (t *tx) pendingOf(ctx context.Context, k RowKey) ([]domain.Change, error) {
	rows, err := t.QueryContext(ctx, "SELECT change FROM outbox WHERE entity = ? AND entity_id = ? AND status = 'pending' ORDER BY seq",
		string(k.Entity), k.ID)
	if err != nil {
		return nil, fmt.Errorf("pending changes of %s %s: %w", k.Entity, k.ID, err)
	}
	defer rows.Close()
	var out []domain.Change
	for rows.Next() {
		var b string
		var c domain.Change
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("pending changes of %s %s: %w", k.Entity, k.ID, err)
		}
		if err := json.Unmarshal([]byte(b), &c); err != nil {
			return nil, fmt.Errorf("decode pending change of %s %s: %w", k.Entity, k.ID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
