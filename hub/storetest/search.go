package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	gocmp "github.com/google/go-cmp/cmp"
)

// testTicketSearch pins down the list behaviours that a store may serve through special query
// shapes for speed (hub/postgres does): a search for a ticket number written with its prefix,
// and a due-date bound under the default created_at sort. Whatever path a store takes, the
// answer must be the plain definition: a case-insensitive substring of "TKT-000123", the
// title, the description or the location; every live ticket due before the bound, in order.
func testTicketSearch(t *testing.T, open Factory) {
	t.Run("Number", func(t *testing.T) { testSearchNumber(t, open) })
	t.Run("DueBeforeOrder", func(t *testing.T) { testDueBeforeOrder(t, open) })
}

func testSearchNumber(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	byNum := map[int]domain.Ticket{}
	for i := 1; i <= 12; i++ {
		e.clock.Advance(time.Minute)
		byNum[i] = e.ticket(fmt.Sprintf("job %d", i), "north", domain.PriorityLow)
	}
	// Tickets whose text mentions another ticket's number: a substring search finds them too.
	e.clock.Advance(time.Minute)
	mention := must[domain.Ticket](t)(e.s.CreateTicket(e.ctx, domain.Ticket{Title: "Follow-up of TKT-000003",
		Category: "repair", Priority: domain.PriorityLow, Zone: "north", DueDate: T0.Add(time.Hour)}))
	e.clock.Advance(time.Minute)
	longer := must[domain.Ticket](t)(e.s.CreateTicket(e.ctx, domain.Ticket{Title: "Cabinet", Description: "label reads tkt-0000031",
		Category: "repair", Priority: domain.PriorityLow, Zone: "north", Location: "Yard -0007", DueDate: T0.Add(time.Hour)}))
	deleted := e.ticket("job deleted", "north", domain.PriorityLow) // TKT-000015
	if err := e.s.DeleteTicket(e.ctx, deleted.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	nums := func(ns ...int) []string {
		var out []string
		for _, n := range ns {
			out = append(out, byNum[n].ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"TKT-000003", append(nums(3), mention.ID, longer.ID)},
		{"tkt-000003", append(nums(3), mention.ID, longer.ID)},
		{"  TKT-000007  ", nums(7)},
		{"TKT-000012", nums(12)},
		{"kt-00001", append(nums(10, 11, 12), mention.ID, longer.ID)}, // TKT-000013 and TKT-000014
		{"T-000011", nums(11)},
		{"-000002", nums(2)},
		{"TKT-00000", append(nums(1, 2, 3, 4, 5, 6, 7, 8, 9), mention.ID, longer.ID)},
		{"000003", append(nums(3), mention.ID, longer.ID)},
		{"tkt-0000031", []string{longer.ID}},
		{"-0007", []string{longer.ID}}, // "tkt-000007" holds "-000007", not "-0007"
		{"TKT-000015", nil},            // deleted
		{"TKT-000099", nil},
		{"TKT-3", nil}, // a substring of the text, not a number: TKT-000003 does not contain it
		{"TKT-", append(nums(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), mention.ID, longer.ID)},
	} {
		t.Run(tc.q, func(t *testing.T) {
			want := slices.Clone(tc.want)
			slices.Sort(want)
			for _, size := range []int{1, 50} {
				got := ids(e.listAll(domain.TicketFilter{Query: tc.q}, size))
				slices.Sort(got)
				if diff := gocmp.Diff(want, got, cmpOpts...); diff != "" {
					t.Errorf("pages of %d: ids (-want +got):\n%s", size, diff)
				}
			}
			page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{Query: tc.q, WithTotal: true}))
			if page.Total == nil || *page.Total != len(want) {
				t.Errorf("total = %v, want %d", page.Total, len(want))
			}
		})
	}
	// A number search combines with the other filters.
	got := ids(e.listAll(domain.TicketFilter{Query: "TKT-000003", Status: []domain.Status{domain.StatusOpen},
		Zone: []string{"south"}}, 10))
	if len(got) != 0 {
		t.Errorf("number search in another zone: got %d tickets, want none", len(got))
	}
}

// testDueBeforeOrder lists "due before X" in created_at order over tickets created before and
// after X, some due long after they were made and some due before they were made (a back-dated
// due date is legal), with every page size, so that any split of the query must still merge
// into one ordered, gap-free list.
func testDueBeforeOrder(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	e.zone("south")
	x := T0.Add(100 * time.Hour)
	var all []domain.Ticket
	for i := range 40 {
		// Creation times from x-60h to x+57h, three tickets per instant so ids break ties.
		created := x.Add(time.Duration(i/3*9-60) * time.Hour)
		var due time.Time
		switch i % 4 {
		case 0:
			due = created.Add(4 * time.Hour)
		case 1:
			due = created.Add(72 * time.Hour)
		case 2:
			due = created.Add(-time.Duration(i) * time.Hour) // due before it was made
		default:
			due = x.Add(-time.Duration(i) * time.Minute) // just before x, whenever made
		}
		e.clock.Set(created)
		zone := []string{"north", "south"}[i%2]
		tk := must[domain.Ticket](t)(e.s.CreateTicket(e.ctx, domain.Ticket{Title: fmt.Sprintf("d%02d", i),
			Category: "repair", Priority: domain.Priorities[i%4], Zone: zone, DueDate: due}))
		if i%5 == 0 {
			e.clock.Set(created.Add(time.Minute))
			tk = e.transition(tk.ID, domain.StatusCancelled)
		}
		if i == 7 || i == 22 {
			if err := e.s.DeleteTicket(e.ctx, tk.ID); err != nil {
				t.Fatalf("delete: %v", err)
			}
			continue
		}
		all = append(all, tk)
	}
	match := func(f domain.TicketFilter) []domain.Ticket {
		var out []domain.Ticket
		for _, tk := range all {
			if f.DueBefore != nil && !tk.DueDate.Before(*f.DueBefore) {
				continue
			}
			if f.DueAfter != nil && !tk.DueDate.After(*f.DueAfter) {
				continue
			}
			if len(f.Status) > 0 && !slices.Contains(f.Status, tk.Status) {
				continue
			}
			if len(f.Zone) > 0 && !slices.Contains(f.Zone, tk.Zone) {
				continue
			}
			if f.Query != "" && !strings.Contains(strings.ToLower(tk.Title), strings.ToLower(f.Query)) {
				continue
			}
			out = append(out, tk)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    domain.TicketFilter
	}{
		{"due before x", domain.TicketFilter{DueBefore: &x}},
		{"due before early", domain.TicketFilter{DueBefore: ptr(x.Add(-50 * time.Hour))}},
		{"due before late", domain.TicketFilter{DueBefore: ptr(x.Add(80 * time.Hour))}},
		{"due window", domain.TicketFilter{DueBefore: &x, DueAfter: ptr(x.Add(-20 * time.Hour))}},
		{"due before x open", domain.TicketFilter{DueBefore: &x, Status: []domain.Status{domain.StatusOpen}}},
		{"due before x zone", domain.TicketFilter{DueBefore: &x, Zone: []string{"south"}}},
		{"due before x search", domain.TicketFilter{DueBefore: &x, Query: "D1"}},
	} {
		for _, sort := range []string{"", "-created_at", "created_at", "due_date", "-updated_at"} {
			f := tc.f
			f.Sort = sort
			order := sort
			if order == "" {
				order = "-created_at"
			}
			want := describe(expectedOrder(match(f), order))
			for _, size := range []int{1, 2, 3, 7, 50} {
				got := describe(e.listAll(f, size))
				if diff := gocmp.Diff(want, got, cmpOpts...); diff != "" {
					t.Errorf("%s, sort %q, pages of %d (-want +got):\n%s", tc.name, sort, size, diff)
				}
			}
			page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{DueBefore: f.DueBefore,
				DueAfter: f.DueAfter, Status: f.Status, Zone: f.Zone, Query: f.Query, Sort: sort, WithTotal: true}))
			if page.Total == nil || *page.Total != len(want) {
				t.Errorf("%s, sort %q: total = %v, want %d", tc.name, sort, page.Total, len(want))
			}
		}
	}
}
