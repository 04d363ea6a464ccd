// Package seedtest checks that a store loaded a seed.Dataset faithfully. Both hub stores run it
// from their BulkLoad tests, so "what a seeded store must look like" is written once.
package seedtest

import (
	"bytes"
	"context"
	"iter"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
)

// Store is a hub store that can be seeded.
type Store interface {
	domain.Store
	seed.Sink
}

// LoadAndCheck loads ds into the empty store s through seed.Load and checks, reading back
// through the store's own API: every zone, team, user and ticket equals the generated one
// (tickets in number order, each valid per Ticket.Validate), each row has one genesis change,
// the ticket counter continues after the last seeded number, team performance columns agree
// with the store's TeamPerformance analytics, and a second load is refused with CodeConflict.
// It leaves one extra ticket in the store.
func LoadAndCheck(t *testing.T, s Store, ds *seed.Dataset) {
	t.Helper()
	ctx := context.Background()
	var out bytes.Buffer
	if err := seed.Load(ctx, s, ds, &out); err != nil {
		t.Fatalf("load: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "seeded ") {
		t.Errorf("load output has no summary:\n%s", out.String())
	}

	zones, err := s.ListZones(ctx)
	if err != nil {
		t.Fatalf("list zones: %v", err)
	}
	byName := func(a, b domain.Zone) int { return strings.Compare(a.Name, b.Name) }
	want := slices.SortedFunc(slices.Values(ds.Zones), byName)
	if diff := cmp.Diff(want, slices.SortedFunc(slices.Values(zones), byName)); diff != "" {
		t.Errorf("zones (-want +got):\n%s", diff)
	}

	checkUsers(t, s, ds)
	checkTickets(t, s, ds)
	checkTeams(t, s, ds)

	checkGenesis(t, s, ds)
	if err := s.BulkLoad(ctx, ds, nil); domain.ErrorCode(err) != domain.CodeConflict {
		t.Errorf("second load: %v, want CodeConflict", err)
	}
	tk, err := domain.NewTicket(domain.NewTicketInput{Title: "after the seed", Zone: ds.Zones[0].Name}, ds.Config.Now)
	if err != nil {
		t.Fatal(err)
	}
	if tk, err = s.CreateTicket(ctx, tk); err != nil {
		t.Fatalf("create ticket after seeding: %v", err)
	}
	if want := domain.TicketNumber(int64(ds.Config.Tickets) + 1); tk.Number != want {
		t.Errorf("first ticket after seeding is %s, want %s", tk.Number, want)
	}
}

func checkUsers(t *testing.T, s Store, ds *seed.Dataset) {
	t.Helper()
	users, err := s.ListUsers(context.Background())
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	byName := func(a, b domain.User) int { return strings.Compare(a.Username, b.Username) }
	want := slices.SortedFunc(slices.Values(ds.Users), byName)
	got := slices.SortedFunc(slices.Values(users), byName)
	// PasswordHash is not serialised to JSON and may not be listed; check it by login name.
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(domain.User{}, "PasswordHash")); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	u, err := s.GetUserByUsername(context.Background(), "dispatcher")
	if err != nil || u.PasswordHash != ds.Config.PasswordHash {
		t.Errorf("dispatcher: %v, password hash %q, want %q", err, u.PasswordHash, ds.Config.PasswordHash)
	}
}

// checkTickets pages through every ticket by number and compares it with the regenerated one.
func checkTickets(t *testing.T, s Store, ds *seed.Dataset) {
	t.Helper()
	next, stop := iter.Pull(ds.Tickets)
	defer stop()
	f := domain.TicketFilter{Sort: "ticket_number", Limit: 500, WithTotal: true}
	n := 0
	for {
		page, err := s.ListTickets(context.Background(), f)
		if err != nil {
			t.Fatalf("list tickets after %d: %v", n, err)
		}
		if page.Total != nil && *page.Total != ds.Config.Tickets {
			t.Fatalf("list total %d, want %d", *page.Total, ds.Config.Tickets)
		}
		for _, got := range page.Items {
			n++
			if err := got.Validate(); err != nil {
				t.Fatalf("ticket %s read back invalid: %v", got.Number, err)
			}
			want, ok := next()
			if !ok {
				t.Fatalf("store has ticket %s beyond the %d generated", got.Number, ds.Config.Tickets)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("ticket %d (-want +got):\n%s", n, diff)
			}
		}
		f.WithTotal = false
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if n != ds.Config.Tickets {
		t.Fatalf("read back %d tickets, want %d", n, ds.Config.Tickets)
	}
}

// checkTeams compares the teams with the generated ones and their performance columns with the
// store's own analytics over the same tickets.
func checkTeams(t *testing.T, s Store, ds *seed.Dataset) {
	t.Helper()
	ctx := context.Background()
	teams, err := s.ListTeams(ctx, domain.TeamFilter{})
	if err != nil {
		t.Fatalf("list teams: %v", err)
	}
	if len(teams) != len(ds.Teams) {
		t.Fatalf("got %d teams, want %d", len(teams), len(ds.Teams))
	}
	active := map[string]int{}
	for tk := range ds.Tickets {
		if tk.AssignedTeam != nil && !tk.Status.Done() {
			active[*tk.AssignedTeam]++
		}
	}
	perf, err := s.TeamPerformance(ctx, domain.AnalyticsFilter{})
	if err != nil {
		t.Fatalf("team performance: %v", err)
	}
	perfOf := map[string]domain.TeamPerformance{}
	for _, p := range perf {
		perfOf[p.TeamID] = p
	}
	gen := map[string]domain.Team{}
	for _, tm := range ds.Teams {
		gen[tm.ID] = tm
	}
	derived := cmpopts.IgnoreFields(domain.Team{}, "TicketsCompleted", "CustomerRating", "ResponseTime",
		"CompletionRate", "Efficiency", "ActiveTickets", "UpdatedAt")
	near := func(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
	for _, got := range teams {
		if err := got.Validate(); err != nil {
			t.Errorf("team %s read back invalid: %v", got.Name, err)
		}
		if diff := cmp.Diff(gen[got.ID], got, derived); diff != "" {
			t.Errorf("team %s (-want +got):\n%s", got.Name, diff)
		}
		if got.ActiveTickets != active[got.ID] {
			t.Errorf("team %s: %d active tickets, want %d", got.Name, got.ActiveTickets, active[got.ID])
		}
		p, ok := perfOf[got.ID]
		switch {
		case !ok:
			t.Errorf("team %s missing from TeamPerformance", got.Name)
		case got.TicketsCompleted == 0 || got.TicketsCompleted != p.TicketsCompleted:
			t.Errorf("team %s: tickets_completed %d, analytics %d", got.Name, got.TicketsCompleted, p.TicketsCompleted)
		case got.CustomerRating < 1 || got.CustomerRating > 5 || !near(got.CustomerRating, p.CustomerRating, 0.006):
			t.Errorf("team %s: customer_rating %v, analytics %v", got.Name, got.CustomerRating, p.CustomerRating)
		case got.ResponseTime <= 0 || !near(float64(got.ResponseTime), p.ResponseTime, 0.51):
			t.Errorf("team %s: response_time %d, analytics %v", got.Name, got.ResponseTime, p.ResponseTime)
		case got.CompletionRate <= 0 || got.CompletionRate > 100 || !near(got.CompletionRate, p.CompletionRate, 0.006):
			t.Errorf("team %s: completion_rate %v, analytics %v", got.Name, got.CompletionRate, p.CompletionRate)
		case got.Efficiency <= 0 || got.Efficiency > 100 || !near(got.Efficiency, p.Efficiency, 0.006):
			t.Errorf("team %s: efficiency %v, analytics %v", got.Name, got.Efficiency, p.Efficiency)
		}
	}
}
