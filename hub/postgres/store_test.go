package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/postgres"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/migrations"
)

// TestConformance holds the Postgres store to the suite hub/sqlite also passes.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) domain.Store {
		return storetest.OpenPostgres(t, now)
	})
}

// fixture makes a zone and a team in s.
func fixture(t *testing.T, s domain.Store) (domain.Zone, domain.Team) {
	t.Helper()
	ctx := context.Background()
	z, err := s.CreateZone(ctx, domain.Zone{Name: "north"})
	if err != nil {
		t.Fatalf("create zone: %v", err)
	}
	team, err := domain.NewTeam(domain.TeamInput{Name: domain.Some("alpha"), Zone: domain.Some(z.Name)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if team, err = s.CreateTeam(ctx, team); err != nil {
		t.Fatalf("create team: %v", err)
	}
	return z, team
}

func newTicket(t testing.TB, title, zone string) domain.Ticket {
	t.Helper()
	tk, err := domain.NewTicket(domain.NewTicketInput{Title: title, Zone: zone, Description: "desc of " + title, Location: "1 Main St"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestConcurrentMigrations opens several stores on one fresh schema at once, as hub replicas
// starting together do. The advisory lock must let exactly one apply each migration; without
// it the others fail on "relation already exists" or a duplicate schema_migrations row.
func TestConcurrentMigrations(t *testing.T) {
	url := storetest.PostgresURL(t)
	const n = 4
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		stores[i] = postgres.NewStore(url)
		stores[i].MaxConns = 2
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			errs[i] = stores[i].Open(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, s := range stores {
		t.Cleanup(func() { s.Close() })
		if errs[i] != nil {
			t.Fatalf("store %d: open: %v", i, errs[i])
		}
	}
	want, err := migrations.List(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := stores[0].Pool().Query(context.Background(), `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var v int
		var name string
		err := r.Scan(&v, &name)
		return fmt.Sprintf("%d_%s", v, name), err
	})
	if err != nil {
		t.Fatal(err)
	}
	var wantNames []string
	for _, m := range want {
		wantNames = append(wantNames, fmt.Sprintf("%d_%s", m.Version, m.Name))
	}
	if !slices.Equal(got, wantNames) {
		t.Fatalf("schema_migrations = %v, want %v", got, wantNames)
	}
	// Every store works on the one schema, and a later Open is a no-op.
	for i, s := range stores {
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("store %d: ping: %v", i, err)
		}
	}
	again := postgres.NewStore(url)
	if err := again.Open(context.Background()); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	again.Close()
}

// TestConcurrentWritersGapFree runs many writers, some of whose transactions fail after taking
// a ticket number and roll back, while a reader pulls the change log from its cursor the way
// an edge does. Every pull must continue exactly where the last one stopped (no gap, no
// repeat): a reader that saw seq k+1 before k would skip k forever. Ticket numbers stay
// unique; a rolled-back create may leave a gap in them.
func TestConcurrentWritersGapFree(t *testing.T) {
	s := storetest.OpenPostgres(t, nil)
	ctx := context.Background()
	z, team := fixture(t, s)
	base, err := s.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const writers, perWriter = 16, 15
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		created  int
		failed   int
		errs     []error
	)
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev string
			for i := range perWriter {
				tk := newTicket(t, fmt.Sprintf("w%d-%d", w, i), z.Name)
				if i%5 == 4 {
					// Reuses an ID: the insert fails after the ticket number was taken, so
					// the transaction must log nothing.
					tk.ID = prev
				}
				got, err := s.CreateTicket(ctx, tk)
				mu.Lock()
				switch {
				case err == nil && i%5 != 4:
					accepted++
					created++
					prev = got.ID
				case err != nil && i%5 == 4 && domain.ErrorCode(err) == domain.CodeConflict:
					failed++
				default:
					errs = append(errs, fmt.Errorf("writer %d ticket %d: %v", w, i, err))
				}
				mu.Unlock()
				if err == nil && i%3 == 0 {
					if _, err := s.AssignTickets(ctx, []string{got.ID}, team.ID, "auto"); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("assign: %v", err))
						mu.Unlock()
					} else {
						mu.Lock()
						accepted++
						mu.Unlock()
					}
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	// The reader: pull from the cursor until the writers are done and the log is drained.
	cursor := base
	var seen []int64
	finished := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := s.ListChanges(ctx, cursor, nil, 7)
		if err != nil {
			t.Fatalf("list changes: %v", err)
		}
		for _, ch := range page {
			if ch.Seq != cursor+1 {
				t.Fatalf("pull after %d returned seq %d: gap or repeat", cursor, ch.Seq)
			}
			cursor = ch.Seq
			seen = append(seen, ch.Seq)
		}
		if finished && len(page) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writers did not finish in time")
		}
	}
	if len(errs) > 0 {
		t.Fatalf("unexpected results: %v", errors.Join(errs...))
	}
	if failed == 0 {
		t.Fatal("no write failed: the rollback path was not exercised")
	}
	if len(seen) != accepted {
		t.Fatalf("pulled %d changes, want %d (one per accepted write)", len(seen), accepted)
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last != base+int64(accepted) {
		t.Fatalf("last seq = %d, want %d", last, base+int64(accepted))
	}
	// Ticket numbers are unique, and only the failed creates left gaps: numbers come from a
	// sequence, which takes no lock to the commit, so a rolled-back create skips its number.
	var numbers []string
	for cur := ""; ; {
		page, err := s.ListTickets(ctx, domain.TicketFilter{Sort: "ticket_number", Cursor: cur, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Items {
			numbers = append(numbers, tk.Number)
		}
		if cur = page.NextCursor; cur == "" {
			break
		}
	}
	if len(numbers) != created {
		t.Fatalf("%d tickets listed, want %d", len(numbers), created)
	}
	for i := 1; i < len(numbers); i++ {
		if numbers[i] <= numbers[i-1] {
			t.Fatalf("ticket numbers %s and %s out of order or repeated", numbers[i-1], numbers[i])
		}
	}
	if top := domain.TicketNumber(int64(created + failed)); len(numbers) > 0 && numbers[len(numbers)-1] > top {
		t.Fatalf("highest ticket number %s; %d creates took at most %s", numbers[len(numbers)-1], created+failed, top)
	}
}

// TestReconnectAfterPoolLoss kills every server session of the store, as a Postgres restart or
// failover does. The store must report the loss as CodeUnavailable (never as an internal error
// carrying driver text) and work again without being reopened.
func TestReconnectAfterPoolLoss(t *testing.T) {
	app := fmt.Sprintf("aiff-reconnect-%d", time.Now().UnixNano())
	url := storetest.PostgresURL(t) + "&application_name=" + app
	s := postgres.NewStore(url)
	s.MaxConns = 4
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	z, _ := fixture(t, s)
	tk, err := s.CreateTicket(ctx, newTicket(t, "survives", z.Name))
	if err != nil {
		t.Fatal(err)
	}
	// Hold every pooled connection at once so that each has a session to lose.
	var conns []interface{ Release() }
	for range 4 {
		c, err := s.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed < 4 {
		t.Fatalf("terminated %d sessions, want at least 4", killed)
	}

	deadline := time.Now().Add(20 * time.Second)
	var unavailable int
	for {
		got, err := s.GetTicket(ctx, tk.ID)
		if err == nil {
			if got.ID != tk.ID {
				t.Fatalf("got ticket %s, want %s", got.ID, tk.ID)
			}
			break
		}
		if code := domain.ErrorCode(err); code != domain.CodeUnavailable {
			t.Fatalf("read after session loss: %v has code %q, want %q", err, code, domain.CodeUnavailable)
		}
		if msg := domain.ErrorMessage(err); strings.Contains(msg, "SQLSTATE") || strings.Contains(msg, "terminat") {
			t.Fatalf("driver text leaked into message %q", msg)
		}
		unavailable++
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after %d failures: %v", unavailable, err)
		}
	}
	t.Logf("recovered after %d unavailable reads", unavailable)
	for i := range 5 {
		if _, err := s.CreateTicket(ctx, newTicket(t, fmt.Sprintf("after-%d", i), z.Name)); err != nil {
			t.Fatalf("write %d after reconnect: %v", i, err)
		}
	}
}

// TestTextSearch covers what is special to the Postgres search: the trigram index is built on
// this server, LIKE wildcards in the query are literal, a query containing the internal field
// separator cannot match across fields, and ticket numbers match in their TKT-000123 form.
func TestTextSearch(t *testing.T) {
	s := storetest.OpenPostgres(t, nil)
	ctx := context.Background()
	if !s.TextSearchIndexed() {
		t.Error("trigram index missing: pg_trgm should be creatable by the test superuser")
	}
	z, _ := fixture(t, s)
	mk := func(title, desc, loc string) domain.Ticket {
		tk := newTicket(t, title, z.Name)
		tk.Description, tk.Location = desc, loc
		tk, err := s.CreateTicket(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	a := mk("Broken Pipe", "water 100% everywhere", "Elm Road")
	b := mk("pipe_fitting", "gas", "Oak")
	c := mk("meter", "tail", "head")
	search := func(q string) []string {
		t.Helper()
		page, err := s.ListTickets(ctx, domain.TicketFilter{Query: q, Sort: "created_at"})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		var out []string
		for _, tk := range page.Items {
			out = append(out, tk.Title)
		}
		return out
	}
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"PIPE", []string{a.Title, b.Title}},
		{"100%", []string{a.Title}},
		{"%", []string{a.Title}},
		{"_", []string{b.Title}},
		{"pip_", nil},
		{"e_fi", []string{b.Title}},
		{"elm road", []string{a.Title}},
		{strings.ToLower(c.Number), []string{c.Title}},
		{"TKT-00000", []string{a.Title, b.Title, c.Title}},
		{"tail\x01head", nil},
		{"water", []string{a.Title}},
		{"nowhere", nil},
	} {
		// Window 1 makes every query that matches anything past the first row take the
		// trigram path, 2 the probe-then-count path, the default the probe alone.
		for _, window := range []int{1, 2, 4000} {
			restore := postgres.SetSearchWindow(window)
			if got := search(tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("window %d: search %q = %v, want %v", window, tt.q, got, tt.want)
			}
			restore()
		}
	}
	// Paging through a search with a one-row page crosses every path's cursor handling.
	for _, window := range []int{1, 2, 4000} {
		restore := postgres.SetSearchWindow(window)
		var got []string
		for cur := ""; ; {
			page, err := s.ListTickets(ctx, domain.TicketFilter{Query: "tkt-0", Sort: "-ticket_number", Limit: 1, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range page.Items {
				got = append(got, tk.Title)
			}
			if cur = page.NextCursor; cur == "" {
				break
			}
		}
		restore()
		if want := []string{c.Title, b.Title, a.Title}; !slices.Equal(got, want) {
			t.Errorf("window %d: paged search = %v, want %v", window, got, want)
		}
	}
}

// TestCollectors checks the pool gauges reach a registry under their aiff_db_ names.
func TestCollectors(t *testing.T) {
	s := storetest.OpenPostgres(t, nil)
	reg := prometheus.NewPedanticRegistry()
	for _, c := range s.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[mf.GetName()] = v
		}
	}
	if got["aiff_db_connections_max"] != 4 {
		t.Errorf("aiff_db_connections_max = %v, want 4 (metrics: %v)", got["aiff_db_connections_max"], got)
	}
	if got["aiff_db_connections_open"] < 1 {
		t.Errorf("aiff_db_connections_open = %v, want >= 1", got["aiff_db_connections_open"])
	}
	if got["aiff_db_acquires_total"] < 1 {
		t.Errorf("aiff_db_acquires_total = %v, want >= 1", got["aiff_db_acquires_total"])
	}
}

// TestChangeClocks checks that API writes are stamped for sync as on SQLite: each change gets
// a fresh hub clock after every earlier clock of its row, and a base naming that clock for
// every patched field (and status, for tickets).
func TestChangeClocks(t *testing.T) {
	s := storetest.OpenPostgres(t, nil)
	ctx := context.Background()
	z, _ := fixture(t, s)
	tk, err := s.CreateTicket(ctx, newTicket(t, "clocked", z.Name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTicket(ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		t.Title = "clocked again"
		return t, nil
	}); err != nil {
		t.Fatal(err)
	}
	chs, err := s.ListChanges(ctx, 0, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var mine []domain.Change
	for _, ch := range chs {
		if ch.EntityID == tk.ID {
			mine = append(mine, ch)
		}
	}
	if len(mine) != 2 {
		t.Fatalf("got %d changes of the ticket, want 2", len(mine))
	}
	created, updated := mine[0], mine[1]
	if created.HLC == "" || updated.HLC <= created.HLC {
		t.Fatalf("clocks %q then %q, want increasing", created.HLC, updated.HLC)
	}
	if len(created.Base) != 0 {
		t.Errorf("create base = %v, want none", created.Base)
	}
	want := map[string]string{"title": created.HLC, "updated_at": created.HLC, "status": created.HLC}
	if !maps.Equal(updated.Base, want) {
		t.Errorf("update base = %v, want %v", updated.Base, want)
	}

	// A reopened store carries on after the largest clock in the log.
	again := postgres.NewStore(s.URL)
	if err := again.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if next := again.Clock.Now().String(); next <= updated.HLC {
		t.Errorf("reopened clock reads %q, want after %q", next, updated.HLC)
	}
}
