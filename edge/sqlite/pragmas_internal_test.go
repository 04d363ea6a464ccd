package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWriterPragmas checks the writer connection's settings for sync batches.
func TestWriterPragmas(t *testing.T) {
	ctx := context.Background()
	s := NewStore(filepath.Join(t.TempDir(), "edge.db"))
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cache int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
		t.Fatal(err)
	}
	if cache != -writerCacheKiB {
		t.Errorf("writer cache_size = %d, want %d (KiB)", cache, -writerCacheKiB)
	}
	var ckpt int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&ckpt); err != nil {
		t.Fatal(err)
	}
	if ckpt != walCheckpointPages {
		t.Errorf("writer wal_autocheckpoint = %d, want %d", ckpt, walCheckpointPages)
	}
}
