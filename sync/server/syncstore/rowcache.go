package syncstore

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// A hub store's push merges each change over its row's whole logged history, so without help
// every batch reads back and replays the history of every row it touches, and an edge that
// edits the same rows batch after batch pays for their growing histories again and again.
// RowCache keeps the merge states that pushes built, and Push reuses one only when the log
// still holds exactly the history it was built from, read cheaply in the push's transaction:
//
//   - the row's highest seq and number of logged changes (RowStamp) are those the entry was
//     built at: any change appended since raises the seq, and any change dropped lowers the
//     count (appends that would make it up again raise the seq);
//   - the enforced compaction horizon is the one the entry was built under: compaction
//     rewrites changes in place only below a horizon it stored first, so a moved horizon
//     retires every entry (the whole cache is emptied when a push sees a new one). An entry
//     built under the new horizon before its row was compacted holds the history a push
//     that ran just before that row's compaction would have seen, and compaction commutes
//     with appending (merge.Compact), so using it is one of the orders the two may run in;
//   - entries are stored only after the push's transaction committed (a rolled-back push
//     leaves nothing behind whose seqs a later one could reuse).
//
// Anything else — a miss, a mismatch, a store without stamps — reloads the row from the log,
// so the cache changes how fast a push runs, never what it decides.

// RowStamp identifies a row's logged history cheaply: its highest seq and its number of
// changes. A row without logged changes has none.
type RowStamp struct {
	MaxSeq int64
	Count  int64
}

// CachedTx is a Tx whose store keeps a RowCache; Push uses it when the Tx implements it.
type CachedTx interface {
	// RowCache returns the store's cache (nil: do not cache).
	RowCache() *RowCache
	// RowStamps returns the stamp of every row of keys that has logged changes.
	RowStamps(ctx context.Context, keys []RowKey) (map[RowKey]RowStamp, error)
	// AfterCommit registers fn to run once the transaction has committed, and never if it
	// does not.
	AfterCommit(fn func())
}

// DefaultRowCacheSize is the number of rows a store's cache holds by default: a few of an
// edge's working sets of rows, a few hundred bytes to a few KB each.
const DefaultRowCacheSize = 50_000

// RowCache is a bounded, least-recently-used map from row to the merge state pushes built
// for it, with the log stamp and compaction horizon it matches. Safe for concurrent use.
type RowCache struct {
	mu      sync.Mutex
	max     int
	horizon string
	m       map[RowKey]*list.Element
	lru     list.List // front: most recently used
	hits    int64
	misses  int64
}

type cacheEntry struct {
	key     RowKey
	stamp   RowStamp
	horizon string
	row     merge.Row
}

// NewRowCache returns a cache of at most size rows (DefaultRowCacheSize if size <= 0).
func NewRowCache(size int) *RowCache {
	if size <= 0 {
		size = DefaultRowCacheSize
	}
	return &RowCache{max: size, m: map[RowKey]*list.Element{}}
}

// Reset empties the cache (a store may call it after compacting or repairing its log; the
// stamps would catch that too, this only frees the memory sooner).
func (c *RowCache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.lru.Init()
}

// Stats returns how many lookups found a matching entry and how many did not (0, 0 for a
// nil cache).
func (c *RowCache) Stats() (hits, misses int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Len returns the number of rows held.
func (c *RowCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// get returns k's merge state if the entry matches stamp and horizon exactly. A row's state
// is never modified in place (merge.Apply copies), so it may be shared.
func (c *RowCache) get(k RowKey, stamp RowStamp, horizon string) (merge.Row, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(horizon)
	el, ok := c.m[k]
	if !ok {
		c.misses++
		return merge.Row{}, false
	}
	e := el.Value.(*cacheEntry)
	if e.stamp != stamp || e.horizon != horizon {
		c.lru.Remove(el)
		delete(c.m, k)
		c.misses++
		return merge.Row{}, false
	}
	c.lru.MoveToFront(el)
	c.hits++
	return e.row, true
}

// advance empties the cache when compaction moved the horizon past the one its entries were
// built under (horizons only move forward, and HLC texts order like their clocks). The caller
// holds c.mu.
func (c *RowCache) advance(horizon string) {
	if horizon > c.horizon {
		clear(c.m)
		c.lru.Init()
		c.horizon = horizon
	}
}

// put stores entries built under horizon, evicting the least recently used beyond the bound.
func (c *RowCache) put(entries []cacheEntry, horizon string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.advance(horizon); horizon != c.horizon {
		return // built under a horizon the cache has moved past: skip
	}
	for i := range entries {
		e := entries[i]
		e.horizon = horizon
		if el, ok := c.m[e.key]; ok {
			el.Value = &e
			c.lru.MoveToFront(el)
			continue
		}
		c.m[e.key] = c.lru.PushFront(&e)
	}
	for len(c.m) > c.max {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.m, el.Value.(*cacheEntry).key)
	}
}

// loadStates returns the merge state of every row of keys: from the cache where it matches
// the log, else replayed from the log. It also returns the stamps read (nil without a cache).
func loadStates(ctx context.Context, tx Tx, keys []RowKey, horizon string) (map[RowKey]merge.Row, map[RowKey]RowStamp, error) {
	states := make(map[RowKey]merge.Row, len(keys))
	ct, ok := tx.(CachedTx)
	var cache *RowCache
	if ok {
		cache = ct.RowCache()
	}
	if cache == nil {
		logged, err := tx.RowChanges(ctx, keys)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range keys {
			if states[k], err = replayRow(k, logged[k]); err != nil {
				return nil, nil, err
			}
		}
		return states, nil, nil
	}
	stamps, err := ct.RowStamps(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	var missing []RowKey
	for _, k := range keys {
		st, ok := stamps[k]
		if !ok {
			states[k] = merge.Row{} // no history: a new row
			continue
		}
		if row, ok := cache.get(k, st, horizon); ok {
			states[k] = row
			continue
		}
		missing = append(missing, k)
	}
	if len(missing) > 0 {
		logged, err := tx.RowChanges(ctx, missing)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range missing {
			if states[k], err = replayRow(k, logged[k]); err != nil {
				return nil, nil, err
			}
		}
	}
	return states, stamps, nil
}

func replayRow(k RowKey, logged []domain.Change) (merge.Row, error) {
	row, err := merge.Replay(logged)
	if err != nil {
		return merge.Row{}, &replayError{k: k, err: err}
	}
	return row, nil
}

type replayError struct {
	k   RowKey
	err error
}

func (e *replayError) Error() string {
	return "replay " + string(e.k.Entity) + " " + e.k.ID + " from the log: " + e.err.Error()
}
func (e *replayError) Unwrap() error { return e.err }

// remember registers, for after the commit, the merge state of every row of keys as the log
// holds it once w is written: the state before plus the changes appended, as they were
// logged (their zone, and their time at the log's microsecond precision).
func (ps *pusher) remember(keys []RowKey, stamps map[RowKey]RowStamp, horizon string) {
	ct, ok := ps.tx.(CachedTx)
	if !ok || stamps == nil {
		return
	}
	cache := ct.RowCache()
	if cache == nil {
		return
	}
	entries := make([]cacheEntry, 0, len(keys))
	idx := make(map[RowKey]int, len(keys))
	for _, k := range keys {
		row := ps.states[k]
		if row.Entity == "" && row.ID == "" {
			continue // nothing logged or accepted
		}
		idx[k] = len(entries)
		entries = append(entries, cacheEntry{key: k, stamp: stamps[k], row: row})
	}
	// The appended changes: count them per row, take the last seq, and make the state's copy
	// of each equal to the logged one.
	logged := make(map[string]domain.Change, len(ps.w.Changes))
	for _, c := range ps.w.Changes {
		i, ok := idx[RowKey{c.Entity, c.EntityID}]
		if !ok {
			continue
		}
		e := &entries[i]
		e.stamp.Count++
		e.stamp.MaxSeq = max(e.stamp.MaxSeq, c.Seq)
		logged[c.ID] = c
	}
	if len(logged) > 0 {
		for i := range entries {
			e := &entries[i]
			if !ps.touched[e.key] {
				continue
			}
			changes := make([]domain.Change, len(e.row.Changes))
			copy(changes, e.row.Changes)
			for j := range changes {
				if c, ok := logged[changes[j].ID]; ok {
					changes[j].Zone, changes[j].At = c.Zone, c.At.UTC().Truncate(time.Microsecond)
				}
			}
			e.row.Changes = changes
		}
	}
	ct.AfterCommit(func() { cache.put(entries, horizon) })
}
