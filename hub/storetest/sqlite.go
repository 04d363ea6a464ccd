package storetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiff/aiff/hub/sqlite"
)

// OpenSQLite opens a fresh hub/sqlite store on a file in t.TempDir() with the clock now
// (time.Now when nil), and closes it in t.Cleanup.
func OpenSQLite(t testing.TB, now func() time.Time) *sqlite.Store {
	t.Helper()
	s := sqlite.NewStore(filepath.Join(t.TempDir(), "hub.db"))
	if now != nil {
		s.Now = now
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sqlite store: %v", err)
		}
	})
	return s
}
