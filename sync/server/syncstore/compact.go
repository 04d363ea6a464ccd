package syncstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

// Log compaction on the hub (sync/PROTOCOL.md §9). A store compacts in three steps, each
// durable before the next:
//
//  1. it stores the enforced horizon (only ever forward), so that from then on Push refuses
//     changes below it to rows with history (HorizonTx);
//  2. it compacts every row that has changes newly below the horizon, a few rows at a time:
//     it reads their changes, plans (PlanCompaction: merge.Compact over all of a row's logged
//     changes) and applies the plan in a short write transaction (CompactPlan.Apply): the
//     dropped changes deleted and their ids and seqs kept in an id index (so a retried push of
//     one is still a duplicate), the trimmed ones rewritten in place; no seq is ever renumbered,
//     so dropped seqs are holes that pulls and streams skip like out-of-scope changes;
//  3. it records the horizon as the compacted one, so the next run looks only at changes
//     between the two.
//
// A snapshot (SnapshotSource) reads the enforced horizon with its cursor in one read
// transaction and compacts the rows it sends with it.

// CompactStats reports one compaction run.
type CompactStats struct {
	// Horizon is the enforced horizon the run compacted with (an HLC text, "" for none).
	Horizon string `json:"horizon"`
	// Rows counts the rows examined, Compacted those that lost changes or fields.
	Rows      int `json:"rows"`
	Compacted int `json:"compacted"`
	// Dropped counts changes deleted from the log, Trimmed changes that lost patch entries.
	Dropped int `json:"dropped"`
	Trimmed int `json:"trimmed"`
	// Millis is how long the run took.
	Millis int64 `json:"millis"`
	// Tombstones reports the tombstone collection that follows compaction (watermark.go).
	Tombstones TombstoneStats `json:"tombstones"`
}

// Add adds o's counts to s (a store sums its batches with it).
func (s *CompactStats) Add(o CompactStats) {
	s.Rows += o.Rows
	s.Compacted += o.Compacted
	s.Dropped += o.Dropped
	s.Trimmed += o.Trimmed
}

// Compactor is a hub store whose log can be compacted.
type Compactor interface {
	// Compact moves the enforced horizon to merge.HorizonAt(horizon) if that is later than
	// the stored one (it never moves back) and folds every row's history below the enforced
	// horizon (merge.Compact). Every replica's state, at any cursor, ends the same after
	// pulling to the head as without compaction. Safe to run concurrently with pushes and
	// reads; runs are serialized by the caller. Interrupted runs are resumed by the next.
	Compact(ctx context.Context, horizon time.Time) (CompactStats, error)
}

// SnapshotLog is what a snapshot stream is made of, read in one read transaction.
type SnapshotLog struct {
	// Cursor is the log head the changes are consistent with.
	Cursor int64
	// Horizon is the enforced horizon at Cursor ("" for none).
	Horizon string
	// Zones are the scope's zone names, sorted: the requested ones, or every zone.
	Zones []string
	// Changes are every logged change with seq <= Cursor of every row in scope (tickets and
	// teams whose zone is in Zones, users of teams in Zones, those zones), in (entity,
	// entity_id, seq) order.
	Changes []domain.Change
}

// SnapshotSource is a hub store that can serve snapshot streams.
type SnapshotSource interface {
	// SnapshotLog reads the log of the rows in zones (nil: every row of the log) with the
	// cursor and enforced horizon, in one read transaction.
	SnapshotLog(ctx context.Context, zones []string) (SnapshotLog, error)
}

// HorizonTx is what Push needs of a store's write transaction to honour compaction. A store
// that compacts must implement it on the Tx it passes to Push.
type HorizonTx interface {
	// Horizon returns the enforced horizon ("" for none), read so that it cannot move until
	// the transaction ends (a compactor moving it waits for the push).
	Horizon(ctx context.Context) (string, error)
	// DroppedChanges returns the seq each of ids had when compaction dropped it from the log.
	DroppedChanges(ctx context.Context, ids []string) (map[string]int64, error)
}

// CompactTx is what applying a CompactPlan needs of a store's write transaction.
type CompactTx interface {
	// DropChanges deletes changes from the log and records their ids and seqs in the id
	// index, at now.
	DropChanges(ctx context.Context, dropped []domain.Change, now time.Time) error
	// RewriteChanges replaces the patch and base of each change (by id) with the given ones.
	RewriteChanges(ctx context.Context, trimmed []domain.Change) error
}

// CompactPlan is what compacting some rows does to the log, computed from a read of their
// changes (PlanCompaction) and applied in a short write transaction (Apply).
type CompactPlan struct {
	Stats   CompactStats
	Dropped []domain.Change // delete from the log, index their ids
	Trimmed []domain.Change // rewrite patch and base in place
}

// PlanCompaction folds the rows of keys at horizon, given all of their logged changes (any
// order). It may run outside the write transaction that applies it: a change appended to one
// of the rows in between is not below the enforced horizon (Push refuses those), and
// compacting then appending equals appending then compacting (merge.Compact), so the plan
// stays right.
func PlanCompaction(logged map[RowKey][]domain.Change, keys []RowKey, horizon merge.Version) (CompactPlan, error) {
	var pl CompactPlan
	for _, k := range keys {
		cs := logged[k]
		if len(cs) == 0 {
			continue
		}
		pl.Stats.Rows++
		slices.SortFunc(cs, func(a, b domain.Change) int { return cmp.Compare(a.Seq, b.Seq) })
		res, err := merge.Compact(cs, horizon)
		if err != nil {
			return pl, fmt.Errorf("compact %s %s: %w", k.Entity, k.ID, err)
		}
		if len(res.Dropped) == 0 && len(res.Trimmed) == 0 {
			continue
		}
		pl.Stats.Compacted++
		pl.Dropped = append(pl.Dropped, res.Dropped...)
		for _, c := range res.Changes {
			if slices.Contains(res.Trimmed, c.ID) {
				pl.Trimmed = append(pl.Trimmed, c)
			}
		}
	}
	pl.Stats.Dropped, pl.Stats.Trimmed = len(pl.Dropped), len(pl.Trimmed)
	return pl, nil
}

// Apply writes the plan in tx, at now. Applying a plan twice is harmless.
func (pl CompactPlan) Apply(ctx context.Context, tx CompactTx, now time.Time) error {
	if len(pl.Dropped) > 0 {
		if err := tx.DropChanges(ctx, pl.Dropped, now); err != nil {
			return err
		}
	}
	if len(pl.Trimmed) > 0 {
		if err := tx.RewriteChanges(ctx, pl.Trimmed); err != nil {
			return err
		}
	}
	return nil
}

// HorizonWall returns the time below which a horizon folds changes (its clock's wall), the
// zero time for the zero horizon. Stores use it to find changes without a clock, whose place
// is their "at".
func HorizonWall(h string) time.Time {
	if h == "" {
		return time.Time{}
	}
	ts, err := hlc.Parse(h)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ts.Wall).UTC()
}

// EncodeJSON is compact JSON without HTML escaping, so patch values written back by a
// compactor keep the bytes they were logged with.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// compactionState adds to known the seqs of ids that compaction dropped from the log and
// returns the enforced horizon, when tx supports compaction (HorizonTx).
func compactionState(ctx context.Context, tx Tx, ids []string, known map[string]int64) (merge.Version, error) {
	ht, ok := tx.(HorizonTx)
	if !ok {
		return merge.Version{}, nil
	}
	var missing []string
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		dropped, err := ht.DroppedChanges(ctx, missing)
		if err != nil {
			return merge.Version{}, err
		}
		for id, seq := range dropped {
			known[id] = seq
		}
	}
	h, err := ht.Horizon(ctx)
	if err != nil {
		return merge.Version{}, err
	}
	v, err := merge.ParseHorizon(h)
	if err != nil {
		return merge.Version{}, fmt.Errorf("stored horizon: %w", err)
	}
	return v, nil
}

// belowHorizon refuses a pushed change older than the enforced horizon to a row that already
// has changes (PROTOCOL.md §9.1): merging it could expose values compaction dropped. A new
// row may still be created by an old change. Hub-made changes carry fresh clocks.
func belowHorizon(row merge.Row, c domain.Change, horizon merge.Version, hubMade bool) error {
	if hubMade || horizon.HLC == "" || len(row.Changes) == 0 {
		return nil
	}
	if below, err := merge.BelowHorizon(c, horizon); err != nil || !below {
		return nil // an invalid clock is rejected by apply
	}
	return domain.Errorf(domain.CodeConflict, "change is older than the compacted history (horizon %s)", horizon.HLC)
}

type dutyKey struct{}

// WithDuty returns a context that asks a store's Compact to idle between its batches so that
// compaction works at most duty (0 < duty < 1) of the time it runs: a background job leaves
// the writer and the CPU to ingest. Without it Compact runs flat out (an operator's run).
func WithDuty(ctx context.Context, duty float64) context.Context {
	return context.WithValue(ctx, dutyKey{}, duty)
}

// Pace idles after a batch of compaction work that took d, as ctx's duty asks (WithDuty), and
// returns early with ctx's error if ctx ends. While ingest is busy (a push within the last
// second, see Ingest) it works at a fifth of that duty: compaction is background upkeep that
// can wait, and on a small machine its Postgres work takes CPU from pushes out of proportion
// to its own time. It never stops, so sustained ingest still gets its log compacted.
func Pace(ctx context.Context, d time.Duration, busy bool) error {
	duty, ok := ctx.Value(dutyKey{}).(float64)
	if !ok || duty <= 0 || duty >= 1 {
		return ctx.Err()
	}
	t := time.NewTimer(pause(d, duty, busy))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pause is how long Pace idles after work that took d at duty.
func pause(d time.Duration, duty float64, busy bool) time.Duration {
	if busy {
		duty /= 5
	}
	return time.Duration(float64(d) * (1 - duty) / duty)
}

// Ingest records when a store last took in a push, so that its background compaction can
// yield to ingest (Pace). The zero value is ready; it is safe for concurrent use.
type Ingest struct{ last atomic.Int64 }

// Pushed notes a push at now.
func (in *Ingest) Pushed(now time.Time) { in.last.Store(now.UnixNano()) }

// Busy reports whether a push came within the second before now.
func (in *Ingest) Busy(now time.Time) bool {
	last := in.last.Load()
	return last != 0 && now.UnixNano()-last < int64(time.Second)
}
