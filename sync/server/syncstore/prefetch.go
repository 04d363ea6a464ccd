package syncstore

import "context"

// Prefetcher is a Tx that can read ahead, in one round trip, what Push asks of it before
// merging: KnownChanges(ids), LockRows(keys) and, for a CachedTx, RowStamps(keys). Push calls
// Prefetch first; those calls, made with the same arguments, then answer from what it read.
type Prefetcher interface {
	Prefetch(ctx context.Context, ids []string, keys []RowKey) error
}
