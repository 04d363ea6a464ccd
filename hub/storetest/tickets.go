package storetest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	gocmp "github.com/google/go-cmp/cmp"
)

func testTicketCreateGet(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	team := e.team("Alpha", "north")
	e.clock.Set(T0.Add(90*time.Minute + 999*time.Nanosecond))
	now := T0.Add(90 * time.Minute)
	seq := e.lastSeq()

	in := domain.Ticket{Title: "Broken meter", Description: "sparks", Category: "repair", Priority: domain.PriorityHigh,
		Zone: "north", Location: "2 Elm St", Lat: ptr(1.5), Lng: ptr(1.6), Skills: []string{"electric", "meter"},
		AssignedTo: ptr("bob"), DueDate: T0.Add(48*time.Hour + 5*time.Nanosecond)}
	got := must[domain.Ticket](t)(e.s.CreateTicket(e.ctx, in))
	want := in
	want.ID, want.Number, want.Status = got.ID, "TKT-000001", domain.StatusOpen
	want.CreatedAt, want.UpdatedAt, want.DueDate = now, now, T0.Add(48*time.Hour)
	if diff := gocmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("CreateTicket (-want +got):\n%s", diff)
	}
	if !domain.ValidID(got.ID) {
		t.Errorf("id %q is not a ulid", got.ID)
	}
	if diff := gocmp.Diff(got, must[domain.Ticket](t)(e.s.GetTicket(e.ctx, got.ID)), cmpOpts...); diff != "" {
		t.Errorf("GetTicket (-want +got):\n%s", diff)
	}
	ch := e.oneChange(seq, domain.EntityTicket, got.ID, domain.OpUpsert)
	if ch.Zone != "north" || !ch.At.Equal(now) {
		t.Errorf("create change zone %q at %v, want north at %v", ch.Zone, ch.At, now)
	}
	wantPatch, _ := domain.Diff(nil, got)
	if diff := gocmp.Diff(wantPatch, ch.Patch, cmpOpts...); diff != "" {
		t.Errorf("create patch (-want +got):\n%s", diff)
	}

	// A ticket created with a team, a given ID and explicit times keeps them; a default due
	// date is CreatedAt + SLA.
	id := domain.NewID(T0)
	full := domain.Ticket{ID: id, Title: "Assigned from the start", Category: "outage", Priority: domain.PriorityCritical,
		Status: domain.StatusAssigned, Zone: "north", AssignedTeam: &team.ID, AssignedAt: ptr(T0), CreatedAt: T0, UpdatedAt: T0}
	got2 := must[domain.Ticket](t)(e.s.CreateTicket(e.ctx, full))
	want2 := full
	want2.Number, want2.DueDate, want2.Skills = "TKT-000002", T0.Add(4*time.Hour), []string{}
	if diff := gocmp.Diff(want2, got2, cmpOpts...); diff != "" {
		t.Errorf("CreateTicket with team (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(got2, must[domain.Ticket](t)(e.s.GetTicket(e.ctx, id)), cmpOpts...); diff != "" {
		t.Errorf("GetTicket with team (-want +got):\n%s", diff)
	}
	_, err := e.s.CreateTicket(e.ctx, full)
	wantCode(t, err, domain.CodeConflict, "")

	// A given number is kept (sync and imports carry theirs), taken numbers conflict, and the
	// counter continues after the highest number stored.
	numbered := in
	numbered.Number = "TKT-000050"
	if got := must[domain.Ticket](t)(e.s.CreateTicket(e.ctx, numbered)); got.Number != "TKT-000050" {
		t.Errorf("given number became %s", got.Number)
	}
	_, err = e.s.CreateTicket(e.ctx, numbered)
	wantCode(t, err, domain.CodeConflict, "")
	numbered.Number = "50"
	_, err = e.s.CreateTicket(e.ctx, numbered)
	wantCode(t, err, domain.CodeInvalid, "ticket_number")
	if got := must[domain.Ticket](t)(e.s.CreateTicket(e.ctx, in)); got.Number != "TKT-000051" {
		t.Errorf("number after TKT-000050 = %s, want TKT-000051", got.Number)
	}
	badID := in
	badID.ID = "not-a-ulid"
	_, err = e.s.CreateTicket(e.ctx, badID)
	wantCode(t, err, domain.CodeInvalid, "id")
	bad := in
	bad.Title = ""
	_, err = e.s.CreateTicket(e.ctx, bad)
	wantCode(t, err, domain.CodeInvalid, "title")
}

func testTicketNumbering(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	for i := 1; i <= 12; i++ {
		tk := e.ticket(fmt.Sprintf("t%d", i), "north", domain.PriorityLow)
		if want := fmt.Sprintf("TKT-%06d", i); tk.Number != want {
			t.Fatalf("ticket %d number = %s, want %s", i, tk.Number, want)
		}
	}
	// A failed create does not use up a number.
	_, err := e.s.CreateTicket(e.ctx, domain.Ticket{Title: "x", Category: "other", Priority: domain.PriorityLow, Zone: "nowhere", DueDate: T0})
	wantCode(t, err, domain.CodeInvalid, "zone")
	if tk := e.ticket("t13", "north", domain.PriorityLow); tk.Number != "TKT-000013" {
		t.Fatalf("number after a failed create = %s, want TKT-000013", tk.Number)
	}
	// Deleting does not free a number either.
	last := e.ticket("t14", "north", domain.PriorityLow)
	if err := e.s.DeleteTicket(e.ctx, last.ID); err != nil {
		t.Fatal(err)
	}
	if tk := e.ticket("t15", "north", domain.PriorityLow); tk.Number != "TKT-000015" {
		t.Fatalf("number after a delete = %s, want TKT-000015", tk.Number)
	}
}

func testTicketReferences(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	team := e.team("Alpha", "north")
	tk := e.ticket("fix", "north", domain.PriorityMedium)
	seq := e.lastSeq()

	in := domain.Ticket{Title: "x", Category: "other", Priority: domain.PriorityLow, Zone: "atlantis", DueDate: T0}
	_, err := e.s.CreateTicket(e.ctx, in)
	wantCode(t, err, domain.CodeInvalid, "zone")
	in.Zone, in.Status, in.AssignedTeam = "north", domain.StatusAssigned, ptr("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	_, err = e.s.CreateTicket(e.ctx, in)
	wantCode(t, err, domain.CodeInvalid, "assigned_team")

	_, err = e.s.UpdateTicket(e.ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{Zone: domain.Some("atlantis")}.Apply(t, e.clock.Now())
	})
	wantCode(t, err, domain.CodeInvalid, "zone")
	_, err = e.s.UpdateTicket(e.ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{AssignedTeam: domain.Some("01ARZ3NDEKTSV4RRFFQ69G5FAV")}.Apply(t, e.clock.Now())
	})
	wantCode(t, err, domain.CodeInvalid, "assigned_team")
	e.noChange(seq)
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Zone != "north" || got.AssignedTeam != nil {
		t.Errorf("failed updates changed the ticket: %+v", got)
	}
	// A real team is accepted through an update too, and counts on the team.
	must[domain.Ticket](t)(e.s.UpdateTicket(e.ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{AssignedTeam: domain.Some(team.ID)}.Apply(t, e.clock.Now())
	}))
	if got := must[domain.Team](t)(e.s.GetTeam(e.ctx, team.ID)); got.ActiveTickets != 1 {
		t.Errorf("team active tickets = %d, want 1", got.ActiveTickets)
	}
}

func testTicketNotFound(t *testing.T, open Factory) {
	e := newEnv(t, open)
	const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	_, err := e.s.GetTicket(e.ctx, id)
	wantCode(t, err, domain.CodeNotFound, "")
	_, err = e.s.UpdateTicket(e.ctx, id, func(t domain.Ticket) (domain.Ticket, error) { return t, nil })
	wantCode(t, err, domain.CodeNotFound, "")
	wantCode(t, e.s.DeleteTicket(e.ctx, id), domain.CodeNotFound, "")
	_, err = e.s.GetTicket(e.ctx, "not-an-id")
	wantCode(t, err, domain.CodeNotFound, "")
	e.noChange(0)
}

func testTicketUpdate(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	e.zone("south")
	team := e.team("Alpha", "north")
	tk := e.ticket("fix", "north", domain.PriorityMedium)

	e.clock.Set(T0.Add(time.Hour))
	seq := e.lastSeq()
	got := e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		return domain.TicketPatch{Title: domain.Some("fix it"), Zone: domain.Some("south"), Priority: domain.Some(domain.PriorityCritical),
			AssignedTeam: domain.Some(team.ID)}.Apply(t, at)
	})
	want := tk
	want.Title, want.Zone, want.Priority, want.AssignedTeam = "fix it", "south", domain.PriorityCritical, &team.ID
	want.Status, want.AssignedAt, want.UpdatedAt = domain.StatusAssigned, ptr(T0.Add(time.Hour)), T0.Add(time.Hour)
	if diff := gocmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("UpdateTicket (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(got, must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)), cmpOpts...); diff != "" {
		t.Errorf("GetTicket after update (-want +got):\n%s", diff)
	}
	ch := e.oneChange(seq, domain.EntityTicket, tk.ID, domain.OpUpsert)
	wantPatch, _ := domain.Diff(tk, got)
	if diff := gocmp.Diff(wantPatch, ch.Patch, cmpOpts...); diff != "" {
		t.Errorf("update patch (-want +got):\n%s", diff)
	}
	if ch.Zone != "south" {
		t.Errorf("update change zone = %q, want the new zone south", ch.Zone)
	}

	// The store owns ID, number, created and deleted times: fn cannot change them.
	e.clock.Set(T0.Add(2 * time.Hour))
	got = e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		t.ID, t.Number, t.CreatedAt, t.DeletedAt = "x", "TKT-999999", at, &at
		t.Description = "changed"
		return t, nil
	})
	if got.ID != tk.ID || got.Number != tk.Number || !got.CreatedAt.Equal(tk.CreatedAt) || got.DeletedAt != nil {
		t.Errorf("fn changed store-owned fields: %+v", got)
	}

	// A no-op update writes nothing, even though fn moved UpdatedAt.
	e.clock.Set(T0.Add(3 * time.Hour))
	seq = e.lastSeq()
	same := e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		return domain.TicketPatch{Title: domain.Some("fix it")}.Apply(t, at)
	})
	if diff := gocmp.Diff(got, same, cmpOpts...); diff != "" {
		t.Errorf("no-op update (-want +got):\n%s", diff)
	}
	e.noChange(seq)

	// fn errors and invalid results are returned and store nothing.
	_, err := e.s.UpdateTicket(e.ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		return t.Transition(domain.StatusClosed, e.clock.Now())
	})
	wantCode(t, err, domain.CodeConflict, "status")
	_, err = e.s.UpdateTicket(e.ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		t.Category = "bogus"
		return t, nil
	})
	wantCode(t, err, domain.CodeInvalid, "category")
	e.noChange(seq)

	// A full lifecycle sets each timestamp from the store clock the caller passed on.
	e.clock.Set(T0.Add(4 * time.Hour))
	e.transition(tk.ID, domain.StatusInProgress)
	e.clock.Set(T0.Add(5 * time.Hour))
	e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		return domain.TicketPatch{Status: domain.Some(domain.StatusResolved), CustomerRating: domain.Some(4)}.Apply(t, at)
	})
	e.clock.Set(T0.Add(6 * time.Hour))
	final := e.transition(tk.ID, domain.StatusClosed)
	if final.StartedAt == nil || !final.StartedAt.Equal(T0.Add(4*time.Hour)) ||
		final.ResolvedAt == nil || !final.ResolvedAt.Equal(T0.Add(5*time.Hour)) ||
		final.ClosedAt == nil || !final.ClosedAt.Equal(T0.Add(6*time.Hour)) ||
		final.CustomerRating == nil || *final.CustomerRating != 4 || !final.UpdatedAt.Equal(T0.Add(6*time.Hour)) {
		t.Errorf("lifecycle times: %+v", final)
	}
	if diff := gocmp.Diff(final, must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)), cmpOpts...); diff != "" {
		t.Errorf("GetTicket after lifecycle (-want +got):\n%s", diff)
	}
	// Clearing nullable fields round-trips as nil.
	other := e.update(e.ticket("other", "north", domain.PriorityLow).ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		t.Lat, t.Lng, t.AssignedTo, t.Skills = nil, nil, nil, nil
		return t, nil
	})
	if diff := gocmp.Diff(other, must[domain.Ticket](t)(e.s.GetTicket(e.ctx, other.ID)), cmpOpts...); diff != "" {
		t.Errorf("cleared fields (-want +got):\n%s", diff)
	}
}

func testTicketDelete(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	keep := e.ticket("keep", "north", domain.PriorityLow)
	gone := e.ticket("gone", "north", domain.PriorityLow)
	e.clock.Set(T0.Add(time.Hour))
	seq := e.lastSeq()
	if err := e.s.DeleteTicket(e.ctx, gone.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	ch := e.oneChange(seq, domain.EntityTicket, gone.ID, domain.OpDelete)
	if ch.Zone != "north" || string(ch.Patch["deleted_at"]) != `"2025-03-10T01:00:00Z"` {
		t.Errorf("delete change zone %q patch %v, want zone north and deleted_at", ch.Zone, ch.Patch)
	}
	_, err := e.s.GetTicket(e.ctx, gone.ID)
	wantCode(t, err, domain.CodeNotFound, "")
	page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{WithTotal: true}))
	if len(page.Items) != 1 || page.Items[0].ID != keep.ID || page.Total == nil || *page.Total != 1 {
		t.Errorf("list after delete = %v total %v, want only %s", describe(page.Items), page.Total, keep.Number)
	}
	seq = e.lastSeq()
	wantCode(t, e.s.DeleteTicket(e.ctx, gone.ID), domain.CodeNotFound, "")
	_, err = e.s.UpdateTicket(e.ctx, gone.ID, func(t domain.Ticket) (domain.Ticket, error) { return t, nil })
	wantCode(t, err, domain.CodeNotFound, "")
	_, err = e.s.AssignTickets(e.ctx, []string{gone.ID}, "x", "manual")
	if err == nil {
		t.Errorf("assigning a deleted ticket succeeded")
	}
	e.noChange(seq)
}

// listAll walks every page of f with the given page size and returns the tickets in order,
// failing on a page that is over size or a cursor loop.
func (e *env) listAll(f domain.TicketFilter, size int) []domain.Ticket {
	e.t.Helper()
	f.Limit = size
	var out []domain.Ticket
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.t.Fatalf("pagination does not end")
		}
		page, err := e.s.ListTickets(e.ctx, f)
		if err != nil {
			e.t.Fatalf("list tickets %+v: %v", f, err)
		}
		if len(page.Items) > size {
			e.t.Fatalf("page has %d items, limit %d", len(page.Items), size)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out
		}
		if len(page.Items) == 0 {
			e.t.Fatalf("empty page with a next cursor")
		}
		f.Cursor = page.NextCursor
	}
}

func ids(ts []domain.Ticket) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// filterFixture makes a spread of tickets for filter tests, returned by title.
func filterFixture(e *env) (map[string]domain.Ticket, domain.Team, domain.Team) {
	e.zone("north")
	e.zone("south")
	a := e.team("Alpha", "north")
	b := e.team("Bravo", "south")
	mk := func(title, zone string, p domain.Priority, created time.Duration, due time.Duration, desc, loc string) domain.Ticket {
		e.clock.Set(T0.Add(created))
		tk, err := e.s.CreateTicket(e.ctx, domain.Ticket{Title: title, Description: desc, Location: loc, Category: "repair",
			Priority: p, Zone: zone, DueDate: T0.Add(due)})
		if err != nil {
			e.t.Fatalf("create %s: %v", title, err)
		}
		return tk
	}
	ts := map[string]domain.Ticket{}
	ts["meter"] = mk("Broken meter", "north", domain.PriorityHigh, 0, 10*time.Hour, "Sparks from the box", "1 Elm St")
	ts["pole"] = mk("Leaning pole", "north", domain.PriorityLow, time.Hour, 20*time.Hour, "wind damage", "Oak Avenue")
	ts["cable"] = mk("Cut cable", "south", domain.PriorityCritical, 2*time.Hour, 30*time.Hour, "digger hit it", "Pine Rd")
	ts["lamp"] = mk("Street lamp 100% dark", "south", domain.PriorityMedium, 3*time.Hour, 40*time.Hour, "under_score", "Birch Ln")
	ts["gas"] = mk("Gas smell", "north", domain.PriorityCritical, 4*time.Hour, 50*time.Hour, "near school", "ELM street 9")
	e.clock.Set(T0.Add(10 * time.Hour))
	must[[]domain.Ticket](e.t)(e.s.AssignTickets(e.ctx, []string{ts["meter"].ID, ts["pole"].ID}, a.ID, "manual"))
	must[[]domain.Ticket](e.t)(e.s.AssignTickets(e.ctx, []string{ts["cable"].ID}, b.ID, "auto"))
	e.clock.Set(T0.Add(11 * time.Hour))
	e.transition(ts["meter"].ID, domain.StatusInProgress)
	e.clock.Set(T0.Add(12 * time.Hour))
	e.transition(ts["pole"].ID, domain.StatusCancelled)
	for k, v := range ts {
		ts[k] = must[domain.Ticket](e.t)(e.s.GetTicket(e.ctx, v.ID))
	}
	return ts, a, b
}

func testTicketFilters(t *testing.T, open Factory) {
	e := newEnv(t, open)
	ts, a, b := filterFixture(e)
	at := func(d time.Duration) *time.Time { return ptr(T0.Add(d)) }
	for _, tc := range []struct {
		name string
		f    domain.TicketFilter
		want []string // titles keys, any order
	}{
		{"none", domain.TicketFilter{}, []string{"meter", "pole", "cable", "lamp", "gas"}},
		{"status", domain.TicketFilter{Status: []domain.Status{domain.StatusOpen}}, []string{"lamp", "gas"}},
		{"statuses", domain.TicketFilter{Status: []domain.Status{domain.StatusInProgress, domain.StatusCancelled}}, []string{"meter", "pole"}},
		{"priority", domain.TicketFilter{Priority: []domain.Priority{domain.PriorityCritical}}, []string{"cable", "gas"}},
		{"zone", domain.TicketFilter{Zone: []string{"south"}}, []string{"cable", "lamp"}},
		{"zones", domain.TicketFilter{Zone: []string{"south", "north"}}, []string{"meter", "pole", "cable", "lamp", "gas"}},
		{"team", domain.TicketFilter{Team: a.ID}, []string{"meter", "pole"}}, // cancelling keeps the team
		{"team other", domain.TicketFilter{Team: b.ID}, []string{"cable"}},
		{"team none", domain.TicketFilter{Team: "none"}, []string{"lamp", "gas"}},
		{"query title", domain.TicketFilter{Query: "METER"}, []string{"meter"}},
		{"query description", domain.TicketFilter{Query: "digger"}, []string{"cable"}},
		{"query location", domain.TicketFilter{Query: "elm"}, []string{"meter", "gas"}},
		{"query number", domain.TicketFilter{Query: ts["cable"].Number}, []string{"cable"}},
		{"query number lowercase", domain.TicketFilter{Query: strings.ToLower(ts["lamp"].Number)}, []string{"lamp"}},
		{"query percent is literal", domain.TicketFilter{Query: "100%"}, []string{"lamp"}},
		{"query underscore is literal", domain.TicketFilter{Query: "r_s"}, []string{"lamp"}},
		{"query no match", domain.TicketFilter{Query: "zebra"}, nil},
		{"due before", domain.TicketFilter{DueBefore: at(30 * time.Hour)}, []string{"meter", "pole"}},
		{"due after", domain.TicketFilter{DueAfter: at(30 * time.Hour)}, []string{"lamp", "gas"}},
		{"due between", domain.TicketFilter{DueAfter: at(10 * time.Hour), DueBefore: at(50 * time.Hour)}, []string{"pole", "cable", "lamp"}},
		{"updated after", domain.TicketFilter{UpdatedAfter: at(10 * time.Hour)}, []string{"meter", "pole"}},
		{"updated after assign", domain.TicketFilter{UpdatedAfter: at(9 * time.Hour)}, []string{"meter", "pole", "cable"}},
		{"scope zones", domain.TicketFilter{ScopeZones: []string{"north"}}, []string{"meter", "pole", "gas"}},
		{"zone outside scope", domain.TicketFilter{Zone: []string{"south"}, ScopeZones: []string{"north"}}, nil},
		{"scope team", domain.TicketFilter{ScopeTeam: b.ID}, []string{"cable"}},
		{"scope team and team filter", domain.TicketFilter{ScopeTeam: b.ID, Team: a.ID}, nil},
		{"combined", domain.TicketFilter{Zone: []string{"north"}, Priority: []domain.Priority{domain.PriorityCritical, domain.PriorityHigh},
			Status: []domain.Status{domain.StatusOpen, domain.StatusInProgress}, Query: "e"}, []string{"meter", "gas"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, k := range tc.want {
				want = append(want, ts[k].ID)
			}
			slices.Sort(want)
			f := tc.f
			f.WithTotal = true
			page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, f))
			got := ids(page.Items)
			slices.Sort(got)
			if diff := gocmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if page.Total == nil || *page.Total != len(want) {
				t.Errorf("total = %v, want %d", page.Total, len(want))
			}
			// Listed tickets are the same values Get returns.
			for _, tk := range page.Items {
				if diff := gocmp.Diff(ts[keyOf(ts, tk.ID)], tk, cmpOpts...); diff != "" {
					t.Errorf("listed %s (-want +got):\n%s", tk.Number, diff)
				}
			}
		})
	}
}

func keyOf(ts map[string]domain.Ticket, id string) string {
	for k, v := range ts {
		if v.ID == id {
			return k
		}
	}
	return ""
}

// sortFixture creates n tickets whose sort keys repeat a lot (3 creation times, 4 due dates,
// 4 priorities, 5 update times), so that keyset pagination has to break ties by id.
func sortFixture(e *env, n int) []domain.Ticket {
	e.zone("north")
	var out []domain.Ticket
	for i := range n {
		e.clock.Set(T0.Add(time.Duration(i%3) * time.Hour))
		p := domain.Priorities[(i*7)%4]
		tk, err := e.s.CreateTicket(e.ctx, domain.Ticket{Title: fmt.Sprintf("t%02d", i), Category: "other", Priority: p,
			Zone: "north", DueDate: T0.Add(time.Duration(i%4) * 24 * time.Hour)})
		if err != nil {
			e.t.Fatalf("create: %v", err)
		}
		out = append(out, tk)
	}
	for i, tk := range out {
		if i%2 == 0 {
			e.clock.Set(T0.Add(time.Duration(10+i%5) * time.Hour))
			out[i] = e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
				t.Description = "touched"
				return t, nil
			})
		}
	}
	return out
}

// sortKey returns the value a sort orders by; ticket numbers sort as numbers.
func sortKey(t domain.Ticket, key string) int64 {
	switch key {
	case "created_at":
		return t.CreatedAt.UnixMicro()
	case "updated_at":
		return t.UpdatedAt.UnixMicro()
	case "due_date":
		return t.DueDate.UnixMicro()
	case "priority":
		return int64(t.Priority.Rank())
	case "ticket_number":
		var n int64
		fmt.Sscanf(t.Number, "TKT-%d", &n)
		return n
	}
	panic("unknown sort " + key)
}

// expectedOrder sorts ts as the store must: by the key, then by id, both reversed for '-'.
func expectedOrder(ts []domain.Ticket, sort string) []domain.Ticket {
	key := strings.TrimPrefix(sort, "-")
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b domain.Ticket) int {
		c := cmp.Or(cmp.Compare(sortKey(a, key), sortKey(b, key)), strings.Compare(a.ID, b.ID))
		if strings.HasPrefix(sort, "-") {
			return -c
		}
		return c
	})
	return out
}

func testTicketSorts(t *testing.T, open Factory) {
	e := newEnv(t, open)
	all := sortFixture(e, 24)
	for _, sort := range domain.TicketSorts {
		t.Run(sort, func(t *testing.T) {
			page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{Sort: sort, Limit: 500}))
			if diff := gocmp.Diff(describe(expectedOrder(all, sort)), describe(page.Items)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if page.NextCursor != "" {
				t.Errorf("single full page has a next cursor")
			}
		})
	}
	// The default order is newest first.
	page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{Limit: 500}))
	if diff := gocmp.Diff(describe(expectedOrder(all, "-created_at")), describe(page.Items)); diff != "" {
		t.Errorf("default order (-want +got):\n%s", diff)
	}
}

func testTicketPagination(t *testing.T, open Factory) {
	e := newEnv(t, open)
	all := sortFixture(e, 37)
	for _, sort := range domain.TicketSorts {
		for _, size := range []int{1, 4, 10, 36, 37, 38} {
			got := e.listAll(domain.TicketFilter{Sort: sort}, size)
			if diff := gocmp.Diff(describe(expectedOrder(all, sort)), describe(got)); diff != "" {
				t.Errorf("sort %s, pages of %d (-want +got):\n%s", sort, size, diff)
			}
		}
	}
	// Paging a filtered list keeps the filter, and the total counts the whole filter.
	f := domain.TicketFilter{Sort: "priority", Priority: []domain.Priority{domain.PriorityLow, domain.PriorityCritical}, Limit: 5, WithTotal: true}
	var want []domain.Ticket
	for _, tk := range expectedOrder(all, "priority") {
		if tk.Priority == domain.PriorityLow || tk.Priority == domain.PriorityCritical {
			want = append(want, tk)
		}
	}
	var got []domain.Ticket
	for {
		page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, f))
		if page.Total == nil || *page.Total != len(want) {
			t.Fatalf("total = %v, want %d", page.Total, len(want))
		}
		got = append(got, page.Items...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if diff := gocmp.Diff(describe(want), describe(got)); diff != "" {
		t.Errorf("filtered pages (-want +got):\n%s", diff)
	}
	// Without WithTotal there is no total.
	page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{Limit: 2}))
	if page.Total != nil {
		t.Errorf("total without WithTotal = %d, want nil", *page.Total)
	}
	// The default limit is 50; a limit over the maximum (500) is capped, not refused.
	for i := range 14 {
		all = append(all, e.ticket(fmt.Sprintf("extra%d", i), "north", domain.PriorityLow))
	}
	page = must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{}))
	if len(page.Items) != 50 || page.NextCursor == "" {
		t.Errorf("default page has %d items, cursor %q; want 50 and a cursor", len(page.Items), page.NextCursor)
	}
	page = must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{Limit: 100000}))
	if len(page.Items) != len(all) || page.NextCursor != "" {
		t.Errorf("page with a huge limit has %d items, cursor %q; want all %d", len(page.Items), page.NextCursor, len(all))
	}
	// A ticket changed between pages moves but nothing else is skipped or repeated.
	first := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{Sort: "ticket_number", Limit: 10}))
	e.clock.Set(T0.Add(100 * time.Hour))
	e.update(first.Items[0].ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		t.Title = "renamed"
		return t, nil
	})
	rest := e.listAll(domain.TicketFilter{Sort: "ticket_number", Cursor: first.NextCursor}, 10)
	if n := len(first.Items) + len(rest); n != len(all) {
		t.Errorf("pages across an update hold %d tickets, want %d", n, len(all))
	}
}

func testTicketListErrors(t *testing.T, open Factory) {
	e := newEnv(t, open)
	sortFixture(e, 3)
	_, err := e.s.ListTickets(e.ctx, domain.TicketFilter{Sort: "title"})
	wantCode(t, err, domain.CodeInvalid, "sort")
	_, err = e.s.ListTickets(e.ctx, domain.TicketFilter{Cursor: "garbage!"})
	wantCode(t, err, domain.CodeInvalid, "cursor")
	page := must[domain.Page[domain.Ticket]](t)(e.s.ListTickets(e.ctx, domain.TicketFilter{Sort: "due_date", Limit: 1}))
	if page.NextCursor == "" {
		t.Fatal("no next cursor on a partial page")
	}
	_, err = e.s.ListTickets(e.ctx, domain.TicketFilter{Sort: "priority", Cursor: page.NextCursor})
	wantCode(t, err, domain.CodeInvalid, "cursor")
	_, err = e.s.ListTickets(e.ctx, domain.TicketFilter{Status: []domain.Status{"bogus"}})
	wantCode(t, err, domain.CodeInvalid, "status")
	_, err = e.s.ListTickets(e.ctx, domain.TicketFilter{Priority: []domain.Priority{"urgent"}})
	wantCode(t, err, domain.CodeInvalid, "priority")
	// The cursor is opaque text that survives a URL query unescaped.
	if strings.ContainsAny(page.NextCursor, "+/=&?# ") {
		t.Errorf("cursor %q is not URL-safe", page.NextCursor)
	}
	var v any
	if json.Unmarshal([]byte(page.NextCursor), &v) == nil {
		t.Errorf("cursor %q is raw JSON, want it encoded", page.NextCursor)
	}
}
