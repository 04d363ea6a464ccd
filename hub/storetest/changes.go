package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	gocmp "github.com/google/go-cmp/cmp"
)

func testAssign(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	a := e.team("Alpha", "north")
	b := e.team("Bravo", "north")
	t1 := e.ticket("one", "north", domain.PriorityHigh)
	t2 := e.ticket("two", "north", domain.PriorityLow)

	e.clock.Set(T0.Add(time.Hour))
	seq := e.lastSeq()
	got := must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{t2.ID, t1.ID}, a.ID, "manual"))
	if diff := gocmp.Diff([]string{t2.ID, t1.ID}, ids(got)); diff != "" {
		t.Fatalf("assigned tickets order (-want +got):\n%s", diff)
	}
	for i, orig := range []domain.Ticket{t2, t1} {
		want := orig
		want.Status, want.AssignedTeam, want.AssignedAt, want.UpdatedAt = domain.StatusAssigned, &a.ID, ptr(T0.Add(time.Hour)), T0.Add(time.Hour)
		if diff := gocmp.Diff(want, got[i], cmpOpts...); diff != "" {
			t.Errorf("assigned %s (-want +got):\n%s", orig.Number, diff)
		}
		if diff := gocmp.Diff(got[i], must[domain.Ticket](t)(e.s.GetTicket(e.ctx, orig.ID)), cmpOpts...); diff != "" {
			t.Errorf("get assigned %s (-want +got):\n%s", orig.Number, diff)
		}
	}
	chs := e.changesAfter(seq)
	if len(chs) != 2 || chs[0].EntityID != t2.ID || chs[1].EntityID != t1.ID || chs[0].Seq != seq+1 || chs[1].Seq != seq+2 {
		t.Fatalf("assign changes = %+v, want one per ticket in order", chs)
	}
	if string(chs[0].Patch["assigned_team"]) != `"`+a.ID+`"` || string(chs[0].Patch["status"]) != `"assigned"` {
		t.Errorf("assign patch = %v", chs[0].Patch)
	}
	if got := must[domain.Team](t)(e.s.GetTeam(e.ctx, a.ID)); got.ActiveTickets != 2 {
		t.Errorf("team active tickets = %d, want 2", got.ActiveTickets)
	}

	// Assigning again to the same team changes nothing; reassigning keeps the work status.
	seq = e.lastSeq()
	must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{t1.ID}, a.ID, "manual"))
	e.noChange(seq)
	e.clock.Set(T0.Add(2 * time.Hour))
	e.transition(t1.ID, domain.StatusInProgress)
	e.clock.Set(T0.Add(3 * time.Hour))
	seq = e.lastSeq()
	re := must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{t1.ID}, b.ID, "auto"))
	if re[0].Status != domain.StatusInProgress || *re[0].AssignedTeam != b.ID || !re[0].AssignedAt.Equal(T0.Add(3*time.Hour)) {
		t.Errorf("reassigned ticket = %+v", re[0])
	}
	e.oneChange(seq, domain.EntityTicket, t1.ID, domain.OpUpsert)
	if got := must[domain.Team](t)(e.s.GetTeam(e.ctx, a.ID)); got.ActiveTickets != 1 {
		t.Errorf("old team active tickets = %d, want 1", got.ActiveTickets)
	}
	// A duplicated id in one call is assigned once.
	t3 := e.ticket("three", "north", domain.PriorityLow)
	seq = e.lastSeq()
	dup := must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{t3.ID, t3.ID}, b.ID, "manual"))
	if len(dup) != 2 || dup[0].ID != t3.ID || dup[1].ID != t3.ID {
		t.Errorf("duplicate ids returned %v", ids(dup))
	}
	e.oneChange(seq, domain.EntityTicket, t3.ID, domain.OpUpsert)
	// The actor and origin come from the principal in ctx.
	seq = e.lastSeq()
	t4 := e.ticket("four", "north", domain.PriorityLow)
	ctx := domain.WithPrincipal(e.ctx, domain.Principal{Username: "dispatch1", Role: domain.RoleDispatcher})
	must[[]domain.Ticket](t)(e.s.AssignTickets(ctx, []string{t4.ID}, a.ID, "manual"))
	if chs := e.changesAfter(seq + 1); len(chs) != 1 || chs[0].Actor != "dispatch1" || chs[0].Origin != domain.HubOrigin {
		t.Errorf("assign by a dispatcher logged %+v", chs)
	}
}

func testAssignAtomic(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	a := e.team("Alpha", "north")
	idle := e.team("Idle", "north")
	must[domain.Team](t)(e.s.UpdateTeam(e.ctx, idle.ID, func(tm domain.Team) (domain.Team, error) {
		tm.IsActive = false
		return tm, nil
	}))
	t1 := e.ticket("one", "north", domain.PriorityHigh)
	t2 := e.ticket("two", "north", domain.PriorityLow)
	done := e.ticket("done", "north", domain.PriorityLow)
	e.transition(done.ID, domain.StatusCancelled)
	before := map[string]domain.Ticket{}
	for _, tk := range []domain.Ticket{t1, t2, done} {
		before[tk.ID] = must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID))
	}
	seq := e.lastSeq()
	for _, tc := range []struct {
		name   string
		ids    []string
		team   string
		method string
		code   domain.Code
		field  string
	}{
		{"unknown ticket last", []string{t1.ID, t2.ID, "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, a.ID, "manual", domain.CodeInvalid, "ticket_ids"},
		{"unknown ticket first", []string{"01ARZ3NDEKTSV4RRFFQ69G5FAV", t1.ID}, a.ID, "manual", domain.CodeInvalid, "ticket_ids"},
		{"done ticket", []string{t1.ID, done.ID, t2.ID}, a.ID, "manual", domain.CodeConflict, ""},
		{"unknown team", []string{t1.ID}, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "manual", domain.CodeInvalid, "team_id"},
		{"inactive team", []string{t1.ID}, idle.ID, "manual", domain.CodeInvalid, "team_id"},
		{"no team", []string{t1.ID}, "", "manual", domain.CodeInvalid, "team_id"},
		{"no tickets", nil, a.ID, "manual", domain.CodeInvalid, "ticket_ids"},
		{"bad method", []string{t1.ID}, a.ID, "magic", domain.CodeInvalid, "method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.AssignTickets(e.ctx, tc.ids, tc.team, tc.method)
			wantCode(t, err, tc.code, tc.field)
			for id, want := range before {
				if diff := gocmp.Diff(want, must[domain.Ticket](t)(e.s.GetTicket(e.ctx, id)), cmpOpts...); diff != "" {
					t.Errorf("ticket %s changed by a failed assign (-want +got):\n%s", want.Number, diff)
				}
			}
			e.noChange(seq)
			if got := must[domain.Team](t)(e.s.GetTeam(e.ctx, a.ID)); got.ActiveTickets != 0 {
				t.Errorf("team has %d active tickets after a failed assign", got.ActiveTickets)
			}
		})
	}
}

func testChangeLog(t *testing.T, open Factory) {
	e := newEnv(t, open)
	if n := e.lastSeq(); n != 0 {
		t.Fatalf("empty store last seq = %d, want 0", n)
	}
	if chs := must[[]domain.Change](t)(e.s.ListChanges(e.ctx, 0, nil, 10)); len(chs) != 0 {
		t.Fatalf("empty store has changes %v", chs)
	}
	// A fixed sequence of writes, each expected to log exactly one change (or none).
	e.zone("north")
	team := e.team("Alpha", "north")
	ctx := domain.WithPrincipal(e.ctx, domain.Principal{Node: "edge-7", Zones: []string{"north"}})
	tk, err := e.s.CreateTicket(ctx, domain.Ticket{Title: "from edge", Category: "other", Priority: domain.PriorityLow, Zone: "north", DueDate: T0})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{tk.ID}, team.ID, "manual"))
	e.clock.Advance(time.Minute)
	e.transition(tk.ID, domain.StatusInProgress)
	e.transition(tk.ID, domain.StatusInProgress) // no-op
	must[domain.Team](t)(e.s.UpdateTeam(e.ctx, team.ID, func(tm domain.Team) (domain.Team, error) { return tm, nil }))
	u := must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "f1", Role: domain.RoleField, TeamID: &team.ID, IsActive: true, PasswordHash: "h"}))
	other := e.ticket("other", "north", domain.PriorityLow)
	e.clock.Advance(time.Minute)
	if err := e.s.DeleteTicket(e.ctx, other.ID); err != nil {
		t.Fatal(err)
	}

	type row struct {
		Seq    int64
		Entity domain.Entity
		ID     string
		Op     domain.Op
		Origin string
		Actor  string
		Zone   string
	}
	want := []row{
		{1, domain.EntityZone, "", domain.OpUpsert, "hub", "system", "north"},
		{2, domain.EntityTeam, team.ID, domain.OpUpsert, "hub", "system", "north"},
		{3, domain.EntityTicket, tk.ID, domain.OpUpsert, "edge-7", "node:edge-7", "north"},
		{4, domain.EntityTicket, tk.ID, domain.OpUpsert, "hub", "system", "north"},
		{5, domain.EntityTicket, tk.ID, domain.OpUpsert, "hub", "system", "north"},
		{6, domain.EntityUser, u.ID, domain.OpUpsert, "hub", "system", "north"},
		{7, domain.EntityTicket, other.ID, domain.OpUpsert, "hub", "system", "north"},
		{8, domain.EntityTicket, other.ID, domain.OpDelete, "hub", "system", "north"},
	}
	all := e.changesAfter(0)
	var got []row
	for _, ch := range all {
		r := row{ch.Seq, ch.Entity, ch.EntityID, ch.Op, ch.Origin, ch.Actor, ch.Zone}
		if ch.Entity == domain.EntityZone {
			r.ID = ""
		}
		got = append(got, r)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Fatalf("change log (-want +got):\n%s", diff)
	}
	if n := e.lastSeq(); n != 8 {
		t.Errorf("last seq = %d, want 8", n)
	}
	// IDs are unique ULIDs; At is the store clock; patches are non-empty.
	seen := map[string]bool{}
	for _, ch := range all {
		if !domain.ValidID(ch.ID) || seen[ch.ID] {
			t.Errorf("change %d id %q not a fresh ulid", ch.Seq, ch.ID)
		}
		seen[ch.ID] = true
		if len(ch.Patch) == 0 {
			t.Errorf("change %d has an empty patch", ch.Seq)
		}
	}
	if !all[0].At.Equal(T0) || !all[7].At.Equal(T0.Add(3*time.Minute)) {
		t.Errorf("change times %v … %v, want %v … %v", all[0].At, all[7].At, T0, T0.Add(3*time.Minute))
	}
	// Reading from a cursor, with a limit.
	page := must[[]domain.Change](t)(e.s.ListChanges(e.ctx, 3, nil, 2))
	if len(page) != 2 || page[0].Seq != 4 || page[1].Seq != 5 {
		t.Errorf("ListChanges(after 3, limit 2) = %v", page)
	}
	if diff := gocmp.Diff(all[3:5], page, cmpOpts...); diff != "" {
		t.Errorf("changes read twice differ (-want +got):\n%s", diff)
	}
	if rest := must[[]domain.Change](t)(e.s.ListChanges(e.ctx, 8, nil, 10)); len(rest) != 0 {
		t.Errorf("changes after the last = %v", rest)
	}
}

func testChangeLogZones(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	e.zone("south")
	e.zone("east")
	n1 := e.ticket("n1", "north", domain.PriorityLow)
	s1 := e.ticket("s1", "south", domain.PriorityLow)
	e.ticket("e1", "east", domain.PriorityLow)
	must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "admin", Role: domain.RoleAdmin, IsActive: true, PasswordHash: "h"}))
	// Moving a ticket to another zone logs the change under the new zone.
	e.update(n1.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		t.Zone = "south"
		return t, nil
	})
	e.update(s1.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		t.Title = "s1 again"
		return t, nil
	})
	got := must[[]domain.Change](t)(e.s.ListChanges(e.ctx, 0, []string{"south", "north"}, 100))
	var desc []string
	for _, ch := range got {
		desc = append(desc, fmt.Sprintf("%d %s %s", ch.Seq, ch.Entity, ch.Zone))
	}
	want := []string{"1 zone north", "2 zone south", "4 ticket north", "5 ticket south", "8 ticket south", "9 ticket south"}
	if diff := gocmp.Diff(want, desc); diff != "" {
		t.Errorf("changes in north and south (-want +got):\n%s", diff)
	}
	got = must[[]domain.Change](t)(e.s.ListChanges(e.ctx, 4, []string{"south"}, 2))
	if len(got) != 2 || got[0].Seq != 5 || got[1].Seq != 8 {
		t.Errorf("south after 4 limit 2 = %v", got)
	}
}

func testConcurrentWriters(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	const workers, updates = 8, 25
	tickets := make([]domain.Ticket, workers)
	for i := range tickets {
		tickets[i] = e.ticket(fmt.Sprintf("w%d", i), "north", domain.PriorityLow)
	}
	shared := e.ticket("shared", "north", domain.PriorityLow)
	base := e.lastSeq()
	var wg sync.WaitGroup
	errs := make(chan error, workers*updates*2)
	for w := range workers {
		wg.Go(func() {
			for i := range updates {
				_, err := e.s.UpdateTicket(e.ctx, tickets[w].ID, func(t domain.Ticket) (domain.Ticket, error) {
					t.Title = fmt.Sprintf("w%d-%d", w, i)
					return t, nil
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d update %d: %w", w, i, err)
				}
				// Everyone also appends to one shared ticket: a read-modify-write that loses
				// nothing only if updates are serialized.
				_, err = e.s.UpdateTicket(e.ctx, shared.ID, func(t domain.Ticket) (domain.Ticket, error) {
					t.Description += "x"
					return t, nil
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d shared update %d: %w", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const total = workers * updates * 2
	if n := e.lastSeq(); n != base+total {
		t.Fatalf("last seq = %d, want %d", n, base+total)
	}
	chs := e.changesAfter(base)
	if len(chs) != total {
		t.Fatalf("got %d changes, want %d", len(chs), total)
	}
	perTicket := map[string]int{}
	for i, ch := range chs {
		if ch.Seq != base+int64(i)+1 {
			t.Fatalf("change %d has seq %d, want %d (gap or disorder)", i, ch.Seq, base+int64(i)+1)
		}
		perTicket[ch.EntityID]++
	}
	for w, tk := range tickets {
		if perTicket[tk.ID] != updates {
			t.Errorf("worker %d ticket has %d changes, want %d", w, perTicket[tk.ID], updates)
		}
		if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Title != fmt.Sprintf("w%d-%d", w, updates-1) {
			t.Errorf("worker %d final title %q", w, got.Title)
		}
	}
	got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, shared.ID))
	if want := shared.Description + string(slices.Repeat([]byte("x"), workers*updates)); got.Description != want {
		t.Errorf("shared description has %d x's, want %d (lost update)", len(got.Description)-len(shared.Description), workers*updates)
	}
}

func testConcurrentCreates(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	const workers, each = 4, 10
	var (
		mu      sync.Mutex
		numbers []string
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				tk, err := e.s.CreateTicket(e.ctx, domain.Ticket{Title: fmt.Sprintf("c%d-%d", w, i), Category: "other",
					Priority: domain.PriorityLow, Zone: "north", DueDate: T0})
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				mu.Lock()
				numbers = append(numbers, tk.Number)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(numbers)
	var want []string
	for i := 1; i <= workers*each; i++ {
		want = append(want, domain.TicketNumber(int64(i)))
	}
	if diff := gocmp.Diff(want, numbers); diff != "" {
		t.Errorf("ticket numbers (-want +got):\n%s", diff)
	}
	if n := e.lastSeq(); n != 1+workers*each {
		t.Errorf("last seq = %d, want %d", n, 1+workers*each)
	}
}
