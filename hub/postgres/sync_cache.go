package postgres

import (
	"context"
	"fmt"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// cachedSyncTx is the push's syncstore.Tx with the store's row cache (syncstore.CachedTx):
// Push then reads each row's log stamp instead of its whole history when the cache holds the
// state it was built from.
type cachedSyncTx struct {
	*syncTx
	cache *syncstore.RowCache
	after []func()
}

// rowCache returns the store's cache of merge states, made at first use.
func (s *Store) rowCache() *syncstore.RowCache {
	s.rowCacheOnce.Do(func() { s.rowCacheVal = syncstore.NewRowCache(0) })
	return s.rowCacheVal
}

func (t *cachedSyncTx) RowCache() *syncstore.RowCache { return t.cache }

func (t *cachedSyncTx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// RowStamps reads each row's highest seq and change count from the (entity, entity_id, seq)
// index, one query per entity.
func (t *cachedSyncTx) RowStamps(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey]syncstore.RowStamp, error) {
	out := make(map[syncstore.RowKey]syncstore.RowStamp, len(keys))
	for entity, ids := range byEntity(keys) {
		rows, err := t.tx.Query(ctx, "SELECT entity_id, max(seq), count(*) FROM changes WHERE entity = $1 AND entity_id = ANY($2) GROUP BY entity_id",
			string(entity), ids)
		if err != nil {
			return nil, fmt.Errorf("row stamps: %w", err)
		}
		for rows.Next() {
			var id string
			var st syncstore.RowStamp
			if err := rows.Scan(&id, &st.MaxSeq, &st.Count); err != nil {
				rows.Close()
				return nil, fmt.Errorf("row stamps: %w", err)
			}
			out[syncstore.RowKey{Entity: domain.Entity(entity), ID: id}] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("row stamps: %w", err)
		}
	}
	return out, nil
}

// SyncRowCache returns the cache of row merge states the store's pushes use (for metrics
// and tests).
func (s *Store) SyncRowCache() *syncstore.RowCache { return s.rowCache() }
