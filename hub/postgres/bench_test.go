package postgres_test

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/postgres"
	"github.com/aiff/aiff/hub/storetest"
)

// benchFill loads $1 synthetic tickets in one statement. The distributions are independent
// (hashint8 of the row number) except where real data correlates: status with age (the newest
// tickets are still being worked, old ones are mostly closed), which is what fools a planner
// that assumes independence.
const benchFill = `
INSERT INTO zones (id, name, region, created_at)
SELECT 'Z' || lpad(i::text, 25, '0'), 'zone-' || lpad(i::text, 2, '0'), 'metro', now() FROM generate_series(1, 20) i;
INSERT INTO teams (id, name, zone, created_at, updated_at)
SELECT 'T' || lpad(i::text, 25, '0'), 'team-' || i, 'zone-' || lpad((1 + i % 20)::text, 2, '0'), now(), now()
FROM generate_series(1, 200) i;
INSERT INTO tickets (id, number, title, description, category, priority, priority_rank, status, zone, location,
    skills, assigned_team, due_date, created_at, updated_at, resolved_at)
SELECT 'K' || lpad(i::text, 25, '0'), i,
    (ARRAY['Broken pipe','Power outage','Meter install','Router swap','Gas smell','Line inspection','Pole repair','Fiber cut'])[1 + h1 % 8]
        || ' at block ' || (h2 % 5000),
    'Customer ' || md5(i::text) || ' reports '
        || (ARRAY['noise','leak','sparks','no signal','low pressure','flicker'])[1 + h3 % 6] || ' near '
        || (h4 % 997) || ' ' || (ARRAY['Elm','Oak','Pine','Main','Cedar','Birch','Maple'])[1 + h5 % 7] || ' Street',
    (ARRAY['installation','repair','maintenance','inspection','outage','other'])[1 + h1 % 6],
    pr, array_position(ARRAY['low','medium','high','critical'], pr) - 1,
    st,
    'zone-' || lpad((1 + h6 % 20)::text, 2, '0'),
    (h4 % 997) || ' ' || (ARRAY['Elm','Oak','Pine','Main','Cedar','Birch','Maple'])[1 + h5 % 7] || ' Street',
    '[]',
    CASE WHEN st = 'open' THEN NULL ELSE 'T' || lpad((1 + h7 % 200)::text, 25, '0') END,
    created + interval '3 days', created, created + interval '1 hour',
    CASE WHEN st IN ('resolved', 'closed') THEN created + interval '2 days' END
FROM generate_series(1::bigint, $1::bigint) i
CROSS JOIN LATERAL (SELECT abs(hashint8(i)) AS h1, abs(hashint8(i + 1000003)) AS h2, abs(hashint8(i + 2000003)) AS h3,
    abs(hashint8(i + 3000017)) AS h4, abs(hashint8(i + 4000037)) AS h5, abs(hashint8(i + 5000011)) AS h6,
    abs(hashint8(i + 6000007)) AS h7, abs(hashint8(i + 7000003)) AS h8) h
CROSS JOIN LATERAL (SELECT timestamptz '2024-01-01' + (i::float8 / $1) * interval '365 days' + (h8 % 600) * interval '1 second' AS created,
    (ARRAY['low','medium','medium','high','low','medium','critical','high','medium','low'])[1 + h8 % 10] AS pr,
    CASE WHEN i > $1 * 0.97
        THEN (ARRAY['open','open','assigned','assigned','in_progress','in_progress','on_hold','resolved'])[1 + h2 % 8]
        ELSE (ARRAY['closed','closed','closed','closed','closed','closed','closed','closed','closed','closed','closed','closed',
            'closed','closed','resolved','resolved','cancelled','open','assigned','on_hold'])[1 + h2 % 20]
    END AS st) c;
SELECT setval('ticket_number_seq', $1);
`

// fillTickets loads n tickets into the store's schema fast: it drops the secondary ticket
// indexes (keeping their definitions), inserts, rebuilds them and analyzes, as a bulk load
// should. Index maintenance row by row would take several times as long.
func fillTickets(b *testing.B, s *postgres.Store, n int) {
	ctx := context.Background()
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	start := time.Now()
	rows, err := conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
		AND tablename = 'tickets' AND indexname NOT IN ('tickets_pkey', 'tickets_number_key')`)
	if err != nil {
		b.Fatal(err)
	}
	type index struct{ name, def string }
	idx, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		return i, r.Scan(&i.name, &i.def)
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, i := range idx {
		if _, err := conn.Exec(ctx, "DROP INDEX "+pgx.Identifier{i.name}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '512MB'"); err != nil {
		b.Fatal(err)
	}
	// Multi-statement SQL with a parameter cannot go through the extended protocol; the
	// count is an integer we format ourselves.
	fill := benchFillSQL(n)
	if _, err := conn.Exec(ctx, fill); err != nil {
		b.Fatalf("fill: %v", err)
	}
	loaded := time.Since(start)
	for _, i := range idx {
		if _, err := conn.Exec(ctx, i.def); err != nil {
			b.Fatalf("rebuild %s: %v", i.name, err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE tickets"); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d tickets in %v, indexed and analyzed in %v more", n, loaded.Round(time.Millisecond),
		(time.Since(start) - loaded).Round(time.Millisecond))
}

func benchFillSQL(n int) string { return strings.ReplaceAll(benchFill, "$1", strconv.Itoa(n)) }

// BenchmarkListTickets measures ListTickets on a large table (AIFF_BENCH_TICKETS, default
// 1,000,000) in its own schema: each query shape serially (ns/op is the latency of one call)
// and from 50 concurrent clients (p50/p99 in ms per call, ns/op is then the inverse
// throughput). Filling takes about a minute or two; run it alone:
//
//	go test ./hub/postgres -run '^$' -bench ListTickets -benchtime 200x
func BenchmarkListTickets(b *testing.B) {
	if testing.Short() {
		b.Skip("fills a million rows")
	}
	n := 1_000_000
	if v := os.Getenv("AIFF_BENCH_TICKETS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("AIFF_BENCH_TICKETS=%q: want an integer >= 1000", v)
		}
	}
	ctx := context.Background()
	url, keep := storetest.PostgresURL(b), os.Getenv("AIFF_BENCH_SCHEMA")
	if keep != "" {
		// Reuse a named schema across runs (it is filled once and never dropped), to iterate on
		// queries without waiting for the load.
		url = benchSchemaURL(b, keep)
	}
	s := postgres.NewStore(url)
	if err := s.Open(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var have int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM tickets`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have != n {
		if have != 0 {
			b.Fatalf("schema %q holds %d tickets, want 0 or %d", keep, have, n)
		}
		fillTickets(b, s, n)
	}

	// A rare word: a fragment of one ticket's customer hash, present in a handful of rows.
	var rare string
	if err := s.Pool().QueryRow(ctx, `SELECT substr(md5(($1 / 3)::text), 3, 7)`, n).Scan(&rare); err != nil {
		b.Fatal(err)
	}
	due := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		f    domain.TicketFilter
	}{
		{"default", domain.TicketFilter{}},
		{"status_open", domain.TicketFilter{Status: []domain.Status{domain.StatusOpen}}},
		{"status_closed", domain.TicketFilter{Status: []domain.Status{domain.StatusClosed}}},
		{"status_active3", domain.TicketFilter{Status: []domain.Status{domain.StatusAssigned, domain.StatusInProgress, domain.StatusOnHold}}},
		{"zone", domain.TicketFilter{Zone: []string{"zone-07"}}},
		{"zone_status", domain.TicketFilter{ScopeZones: []string{"zone-07"}, Status: []domain.Status{domain.StatusOnHold}}},
		{"team", domain.TicketFilter{Team: "T0000000000000000000000042"}},
		{"unassigned", domain.TicketFilter{Team: "none"}},
		{"priority_critical", domain.TicketFilter{Priority: []domain.Priority{domain.PriorityCritical}}},
		{"sort_due_open", domain.TicketFilter{Sort: "due_date", Status: []domain.Status{domain.StatusOpen}}},
		{"sort_priority", domain.TicketFilter{Sort: "-priority"}},
		{"due_before", domain.TicketFilter{DueBefore: &due}},
		{"search_common", domain.TicketFilter{Query: "cedar street"}},
		{"search_rare", domain.TicketFilter{Query: rare}},
		{"search_number", domain.TicketFilter{Query: "TKT-" + fmt.Sprintf("%06d", n/2)}},
		{"search_zone", domain.TicketFilter{Query: "gas smell", Zone: []string{"zone-03"}}},
	}
	// Second pages too: a cursor must cost what the first page costs.
	for _, c := range cases[:3] {
		page, err := s.ListTickets(ctx, c.f)
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		f := c.f
		f.Cursor = page.NextCursor
		cases = append(cases, struct {
			name string
			f    domain.TicketFilter
		}{c.name + "_page2", f})
	}
	for _, c := range cases {
		page, err := s.ListTickets(ctx, c.f)
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Logf("%s: %d items on the page", c.name, len(page.Items))
	}
	for _, c := range cases {
		b.Run("serial/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.ListTickets(ctx, c.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, c := range cases {
		b.Run("clients50/"+c.name, func(b *testing.B) { benchConcurrent(b, s, c.f, 50) })
	}
	b.Run("serial/default_with_total", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ListTickets(ctx, domain.TicketFilter{WithTotal: true, Status: []domain.Status{domain.StatusOpen}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchSchemaURL returns TEST_DATABASE_URL with search_path set to schema, creating it.
func benchSchemaURL(b *testing.B, schema string) string {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = storetest.DefaultPostgresURL
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Skipf("postgres unreachable: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	u, err := neturl.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// benchConcurrent runs f from clients goroutines at once and reports the latency
// distribution of single calls.
func benchConcurrent(b *testing.B, s *postgres.Store, f domain.TicketFilter, clients int) {
	ctx := context.Background()
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			if _, err := s.ListTickets(ctx, f); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
