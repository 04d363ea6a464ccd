package postgres

import (
	"context"
	"fmt"

	"github.com/aiff/aiff/sync/server/syncstore"
)

var _ syncstore.HorizonReader = (*Store)(nil)

// DroppedThrough returns the highest seq compaction dropped from the log, 0 if none
// (syncstore.HorizonReader; the index of migration 0008 makes it one lookup).
func (s *Store) DroppedThrough(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM changes_dropped").Scan(&n); err != nil {
		return 0, fmt.Errorf("read compacted seq: %w", err)
	}
	return n, nil
}
