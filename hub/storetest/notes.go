package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// note makes a note on tk through the store, failing the test on error.
func (e *env) note(tk domain.Ticket, author, body string) domain.Note {
	e.t.Helper()
	n, err := domain.NewNote(tk, author, domain.NoteInput{Body: body}, e.clock.Now())
	if err != nil {
		e.t.Fatalf("new note: %v", err)
	}
	n, err = e.s.CreateNote(e.ctx, n)
	if err != nil {
		e.t.Fatalf("create note: %v", err)
	}
	return n
}

func (e *env) notes(ticketID string) []domain.Note {
	e.t.Helper()
	ns, err := e.s.ListNotes(e.ctx, ticketID)
	if err != nil {
		e.t.Fatalf("list notes of %s: %v", ticketID, err)
	}
	return ns
}

func bodies(ns []domain.Note) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Zone+" "+n.Author+": "+n.Body)
	}
	return out
}

// testNotes: notes are created on live tickets only, take the ticket's zone, list oldest
// first, log one change each, and follow their ticket when an API write moves it.
func testNotes(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	e.zone("south")
	tk := e.ticket("pole down", "north", domain.PriorityHigh)
	other := e.ticket("other", "north", domain.PriorityLow)

	head := e.lastSeq()
	n1 := e.note(tk, "ana", "  replaced fuse, customer not home ")
	ch := e.oneChange(head, domain.EntityNote, n1.ID, domain.OpUpsert)
	if ch.Zone != "north" || string(ch.Patch["body"]) != `"replaced fuse, customer not home"` || string(ch.Patch["ticket_id"]) != `"`+tk.ID+`"` {
		t.Errorf("note change: zone %q patch %s", ch.Zone, ch.Patch)
	}
	if n1.Zone != "north" || n1.Author != "ana" || !n1.CreatedAt.Equal(T0) {
		t.Errorf("created note: %+v", n1)
	}
	e.clock.Advance(time.Minute)
	// The zone is always the ticket's, whatever the caller says; the author defaults to the actor.
	n2, err := e.s.CreateNote(e.ctx, domain.Note{TicketID: tk.ID, Zone: "south", Body: "back tomorrow"})
	if err != nil {
		t.Fatalf("create note: %v", err)
	}
	if n2.Zone != "north" || n2.Author != "system" || !domain.ValidID(n2.ID) {
		t.Errorf("second note: %+v", n2)
	}
	e.note(other, "bo", "not this ticket")
	if diff := gocmp.Diff([]string{"north ana: replaced fuse, customer not home", "north system: back tomorrow"}, bodies(e.notes(tk.ID))); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if got := e.notes(tk.ID); !gocmp.Equal(got[0], n1) {
		t.Errorf("listed note differs from the created one:\n%s", gocmp.Diff(n1, got[0]))
	}

	head = e.lastSeq()
	for _, tc := range []struct {
		name  string
		n     domain.Note
		code  domain.Code
		field string
	}{
		{"unknown ticket", domain.Note{TicketID: domain.NewID(T0), Body: "x"}, domain.CodeNotFound, ""},
		{"blank body", domain.Note{TicketID: tk.ID, Body: "  "}, domain.CodeInvalid, "body"},
		{"long body", domain.Note{TicketID: tk.ID, Body: strings.Repeat("a", domain.NoteMaxBody+1)}, domain.CodeInvalid, "body"},
		{"bad id", domain.Note{ID: "x", TicketID: tk.ID, Body: "x"}, domain.CodeInvalid, "id"},
		{"taken id", domain.Note{ID: n1.ID, TicketID: tk.ID, Body: "x"}, domain.CodeConflict, ""},
	} {
		_, err := e.s.CreateNote(e.ctx, tc.n)
		if domain.ErrorCode(err) != tc.code || tc.field != "" && domain.ErrorField(err) != tc.field {
			t.Errorf("%s: err = %v, want %s %s", tc.name, err, tc.code, tc.field)
		}
	}
	if _, err := e.s.ListNotes(e.ctx, domain.NewID(T0)); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("notes of an unknown ticket: err = %v, want not_found", err)
	}
	e.noChange(head)

	// Moving the ticket moves its notes, one logged change each, after the ticket's.
	e.clock.Advance(time.Minute)
	e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		return domain.TicketPatch{Zone: domain.Some("south")}.Apply(t, at)
	})
	chs := e.changesAfter(head)
	var got []string
	for _, c := range chs {
		got = append(got, string(c.Entity)+" "+c.EntityID+" "+c.Zone+" "+strings.Join(slices.Sorted(mapKeys(c.Patch)), ","))
	}
	want := []string{"ticket " + tk.ID + " south updated_at,zone", "note " + n1.ID + " south zone", "note " + n2.ID + " south zone"}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("changes of the move (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"south ana: replaced fuse, customer not home", "south system: back tomorrow"}, bodies(e.notes(tk.ID))); diff != "" {
		t.Errorf("notes after the move (-want +got):\n%s", diff)
	}
	// A deleted ticket has no notes to show and takes none.
	if err := e.s.DeleteTicket(e.ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ListNotes(e.ctx, tk.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("notes of a deleted ticket: err = %v, want not_found", err)
	}
	if _, err := e.s.CreateNote(e.ctx, domain.Note{TicketID: tk.ID, Body: "late"}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("note on a deleted ticket: err = %v, want not_found", err)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// noteChange is the create change an edge makes for a note on ticket in zone.
func (e *syncEnv) noteChange(ticketID, zone, body string) domain.Change {
	e.t.Helper()
	n := domain.Note{ID: domain.NewID(e.clock.Now()), TicketID: ticketID, Zone: zone, Author: "tech.ana", Body: body,
		CreatedAt: e.clock.Now().UTC(), UpdatedAt: e.clock.Now().UTC()}
	c := e.change(domain.EntityNote, n.ID, domain.OpUpsert, nil)
	patch, err := domain.Diff(nil, n)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Patch, c.Zone = patch, zone
	return c
}

// testPushNotes: notes pushed by edges are stored and logged; concurrent notes on one ticket
// from two edges both survive; notes on tickets outside the caller's zones are refused like
// any scope violation, notes on unknown or deleted tickets rejected; a note made before its
// ticket moved is moved after it, and a ticket moved by a push takes its notes along (exits
// for the old zone, row histories for the new one).
func testPushNotes(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	e.zone("south")
	e.zone("east")
	tk := e.ticket("pole down", "north", domain.PriorityHigh)
	far := e.ticket("far", "south", domain.PriorityLow)
	gone := e.ticket("gone", "north", domain.PriorityLow)
	if err := e.s.DeleteTicket(e.ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	// Two edges of zone north write a note on one ticket without seeing each other's.
	a := e.noteChange(tk.ID, "north", "replaced fuse")
	bp := domain.Principal{Node: "edge-b", Zones: []string{"north"}}
	e.edge.Node = "edge-b"
	b := e.noteChange(tk.ID, "north", "customer not home")
	e.edge.Node = "edge-n"
	if r := e.push(e.p, a); r.Results[0].Status != wire.Accepted {
		t.Fatalf("push note a: %+v", r.Results[0])
	}
	if r := e.push(bp, b); r.Results[0].Status != wire.Accepted {
		t.Fatalf("push note b: %+v", r.Results[0])
	}
	if diff := gocmp.Diff([]string{"north tech.ana: replaced fuse", "north tech.ana: customer not home"}, bodies(e.notes(tk.ID))); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if r := e.push(e.p, a); r.Results[0].Status != wire.Duplicate {
		t.Errorf("re-push: %+v", r.Results[0])
	}

	head := e.lastSeq()
	for name, c := range map[string]domain.Change{
		"note on a ticket in another zone":    e.noteChange(far.ID, "north", "x"),
		"note declaring another zone":         e.noteChange(tk.ID, "south", "x"),
		"note moved out of scope":             e.change(domain.EntityNote, a.EntityID, domain.OpUpsert, map[string]any{"zone": "south"}),
		"edit of a note on a far ticket":      e.change(domain.EntityNote, a.EntityID, domain.OpUpsert, map[string]any{"body": "y"}),
		"field user note on another's ticket": e.noteChange(tk.ID, "north", "x"),
	} {
		p := e.p
		switch name {
		case "edit of a note on a far ticket":
			p = domain.Principal{Node: "edge-s", Zones: []string{"south"}}
		case "field user note on another's ticket":
			tm := e.team("A", "north")
			p = domain.Principal{UserID: "u1", Username: "tech", Role: domain.RoleField, TeamID: tm.ID}
		}
		if _, err := e.ss.PushChanges(e.ctx, p, []domain.Change{c}); domain.ErrorCode(err) != domain.CodeForbidden {
			t.Errorf("%s: err = %v, want forbidden", name, err)
		}
	}
	head = e.lastSeq()
	r := e.push(e.p, e.noteChange(domain.NewID(T0), "north", "x"), e.noteChange(gone.ID, "north", "x"), e.noteChange(tk.ID, "north", " "),
		e.change(domain.EntityNote, a.EntityID, domain.OpUpsert, map[string]any{"ticket_id": gone.ID}))
	if diff := gocmp.Diff([]string{"rejected:invalid", "rejected:invalid", "rejected:invalid", "rejected:invalid"}, statuses(r.Results)); diff != "" {
		t.Errorf("bad notes (-want +got):\n%s", diff)
	}
	e.noChange(head)

	// An edge holding north and east writes a note while the hub moves the ticket to east: the
	// note is accepted and then moved to east by the hub.
	both := domain.Principal{Node: "edge-ne", Zones: []string{"north", "east"}}
	e.edge.Node = "edge-ne"
	late := e.noteChange(tk.ID, "north", "written before the move")
	e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		return domain.TicketPatch{Zone: domain.Some("east")}.Apply(t, at)
	})
	head = e.lastSeq()
	if r := e.push(both, late); r.Results[0].Status != wire.Accepted {
		t.Fatalf("push late note: %+v", r.Results[0])
	}
	chs := e.changesAfter(head)
	if len(chs) != 2 || chs[0].ID != late.ID || chs[0].Zone != "north" || chs[1].EntityID != late.EntityID ||
		chs[1].Origin != domain.HubOrigin || chs[1].Zone != "east" || string(chs[1].Patch["zone"]) != `"east"` {
		t.Fatalf("late note changes: %+v", chs)
	}
	if diff := gocmp.Diff([]string{"east tech.ana: replaced fuse", "east tech.ana: customer not home", "east tech.ana: written before the move"},
		bodies(e.notes(tk.ID))); diff != "" {
		t.Errorf("notes after the late note (-want +got):\n%s", diff)
	}

	// The same edge moves the ticket back to north by a push: its three notes follow.
	e.clock.Advance(time.Minute)
	head = e.lastSeq()
	mv := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"zone": "north"})
	if r := e.push(both, mv); r.Results[0].Status != wire.Accepted {
		t.Fatalf("push move: %+v", r.Results[0])
	}
	chs = e.changesAfter(head)
	var got []string
	for _, c := range chs {
		got = append(got, string(c.Entity)+" "+c.Origin+" "+c.Zone)
	}
	if diff := gocmp.Diff([]string{"ticket edge-ne north", "note hub north", "note hub north", "note hub north"}, got); diff != "" {
		t.Errorf("changes of the pushed move (-want +got):\n%s", diff)
	}
	for _, n := range e.notes(tk.ID) {
		if n.Zone != "north" {
			t.Errorf("note %s in zone %q after the move, want north", n.ID, n.Zone)
		}
		checkNoteMaterialized(t, e, n)
	}
	// Replicas of east see the notes leave (exits); replicas of north get their histories.
	if ss, ok := e.ss.(syncstore.ScopeStore); ok {
		east, err := ss.ListScopeChanges(e.ctx, head, []string{"east"}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(east) != 4 {
			t.Errorf("east sees %d changes of the move, want the 4 exits", len(east))
		}
		h, err := ss.RowHistory(e.ctx, []string{"north"}, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		notes := 0
		for _, r := range h.Rows {
			if r.Entity == domain.EntityNote {
				notes++
			}
		}
		if notes != 3 {
			t.Errorf("north row history has %d notes, want 3", notes)
		}
	}
	snap, err := e.ss.Snapshot(e.ctx, []string{"north"})
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, r := range snap.Rows {
		if r.Entity == domain.EntityNote {
			notes++
		}
	}
	if notes != 3 {
		t.Errorf("north snapshot has %d notes, want 3", notes)
	}

	// A field user may add a note to a ticket of its team.
	tm := e.team("B", "north")
	must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{tk.ID}, tm.ID, "manual"))
	field := domain.Principal{UserID: "u2", Username: "tech.bo", Role: domain.RoleField, TeamID: tm.ID}
	e.edge.Node = "device-2"
	if r := e.push(field, e.noteChange(tk.ID, "north", "from the phone")); r.Results[0].Status != wire.Accepted {
		t.Errorf("field user note: %+v", r.Results[0])
	}
	if n := len(e.notes(tk.ID)); n != 4 {
		t.Errorf("%d notes, want 4", n)
	}
}

// checkNoteMaterialized requires the stored note to hold what merge.Replay of its log gives.
func checkNoteMaterialized(t *testing.T, e *syncEnv, n domain.Note) {
	t.Helper()
	row, err := merge.Replay(e.rowChanges(domain.EntityNote, n.ID))
	if err != nil {
		t.Fatalf("replay note %s: %v", n.ID, err)
	}
	fields := map[string]json.RawMessage{}
	for f, v := range row.Fields {
		fields[f] = v.Value
	}
	b, _ := json.Marshal(fields)
	var got domain.Note
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("decode replayed note: %v", err)
	}
	if diff := gocmp.Diff(n, got); diff != "" {
		t.Errorf("note %s: stored vs replay of the log (-stored +replay):\n%s", n.ID, diff)
	}
}
