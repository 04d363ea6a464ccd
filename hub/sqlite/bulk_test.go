package sqlite_test

import (
	"context"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
	"github.com/aiff/aiff/hub/seed/seedtest"
	"github.com/aiff/aiff/hub/sqlite"
)

var bulkNow = time.Date(2026, 3, 18, 14, 30, 0, 0, time.UTC)

func openBulkStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s := sqlite.NewStore(filepath.Join(tb.TempDir(), "hub.db"))
	if err := s.Open(context.Background()); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestBulkLoad seeds 5,000 tickets and reads everything back through the store's API.
func TestBulkLoad(t *testing.T) {
	s := openBulkStore(t)
	ds := seed.Generate(seed.Config{Seed: 3, Zones: 6, Teams: 15, Tickets: 5000, Days: 60, Now: bulkNow, PasswordHash: "hash"})
	seedtest.LoadAndCheck(t, s, ds)
}

// TestBulkLoadDemo times the demo dataset, which `aiff demo` loads at start-up: it must take
// seconds, not minutes (measured about 0.5 s on the 2-core dev machine without -race).
func TestBulkLoadDemo(t *testing.T) {
	if testing.Short() || bulkRaceEnabled() {
		t.Skip("a timing test: skipped with -short and -race (the race detector slows SQLite tenfold)")
	}
	s := openBulkStore(t)
	ds := seed.Generate(seed.DemoConfig(bulkNow, "hash"))
	start := time.Now()
	if err := s.BulkLoad(context.Background(), ds, nil); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("demo dataset (%d tickets) loaded into SQLite in %v (%.0f rows/s)", ds.Config.Tickets, el, float64(ds.Config.Tickets)/el.Seconds())
	// Generous, for a busy shared machine.
	if el > 15*time.Second {
		t.Errorf("demo seed took %v; the demo must start in seconds", el)
	}
	teams, err := s.ListTeams(context.Background(), domain.TeamFilter{})
	if err != nil || len(teams) != ds.Config.Teams {
		t.Fatalf("teams after demo seed: %d, %v", len(teams), err)
	}
}

// BenchmarkBulkLoadDemo measures seeding the demo dataset into a fresh SQLite file:
//
//	go test ./hub/sqlite -run '^$' -bench BulkLoadDemo -benchtime 5x
func BenchmarkBulkLoadDemo(b *testing.B) {
	ds := seed.Generate(seed.DemoConfig(bulkNow, "hash"))
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		s := openBulkStore(b)
		b.StartTimer()
		start := time.Now()
		if err := s.BulkLoad(context.Background(), ds, nil); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(ds.Config.Tickets*b.N)/total.Seconds(), "rows/s")
}

// bulkRaceEnabled reports whether the test binary was built with -race.
func bulkRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
