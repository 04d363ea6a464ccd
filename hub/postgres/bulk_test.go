package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/hub/postgres"
	"github.com/aiff/aiff/hub/seed"
	"github.com/aiff/aiff/hub/seed/seedtest"
	"github.com/aiff/aiff/hub/storetest"
)

var bulkNow = time.Date(2026, 3, 18, 14, 30, 0, 0, time.UTC)

// TestBulkLoad seeds 5,000 tickets and reads everything back through the store's API.
func TestBulkLoad(t *testing.T) {
	s := storetest.OpenPostgres(t, nil)
	ds := seed.Generate(seed.Config{Seed: 3, Zones: 6, Teams: 15, Tickets: 5000, Days: 60, Now: bulkNow, PasswordHash: "hash"})
	seedtest.LoadAndCheck(t, s, ds)
}

// TestBulkLoadVersusCopy compares BulkLoad with a bare COPY of the same rows. It is the load
// measurement behind `aiff seed`, gated because it takes minutes:
//
//	AIFF_BULK_ROWS=1000000 go test ./hub/postgres -run BulkLoadVersusCopy -v -timeout 30m
//
// The bare COPY writes rows prepared in memory beforehand ([][]any, built by the same
// BulkTicketRow) into the tickets table of a second fresh schema that holds the same zones and
// teams, so both targets have the same indexes and foreign keys. BulkLoad is timed end to end:
// generating the tickets as it streams them, zones, teams, users, the counter and the team
// performance refresh included. It fails if BulkLoad reaches less than 0.7 of the bare rate.
func TestBulkLoadVersusCopy(t *testing.T) {
	rows, _ := strconv.Atoi(os.Getenv("AIFF_BULK_ROWS"))
	if rows <= 0 {
		t.Skip("set AIFF_BULK_ROWS (e.g. 1000000) to run the bulk load measurement")
	}
	ctx := context.Background()
	cfg := seed.Config{Seed: 1, Zones: 16, Teams: 64, Tickets: rows, Days: 365, Now: bulkNow, PasswordHash: "hash"}
	ds := seed.Generate(cfg)

	// Bare: the city only, then COPY of prepared rows.
	city := cfg
	city.Tickets = 0
	bare := openBulkStore(t, storetest.PostgresURL(t))
	if err := bare.BulkLoad(ctx, seed.Generate(city), nil); err != nil {
		t.Fatal(err)
	}
	prepStart := time.Now()
	prepared := make([][]any, 0, rows)
	num := int64(0)
	for tk := range ds.Tickets {
		num++
		prepared = append(prepared, postgres.BulkTicketRow(nil, tk, num))
	}
	t.Logf("prepared %d rows in memory in %v", rows, time.Since(prepStart).Round(time.Millisecond))
	checkpoint(t, bare)
	start := time.Now()
	err := pgx.BeginFunc(ctx, bare.Pool(), func(tx pgx.Tx) error {
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, postgres.BulkTicketColumns, pgx.CopyFromRows(prepared))
		if err == nil && n != int64(rows) {
			err = fmt.Errorf("copied %d rows, want %d", n, rows)
		}
		return err
	})
	if err != nil {
		t.Fatalf("bare copy: %v", err)
	}
	bareTime := time.Since(start)
	prepared = nil
	runtime.GC()

	// BulkLoad into a fresh schema, streaming from the generator.
	s := openBulkStore(t, storetest.PostgresURL(t))
	checkpoint(t, s)
	start = time.Now()
	if err := s.BulkLoad(ctx, ds, nil); err != nil {
		t.Fatalf("bulk load: %v", err)
	}
	loadTime := time.Since(start)

	var count int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM tickets").Scan(&count); err != nil || count != rows {
		t.Fatalf("tickets after load: %d, %v", count, err)
	}
	bareRate, loadRate := float64(rows)/bareTime.Seconds(), float64(rows)/loadTime.Seconds()
	ratio := loadRate / bareRate
	t.Logf("bare COPY: %d rows in %v = %.0f rows/s", rows, bareTime.Round(time.Millisecond), bareRate)
	t.Logf("BulkLoad:  %d rows in %v = %.0f rows/s", rows, loadTime.Round(time.Millisecond), loadRate)
	t.Logf("ratio BulkLoad/bare = %.2f", ratio)
	if ratio < 0.7 {
		t.Errorf("BulkLoad runs at %.2f of a bare COPY, want at least 0.7", ratio)
	}
}

func openBulkStore(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s := postgres.NewStore(url)
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkpoint flushes dirty buffers so that one measurement does not pay for the other's writes.
// It needs superuser (as on the dev machines); without it the measurement is only noisier.
func checkpoint(t *testing.T, s *postgres.Store) {
	t.Helper()
	if _, err := s.Pool().Exec(context.Background(), "CHECKPOINT"); err != nil {
		t.Logf("checkpoint: %v (measurement may be noisier)", err)
	}
}
