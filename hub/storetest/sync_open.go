package storetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiff/aiff/hub/postgres"
	"github.com/aiff/aiff/hub/sqlite"
	"github.com/aiff/aiff/sync/hlc"
)

// OpenSQLiteClock is OpenSQLite with the hub clock set before Open (nil keeps the default).
func OpenSQLiteClock(t testing.TB, now func() time.Time, clock *hlc.Clock) *sqlite.Store {
	t.Helper()
	s := sqlite.NewStore(filepath.Join(t.TempDir(), "hub.db"))
	if now != nil {
		s.Now = now
	}
	if clock != nil {
		s.Clock = clock
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

// OpenPostgresClock is OpenPostgres with the hub clock set before Open (nil keeps the
// default).
func OpenPostgresClock(t testing.TB, now func() time.Time, clock *hlc.Clock) *postgres.Store {
	t.Helper()
	s := postgres.NewStore(PostgresURL(t))
	if now != nil {
		s.Now = now
	}
	if clock != nil {
		s.Clock = clock
	}
	s.MaxConns = 4
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
