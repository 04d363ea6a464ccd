package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/sqlite"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/migrations"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) domain.Store {
		return storetest.OpenSQLite(t, now)
	})
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "hub.db") // Open creates the directories
	s := open(t, path)
	if _, err := s.CreateZone(ctx, domain.Zone{Name: "north"}); err != nil {
		t.Fatal(err)
	}
	tk, err := s.CreateTicket(ctx, domain.Ticket{Title: "persist me", Category: "other", Priority: domain.PriorityLow, Zone: "north", DueDate: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := s.LastSeq(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	s2 := open(t, path)
	got, err := s2.GetTicket(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tk, got); diff != "" {
		t.Errorf("ticket after reopen (-want +got):\n%s", diff)
	}
	if got, _ := s2.LastSeq(ctx); got != seq {
		t.Errorf("last seq after reopen = %d, want %d", got, seq)
	}
	next, err := s2.CreateTicket(ctx, domain.Ticket{Title: "second", Category: "other", Priority: domain.PriorityLow, Zone: "north", DueDate: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if next.Number != "TKT-000002" {
		t.Errorf("number after reopen = %s, want TKT-000002", next.Number)
	}
}

func TestOpenConfiguresFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	s := open(t, path)
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "5000"} {
		var got string
		if err := s.DB().QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(got, want) {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Migrations are recorded once, and opening again applies nothing new.
	want, err := migrations.List(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	if got := versions(t, s); !slices.Equal(got, migrationVersions(want)) {
		t.Errorf("schema_migrations = %v, want %v", got, migrationVersions(want))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte(strings.Repeat("not a database ", 400)), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"empty path":       "",
		"parent is a file": filepath.Join(file, "hub.db"),
		"not a database":   file,
	} {
		t.Run(name, func(t *testing.T) {
			s := sqlite.NewStore(path)
			if err := s.Open(context.Background()); err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", path)
			}
			if err := s.Ping(context.Background()); domain.ErrorCode(err) != domain.CodeUnavailable {
				t.Errorf("Ping after a failed open = %v, want unavailable", err)
			}
		})
	}
}

// TestConcurrentOpen opens one new file from two stores at once (as two hub processes would),
// then writes through both: migrations apply once and the change log stays gap-free across
// the two writers.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	stores := make([]*sqlite.Store, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range stores {
		stores[i] = sqlite.NewStore(path)
		wg.Go(func() { errs[i] = stores[i].Open(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	want, _ := migrations.List(migrations.SQLite)
	if got := versions(t, stores[0]); !slices.Equal(got, migrationVersions(want)) {
		t.Fatalf("schema_migrations = %v, want %v", got, migrationVersions(want))
	}
	if _, err := stores[0].CreateZone(ctx, domain.Zone{Name: "north"}); err != nil {
		t.Fatal(err)
	}
	const each = 30
	for i, s := range stores {
		wg.Go(func() {
			for j := range each {
				if _, err := s.CreateTicket(ctx, domain.Ticket{Title: fmt.Sprintf("s%d-%d", i, j), Category: "other",
					Priority: domain.PriorityLow, Zone: "north", DueDate: time.Now()}); err != nil {
					t.Errorf("store %d create %d: %v", i, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	chs, err := stores[1].ListChanges(ctx, 0, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1+2*each {
		t.Fatalf("%d changes, want %d", len(chs), 1+2*each)
	}
	for i, ch := range chs {
		if ch.Seq != int64(i+1) {
			t.Fatalf("change %d has seq %d: gap or disorder", i, ch.Seq)
		}
	}
	page, err := stores[0].ListTickets(ctx, domain.TicketFilter{Sort: "ticket_number", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for i, tk := range page.Items {
		if want := domain.TicketNumber(int64(i + 1)); tk.Number != want {
			t.Fatalf("ticket %d number %s, want %s", i, tk.Number, want)
		}
	}
}

func TestCollectors(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "hub.db"))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pool" && mf.GetName() == "aiff_db_connections_max" {
					found[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if found["writer"] != 1 || found["reader"] < 1 {
		t.Errorf("aiff_db_connections_max = %v, want writer 1 and reader >= 1", found)
	}
}

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s := sqlite.NewStore(path)
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func versions(t *testing.T, s *sqlite.Store) []int {
	t.Helper()
	rows, err := s.DB().Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func migrationVersions(ms []migrations.Migration) []int {
	var out []int
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out
}
