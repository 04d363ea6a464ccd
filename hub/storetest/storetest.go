// Package storetest is the conformance suite for domain.Store: every hub store adapter
// (hub/sqlite, hub/postgres) runs the same Run so that both behave alike — same errors, same
// ordering, same change log, same analytics numbers. It uses only the domain.Store interface,
// so it is dialect-neutral.
//
// The factory gets the clock the store must use for every timestamp it sets:
//
//	storetest.Run(t, func(t *testing.T, now func() time.Time) domain.Store {
//		return storetest.OpenSQLite(t, now)
//	})
//
// Each call of the factory must return a fresh, empty, migrated store (its own file, schema or
// database), closed and removed in t.Cleanup.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Factory opens a fresh, empty store whose clock is now (a store's exported Now field).
type Factory func(t *testing.T, now func() time.Time) domain.Store

// Clock is a settable clock for tests, safe for concurrent use. Its zero value reads as T0.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// T0 is where every suite clock starts: Monday 2025-03-10 00:00 UTC.
var T0 = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return T0
	}
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = T0
	}
	c.t = c.t.Add(d)
	return c.t
}

// env is one subtest's fresh store and clock.
type env struct {
	t     *testing.T
	s     domain.Store
	clock *Clock
	ctx   context.Context
}

func newEnv(t *testing.T, open Factory) *env {
	t.Helper()
	clock := NewClock(T0)
	s := open(t, clock.Now)
	return &env{t: t, s: s, clock: clock, ctx: context.Background()}
}

// Run runs the whole suite against stores from open. Subtests are independent and each opens
// its own store.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Factory)
	}{
		{"Zones", testZones},
		{"Teams", testTeams},
		{"TeamDelete", testTeamDelete},
		{"TeamList", testTeamList},
		{"Users", testUsers},
		{"RefreshTokens", testRefreshTokens},
		{"UserDeactivate", testUserDeactivate},
		{"TicketCreateGet", testTicketCreateGet},
		{"TicketNumbering", testTicketNumbering},
		{"TicketReferences", testTicketReferences},
		{"TicketNotFound", testTicketNotFound},
		{"TicketUpdate", testTicketUpdate},
		{"TicketDelete", testTicketDelete},
		{"Notes", testNotes},
		{"TicketFilters", testTicketFilters},
		{"TicketSearch", testTicketSearch},
		{"TicketSorts", testTicketSorts},
		{"TicketPagination", testTicketPagination},
		{"TicketListErrors", testTicketListErrors},
		{"Assign", testAssign},
		{"AssignAtomic", testAssignAtomic},
		{"ChangeLog", testChangeLog},
		{"ChangeLogZones", testChangeLogZones},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentCreates", testConcurrentCreates},
		{"AnalyticsOverview", testAnalyticsOverview},
		{"AnalyticsZones", testAnalyticsZones},
		{"AnalyticsTeams", testAnalyticsTeams},
		{"AnalyticsTrends", testAnalyticsTrends},
		{"AnalyticsEmpty", testAnalyticsEmpty},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// cmpOpts compares domain values as the stores return them: empty and nil slices alike, and
// floats computed by different SQL engines within a tiny tolerance.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateApprox(0, 1e-9)}

// wantCode fails unless err has code (and field, when field is not "").
func wantCode(t *testing.T, err error, code domain.Code, field string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	if field != "" {
		if got := domain.ErrorField(err); got != field {
			t.Fatalf("error = %v: field %q, want %q", err, got, field)
		}
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func ptr[T any](v T) *T { return &v }

// --- fixtures ---

func (e *env) zone(name string) domain.Zone {
	e.t.Helper()
	z, err := e.s.CreateZone(e.ctx, domain.Zone{Name: name, Region: "test",
		Boundary: []domain.Point{{Lat: 1, Lng: 1}, {Lat: 1, Lng: 2}, {Lat: 2, Lng: 2}}, Center: domain.Point{Lat: 1.5, Lng: 1.5}})
	if err != nil {
		e.t.Fatalf("create zone %s: %v", name, err)
	}
	return z
}

func (e *env) team(name, zone string, skills ...string) domain.Team {
	e.t.Helper()
	in := domain.TeamInput{Name: domain.Some(name), Zone: domain.Some(zone), Skills: domain.Some(skills)}
	t, err := domain.NewTeam(in, e.clock.Now())
	if err != nil {
		e.t.Fatalf("new team: %v", err)
	}
	t, err = e.s.CreateTeam(e.ctx, t)
	if err != nil {
		e.t.Fatalf("create team %s: %v", name, err)
	}
	return t
}

func (e *env) ticket(title, zone string, p domain.Priority) domain.Ticket {
	e.t.Helper()
	t, err := domain.NewTicket(domain.NewTicketInput{Title: title, Zone: zone, Priority: p, Description: "about " + title,
		Location: "1 Main St", Skills: []string{"electric"}}, e.clock.Now())
	if err != nil {
		e.t.Fatalf("new ticket: %v", err)
	}
	t, err = e.s.CreateTicket(e.ctx, t)
	if err != nil {
		e.t.Fatalf("create ticket %s: %v", title, err)
	}
	return t
}

// update applies fn to ticket id at the clock's time, failing the test on error.
func (e *env) update(id string, fn func(t domain.Ticket, at time.Time) (domain.Ticket, error)) domain.Ticket {
	e.t.Helper()
	at := e.clock.Now()
	t, err := e.s.UpdateTicket(e.ctx, id, func(t domain.Ticket) (domain.Ticket, error) { return fn(t, at) })
	if err != nil {
		e.t.Fatalf("update ticket %s: %v", id, err)
	}
	return t
}

func (e *env) transition(id string, to domain.Status) domain.Ticket {
	e.t.Helper()
	return e.update(id, func(t domain.Ticket, at time.Time) (domain.Ticket, error) { return t.Transition(to, at) })
}

func (e *env) lastSeq() int64 {
	e.t.Helper()
	n, err := e.s.LastSeq(e.ctx)
	if err != nil {
		e.t.Fatalf("last seq: %v", err)
	}
	return n
}

// changesAfter returns every change after seq.
func (e *env) changesAfter(seq int64) []domain.Change {
	e.t.Helper()
	var out []domain.Change
	for {
		page, err := e.s.ListChanges(e.ctx, seq, nil, 100)
		if err != nil {
			e.t.Fatalf("list changes: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		seq = page[len(page)-1].Seq
	}
}

// oneChange asserts that exactly one change was logged after seq and returns it.
func (e *env) oneChange(seq int64, entity domain.Entity, id string, op domain.Op) domain.Change {
	e.t.Helper()
	chs := e.changesAfter(seq)
	if len(chs) != 1 {
		e.t.Fatalf("got %d changes after seq %d, want 1: %+v", len(chs), seq, chs)
	}
	ch := chs[0]
	if ch.Seq != seq+1 || ch.Entity != entity || ch.EntityID != id || ch.Op != op {
		e.t.Fatalf("change = seq %d %s %s %s, want seq %d %s %s %s", ch.Seq, ch.Entity, ch.EntityID, ch.Op, seq+1, entity, id, op)
	}
	if !domain.ValidID(ch.ID) {
		e.t.Fatalf("change id %q is not a ulid", ch.ID)
	}
	return ch
}

// noChange asserts that nothing was logged after seq.
func (e *env) noChange(seq int64) {
	e.t.Helper()
	if got := e.lastSeq(); got != seq {
		e.t.Fatalf("last seq = %d, want %d (no change logged)", got, seq)
	}
	if chs := e.changesAfter(seq); len(chs) != 0 {
		e.t.Fatalf("got %d changes after %d, want none", len(chs), seq)
	}
}

func describe(ts []domain.Ticket) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = fmt.Sprintf("%s %s", t.Number, t.Title)
	}
	return out
}

func testPing(t *testing.T, open Factory) {
	e := newEnv(t, open)
	if err := e.s.Ping(e.ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}
