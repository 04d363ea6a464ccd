package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/sync/server/syncstore"
)

// cachedSyncTx is the push's syncstore.Tx with the store's row cache (syncstore.CachedTx):
// Push then reads each row's log stamp instead of its whole history when the cache holds the
// state it was built from. It also reads ahead (syncstore.Prefetcher): the duplicate check,
// the row locks and the stamps go to Postgres as one pipelined batch.
type cachedSyncTx struct {
	*syncTx
	cache *syncstore.RowCache
	after []func()
	pre   *prefetched
}

// prefetched is what Prefetch read, each part handed out once to the call it answers.
type prefetched struct {
	ids    []string
	keys   []syncstore.RowKey
	known  map[string]int64
	rows   map[syncstore.RowKey]any
	stamps map[syncstore.RowKey]syncstore.RowStamp
	// used marks the parts handed out: known, rows, stamps.
	used [3]bool
}

// rowCache returns the store's cache of merge states, made at first use.
func (s *Store) rowCache() *syncstore.RowCache {
	s.rowCacheOnce.Do(func() { s.rowCacheVal = syncstore.NewRowCache(0) })
	return s.rowCacheVal
}

func (t *cachedSyncTx) RowCache() *syncstore.RowCache { return t.cache }

func (t *cachedSyncTx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

const rowStampsSQL = "SELECT entity, entity_id, max(seq), count(*) FROM changes WHERE entity = $1 AND entity_id = ANY($2) GROUP BY entity, entity_id"

// Prefetch sends KnownChanges(ids), LockRows(keys) and RowStamps(keys) in one batch, in that
// order (the stamps are read with the rows already locked, as when called one by one).
func (t *cachedSyncTx) Prefetch(ctx context.Context, ids []string, keys []syncstore.RowKey) error {
	b := &pgx.Batch{}
	b.Queue(knownChangesSQL, ids)
	locks := lockRowsQueries(keys)
	for _, q := range locks {
		b.Queue(q.sql, q.ids)
	}
	byEnt := byEntity(keys)
	var stampEntities []string
	for entity, eids := range byEnt {
		b.Queue(rowStampsSQL, string(entity), eids)
		stampEntities = append(stampEntities, string(entity))
	}
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()
	pre := &prefetched{ids: ids, keys: keys, rows: map[syncstore.RowKey]any{}, stamps: map[syncstore.RowKey]syncstore.RowStamp{}}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("known changes: %w", err)
	}
	if pre.known, err = scanKnown(rows); err != nil {
		return err
	}
	for _, q := range locks {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("load %s rows: %w", q.entity, err)
		}
		if err := scanLockedRows(q.entity, rows, pre.rows); err != nil {
			return err
		}
	}
	for range stampEntities {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("row stamps: %w", err)
		}
		if err := scanStamps(rows, pre.stamps); err != nil {
			return err
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("push reads: %w", err)
	}
	t.pre = pre
	return nil
}

func (t *cachedSyncTx) KnownChanges(ctx context.Context, ids []string) (map[string]int64, error) {
	if p := t.pre; p != nil && !p.used[0] && slices.Equal(p.ids, ids) {
		p.used[0] = true
		return p.known, nil
	}
	return t.syncTx.KnownChanges(ctx, ids)
}

func (t *cachedSyncTx) LockRows(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey]any, error) {
	if p := t.pre; p != nil && !p.used[1] && slices.Equal(p.keys, keys) {
		p.used[1] = true
		return p.rows, nil
	}
	return t.syncTx.LockRows(ctx, keys)
}

// RowStamps reads each row's highest seq and change count from the (entity, entity_id, seq)
// index, one query per entity (or answers from Prefetch).
func (t *cachedSyncTx) RowStamps(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey]syncstore.RowStamp, error) {
	if p := t.pre; p != nil && !p.used[2] && slices.Equal(p.keys, keys) {
		p.used[2] = true
		return p.stamps, nil
	}
	out := make(map[syncstore.RowKey]syncstore.RowStamp, len(keys))
	for entity, ids := range byEntity(keys) {
		rows, err := t.tx.Query(ctx, rowStampsSQL, string(entity), ids)
		if err != nil {
			return nil, fmt.Errorf("row stamps: %w", err)
		}
		if err := scanStamps(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanStamps reads a rowStampsSQL result into out and closes rows.
func scanStamps(rows pgx.Rows, out map[syncstore.RowKey]syncstore.RowStamp) error {
	defer rows.Close()
	for rows.Next() {
		var k syncstore.RowKey
		var st syncstore.RowStamp
		if err := rows.Scan(&k.Entity, &k.ID, &st.MaxSeq, &st.Count); err != nil {
			return fmt.Errorf("row stamps: %w", err)
		}
		out[k] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("row stamps: %w", err)
	}
	return nil
}

// SyncRowCache returns the cache of row merge states the store's pushes use (for metrics
// and tests).
func (s *Store) SyncRowCache() *syncstore.RowCache { return s.rowCache() }
