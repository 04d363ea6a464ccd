package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// SyncStore is a hub store with its sync side.
type SyncStore interface {
	domain.Store
	syncstore.Store
}

// SyncFactory opens a fresh, empty store whose Now is now and whose hub clock reads its wall
// time from now too (so skew tests control it), with the default max skew of one minute.
type SyncFactory func(t *testing.T, now func() time.Time) SyncStore

// RunSync runs the sync conformance suite: push (idempotence, atomicity, scope, rejections,
// clamping, conflicts, ticket numbering, gap-free order under concurrency), snapshots,
// conflicts and edge credentials. Every subtest opens its own store.
func RunSync(t *testing.T, open SyncFactory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open SyncFactory)
	}{
		{"PushCreateAndNumber", testPushCreate},
		{"PushNumbersBatch", testPushNumbersBatch},
		{"PushIdempotent", testPushIdempotent},
		{"PushScope", testPushScope},
		{"PushFieldUser", testPushFieldUser},
		{"PushNotes", testPushNotes},
		{"PushRejections", testPushRejections},
		{"RefusalWithdrawnWhenAccepted", testRefusalWithdrawnWhenAccepted},
		{"PushAtomic", testPushAtomic},
		{"PushMergeEqualsReplay", testPushMerge},
		{"PushSkew", testPushSkew},
		{"PushConcurrentGapFree", testPushConcurrent},
		{"APIChangesStamped", testAPIStamped},
		{"Snapshot", testSnapshot},
		{"Conflicts", testConflicts},
		{"EdgeCredentials", testEdgeCredentials},
		{"Compact", testCompact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// syncEnv is a store, its clock and an edge that writes changes with its own HLC.
type syncEnv struct {
	*env
	ss   SyncStore
	edge *hlc.Clock
	p    domain.Principal // the edge's principal
}

func newSyncEnv(t *testing.T, open SyncFactory) *syncEnv {
	t.Helper()
	clock := NewClock(T0)
	s := open(t, clock.Now)
	e := &syncEnv{env: &env{t: t, s: s, clock: clock, ctx: context.Background()}, ss: s}
	e.edge = &hlc.Clock{Node: "edge-n", Wall: clock.Now}
	e.p = domain.Principal{Node: "edge-n", Zones: []string{"north"}}
	return e
}

// change makes an edge change of entity/id with patch values given as Go values.
func (e *syncEnv) change(entity domain.Entity, id string, op domain.Op, fields map[string]any) domain.Change {
	e.t.Helper()
	// The edge has pulled everything logged so far: its clock is past every logged clock.
	for _, ch := range e.changesAfter(0) {
		if ts, err := hlc.Parse(ch.HLC); err == nil {
			e.edge.Observe(ts)
		}
	}
	c := domain.Change{ID: domain.NewID(e.clock.Now()), Origin: e.edge.Node, Actor: "tech.ana", Entity: entity,
		EntityID: id, Op: op, At: e.clock.Now(), HLC: e.edge.Now().String()}
	if op == domain.OpUpsert {
		c.Patch = map[string]json.RawMessage{}
		for k, v := range fields {
			b, err := json.Marshal(v)
			if err != nil {
				e.t.Fatal(err)
			}
			c.Patch[k] = b
		}
	}
	return c
}

// newTicketChange is the create change an edge makes for a new ticket in zone.
func (e *syncEnv) newTicketChange(title, zone string) domain.Change {
	e.t.Helper()
	t, err := domain.NewTicket(domain.NewTicketInput{Title: title, Zone: zone, Priority: domain.PriorityHigh,
		Skills: []string{"electric"}}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	t.ID = domain.NewID(e.clock.Now())
	patch, err := domain.Diff(nil, t)
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.change(domain.EntityTicket, t.ID, domain.OpUpsert, nil)
	c.Patch, c.Zone = patch, zone
	return c
}

func (e *syncEnv) push(p domain.Principal, cs ...domain.Change) wire.PushResponse {
	e.t.Helper()
	resp, err := e.ss.PushChanges(e.ctx, p, cs)
	if err != nil {
		e.t.Fatalf("push: %v", err)
	}
	if len(resp.Results) != len(cs) {
		e.t.Fatalf("push: %d results for %d changes", len(resp.Results), len(cs))
	}
	return resp
}

func statuses(rs []wire.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Status)
		if r.Status == wire.Rejected {
			out[i] += ":" + string(r.Code)
		}
	}
	return out
}

// rowChanges returns the logged changes of one row.
func (e *syncEnv) rowChanges(entity domain.Entity, id string) []domain.Change {
	var out []domain.Change
	for _, c := range e.changesAfter(0) {
		if c.Entity == entity && c.EntityID == id {
			out = append(out, c)
		}
	}
	return out
}

// checkMaterialized requires the typed row to hold, in every field the log carries, the value
// merge.Replay of the row's logged changes computes.
func (e *syncEnv) checkMaterialized(entity domain.Entity, id string) merge.Row {
	e.t.Helper()
	row, err := merge.Replay(e.rowChanges(entity, id))
	if err != nil {
		e.t.Fatalf("replay %s %s: %v", entity, id, err)
	}
	var typed any
	switch entity {
	case domain.EntityTicket:
		typed, err = e.s.GetTicket(e.ctx, id)
	case domain.EntityTeam:
		typed, err = e.s.GetTeam(e.ctx, id)
	}
	if err != nil {
		e.t.Fatalf("get %s %s: %v", entity, id, err)
	}
	b, _ := json.Marshal(typed)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	for f, v := range row.Fields {
		if f == "active_tickets" || f == "updated_at" && entity == domain.EntityTeam {
			continue
		}
		want, _ := merge.Canonical(v.Value)
		gotRaw, ok := m[f]
		if !ok {
			gotRaw = json.RawMessage("null")
		}
		got, _ := merge.Canonical(gotRaw)
		if string(want) != string(got) {
			e.t.Errorf("%s %s field %s: typed row has %s, replay of the log gives %s", entity, id, f, got, want)
		}
	}
	return row
}

// testPushNumbersBatch: in a batch, every accepted create is numbered (in batch order, by
// hub changes after the batch's own), a rejected create takes no number, and the next batch
// continues the sequence without a gap.
func testPushNumbersBatch(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	head := e.lastSeq()
	a, b, c, d := e.newTicketChange("pole A", "north"), e.newTicketChange("pole B", "north"),
		e.newTicketChange("pole C", "north"), e.newTicketChange("pole D", "north")
	b.Patch["title"] = json.RawMessage(`""`) // rejected: a ticket needs a title
	e.clock.Advance(time.Second)
	editA := e.change(domain.EntityTicket, a.EntityID, domain.OpUpsert, map[string]any{"title": "pole A (2)"})
	delD := e.change(domain.EntityTicket, d.EntityID, domain.OpDelete, nil)
	resp := e.push(e.p, a, b, c, editA, d, delD)
	if diff := gocmp.Diff([]string{"accepted", "rejected:invalid", "accepted", "accepted", "accepted", "accepted"}, statuses(resp.Results)); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	ta := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, a.EntityID))
	tc := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, c.EntityID))
	na, nc := syncstore.TicketNumberValue(ta.Number), syncstore.TicketNumberValue(tc.Number)
	if na == 0 || nc != na+1 || ta.Title != "pole A (2)" {
		t.Fatalf("numbers %q and %q (title %q), want consecutive numbers and the edit kept", ta.Number, tc.Number, ta.Title)
	}
	chs := e.changesAfter(head)
	if len(chs) != 7 || chs[5].EntityID != a.EntityID || chs[6].EntityID != c.EntityID || chs[5].Origin != domain.HubOrigin {
		t.Fatalf("log after the batch: %d changes, want the 5 accepted then A's and C's numbering", len(chs))
	}
	e.checkMaterialized(domain.EntityTicket, a.EntityID)
	e.checkMaterialized(domain.EntityTicket, c.EntityID)
	next := e.newTicketChange("pole E", "north")
	e.push(e.p, next)
	// D, deleted in its own batch, has no numbering change (it would be a rejected write of
	// a deleted row); its typed row still takes a number, the one after C's.
	if n := syncstore.TicketNumberValue(must[domain.Ticket](t)(e.s.GetTicket(e.ctx, next.EntityID)).Number); n != nc+2 {
		t.Errorf("next batch's number %d, want %d (no number lost to the rejected create)", n, nc+2)
	}
}

func testPushCreate(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	head := e.lastSeq()
	c := e.newTicketChange("pole down", "north")
	resp := e.push(e.p, c)
	if diff := gocmp.Diff([]string{"accepted"}, statuses(resp.Results)); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	// The change and the hub's numbering change follow it, gap-free.
	if resp.Results[0].Seq != head+1 || resp.Cursor != head+2 {
		t.Fatalf("seq %d cursor %d, want %d and %d", resp.Results[0].Seq, resp.Cursor, head+1, head+2)
	}
	if _, err := hlc.Parse(resp.HLC); err != nil {
		t.Errorf("response hlc %q: %v", resp.HLC, err)
	}
	got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, c.EntityID))
	if got.Number == "" || got.Title != "pole down" || got.Zone != "north" {
		t.Fatalf("ticket after push = %+v", got)
	}
	chs := e.changesAfter(head)
	if len(chs) != 2 {
		t.Fatalf("logged %d changes, want 2", len(chs))
	}
	pushed, numbered := chs[0], chs[1]
	if pushed.ID != c.ID || pushed.Origin != "edge-n" || pushed.Actor != "tech.ana" || pushed.HLC != c.HLC || pushed.Zone != "north" {
		t.Errorf("logged change = %+v, want the pushed one as received", pushed)
	}
	if numbered.Origin != domain.HubOrigin || string(numbered.Patch["ticket_number"]) != `"`+got.Number+`"` || numbered.HLC <= c.HLC {
		t.Errorf("numbering change = %+v, want a later hub change setting %s", numbered, got.Number)
	}
	if numbered.Base["ticket_number"] != c.HLC {
		t.Errorf("numbering change base = %v, want the pushed change's clock", numbered.Base)
	}
	e.checkMaterialized(domain.EntityTicket, c.EntityID)
	// Later edits of the edge ticket go through merge onto the typed row.
	e.clock.Advance(time.Minute)
	up := e.change(domain.EntityTicket, c.EntityID, domain.OpUpsert, map[string]any{"title": "pole down (2)", "updated_at": e.clock.Now()})
	up.Base = map[string]string{"title": c.HLC, "updated_at": c.HLC, "status": numbered.HLC}
	if r := e.push(e.p, up); r.Results[0].Status != wire.Accepted {
		t.Fatalf("edit: %+v", r.Results[0])
	}
	if tk := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, c.EntityID)); tk.Title != "pole down (2)" || !tk.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("after edit ticket = %q updated %v", tk.Title, tk.UpdatedAt)
	}
	e.checkMaterialized(domain.EntityTicket, c.EntityID)
	// A delete tombstones it.
	del := e.change(domain.EntityTicket, c.EntityID, domain.OpDelete, nil)
	if r := e.push(e.p, del); r.Results[0].Status != wire.Accepted {
		t.Fatalf("delete: %+v", r.Results[0])
	}
	if _, err := e.s.GetTicket(e.ctx, c.EntityID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("deleted ticket: err = %v, want not found", err)
	}
}

func testPushIdempotent(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	batch := []domain.Change{e.newTicketChange("a", "north"), e.newTicketChange("b", "north")}
	first := e.push(e.p, batch...)
	head := e.lastSeq()
	again := e.push(e.p, batch...)
	for i, r := range again.Results {
		if r.Status != wire.Duplicate || r.Seq != first.Results[i].Seq {
			t.Errorf("re-push result %d = %+v, want duplicate at seq %d", i, r, first.Results[i].Seq)
		}
	}
	if again.Cursor != head {
		t.Errorf("re-push cursor = %d, want %d", again.Cursor, head)
	}
	e.noChange(head)
	// A batch mixing old and new changes stores only the new one.
	c := e.newTicketChange("c", "north")
	mixed := e.push(e.p, batch[1], c)
	if diff := gocmp.Diff([]string{"duplicate", "accepted"}, statuses(mixed.Results)); diff != "" {
		t.Errorf("mixed results (-want +got):\n%s", diff)
	}
}

func testPushScope(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	e.zone("south")
	south := e.ticket("south job", "south", domain.PriorityLow)
	north := e.ticket("north job", "north", domain.PriorityLow)
	head := e.lastSeq()
	ok := e.newTicketChange("fine", "north")
	cases := []struct {
		name  string
		p     domain.Principal
		batch []domain.Change
	}{
		{"create in another zone", e.p, []domain.Change{ok, e.newTicketChange("far", "south")}},
		{"edit a row in another zone", e.p, []domain.Change{ok, e.change(domain.EntityTicket, south.ID, domain.OpUpsert, map[string]any{"title": "x"})}},
		{"move a row out of scope", e.p, []domain.Change{e.change(domain.EntityTicket, north.ID, domain.OpUpsert, map[string]any{"zone": "south"})}},
		{"viewer", domain.Principal{Username: "v", Role: domain.RoleViewer}, []domain.Change{ok}},
		{"no principal", domain.Principal{}, []domain.Change{ok}},
	}
	for _, tc := range cases {
		_, err := e.ss.PushChanges(e.ctx, tc.p, tc.batch)
		if domain.ErrorCode(err) != domain.CodeForbidden {
			t.Errorf("%s: err = %v, want forbidden", tc.name, err)
		}
	}
	e.noChange(head)
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, north.ID)); got.Zone != "north" {
		t.Errorf("refused move changed the zone to %q", got.Zone)
	}
	// A dispatcher may push anywhere.
	r := e.push(domain.Principal{Username: "d", Role: domain.RoleDispatcher}, e.newTicketChange("far", "south"))
	if r.Results[0].Status != wire.Accepted {
		t.Errorf("dispatcher push: %+v", r.Results[0])
	}
}

func testPushFieldUser(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	mine, other := e.team("A", "north"), e.team("B", "north")
	tk := e.ticket("job", "north", domain.PriorityLow)
	must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{tk.ID}, mine.ID, "manual"))
	theirs := e.ticket("their job", "north", domain.PriorityLow)
	must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{theirs.ID}, other.ID, "manual"))
	field := domain.Principal{UserID: "u1", Username: "tech", Role: domain.RoleField, TeamID: mine.ID}
	e.edge.Node = "device-1"
	head := e.lastSeq()
	for name, c := range map[string]domain.Change{
		"other team's ticket": e.change(domain.EntityTicket, theirs.ID, domain.OpUpsert, map[string]any{"status": "in_progress"}),
		"title":               e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"title": "mine now"}),
		"status closed":       e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"status": "closed"}),
		"a team":              e.change(domain.EntityTeam, mine.ID, domain.OpUpsert, map[string]any{"capacity": 9}),
	} {
		if _, err := e.ss.PushChanges(e.ctx, field, []domain.Change{c}); domain.ErrorCode(err) != domain.CodeForbidden {
			t.Errorf("field user %s: err = %v, want forbidden", name, err)
		}
	}
	e.noChange(head)
	cur := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID))
	next, err := cur.Transition(domain.StatusInProgress, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	patch, _ := domain.Diff(cur, next)
	c := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, nil)
	c.Patch = patch
	if r := e.push(field, c); r.Results[0].Status != wire.Accepted {
		t.Fatalf("field user start: %+v", r.Results[0])
	}
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Status != domain.StatusInProgress || got.StartedAt == nil {
		t.Errorf("after field push: status %s started %v", got.Status, got.StartedAt)
	}
}

func testPushRejections(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	tk := e.ticket("job", "north", domain.PriorityLow)
	good := e.newTicketChange("good", "north")
	noTitle := e.newTicketChange("x", "north")
	noTitle.Patch["title"] = json.RawMessage(`""`)
	badTime := e.newTicketChange("y", "north")
	badTime.Patch["due_date"] = json.RawMessage(`"2025-03-11T01:00:00+01:00"`)
	badSkills := e.newTicketChange("z", "north")
	badSkills.Patch["skills"] = json.RawMessage(`["water","electric"]`)
	badTeam := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"assigned_team": domain.NewID(T0), "status": "assigned"})
	illegal := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"status": "closed"})
	number := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"ticket_number": "TKT-999999"})
	wrongType := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"title": 7})
	newUser := e.change(domain.EntityUser, domain.NewID(T0), domain.OpUpsert, map[string]any{"username": "x"})
	missing := e.change(domain.EntityTicket, domain.NewID(T0), domain.OpDelete, nil)
	head := e.lastSeq()
	resp := e.push(domain.Principal{Username: "d", Role: domain.RoleDispatcher}, noTitle, good, badTime, badSkills, badTeam, illegal, number, wrongType, newUser, missing)
	want := []string{"rejected:invalid", "accepted", "rejected:invalid", "rejected:invalid", "rejected:invalid",
		"rejected:conflict", "rejected:invalid", "rejected:invalid", "rejected:invalid", "rejected:not_found"}
	if diff := gocmp.Diff(want, statuses(resp.Results)); diff != "" {
		t.Fatalf("results (-want +got):\n%s\n%+v", diff, resp.Results)
	}
	for _, i := range []int{0, 2, 3} {
		if resp.Results[i].Error == "" {
			t.Errorf("result %d has no reason", i)
		}
	}
	if r := resp.Results[2].Error; !contains(r, "due_date") {
		t.Errorf("non-canonical time reason %q does not name due_date", r)
	}
	// Only the good change and its numbering were logged; the ticket is untouched.
	if got := e.lastSeq(); got != head+2 {
		t.Errorf("last seq = %d, want %d", got, head+2)
	}
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Status != domain.StatusOpen || got.AssignedTeam != nil || got.Number != tk.Number {
		t.Errorf("rejected changes altered the ticket: %+v", got)
	}
	// The status move refused for not fitting the ticket (a conflict, unlike the invalid
	// changes) is kept as a record a dispatcher can see and apply; sending it again adds none.
	e.push(domain.Principal{Username: "d", Role: domain.RoleDispatcher}, illegal)
	page := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{}))
	if len(page.Items) != 1 {
		t.Fatalf("conflict records after refusals: %+v, want one for the refused status move", page.Items)
	}
	c := page.Items[0]
	if c.Kind != merge.KindRefused || c.Field != "status" || string(c.Value) != `"closed"` || c.Change != illegal.ID ||
		c.EntityID != tk.ID || c.Zone != "north" || c.Seq != head+2 || c.ResolvedAt != nil {
		t.Errorf("refusal record = %+v", c)
	}
}

// testRefusalWithdrawnWhenAccepted: a status move the hub refuses (resolved straight from
// open) is recorded (kind refused); its answer is lost, the ticket moves on meanwhile, and
// the move, sent again, now fits (it loses last-writer-wins to the later status and changes
// nothing that needs a transition). The push that logs it withdraws the refusal record, so
// a dispatcher does not see a change as refused that is in the log.
func testRefusalWithdrawnWhenAccepted(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	tm := e.team("crew", "north")
	tk := e.ticket("job", "north", domain.PriorityLow)
	early := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"status": "resolved"})
	if got := statuses(e.push(e.p, early).Results); !slices.Equal(got, []string{"rejected:conflict"}) {
		t.Fatalf("resolved straight from open: %v, want rejected:conflict", got)
	}
	open1 := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{}))
	if len(open1.Items) != 1 || open1.Items[0].Kind != merge.KindRefused || open1.Items[0].ResolvedAt != nil {
		t.Fatalf("records after the refusal: %+v", open1.Items)
	}
	e.clock.Advance(time.Second)
	assign := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"status": "assigned", "assigned_team": tm.ID})
	if got := statuses(e.push(e.p, assign).Results); !slices.Equal(got, []string{"accepted"}) {
		t.Fatalf("assign: %v", got)
	}
	if got := statuses(e.push(e.p, early).Results); !slices.Equal(got, []string{"accepted"}) {
		t.Fatalf("the refused move sent again after the assignment: %v, want accepted", got)
	}
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Status != domain.StatusAssigned {
		t.Errorf("status %s, want assigned (the later write)", got.Status)
	}
	page := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{}))
	for _, c := range page.Items {
		if c.Kind == merge.KindRefused && c.Change == early.ID && (c.ResolvedAt == nil || c.Resolution != "withdrawn") {
			t.Errorf("refusal record of a change now in the log: %+v, want resolved withdrawn", c)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

// testPushAtomic induces a store failure in the middle of a batch (a user update that breaks
// the unique email index when written) and requires that nothing of the batch was stored.
func testPushAtomic(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	team := e.team("A", "north")
	must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "ann", Email: "ann@example.com", Role: domain.RoleField, TeamID: &team.ID, IsActive: true, PasswordHash: "h"}))
	bob := must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "bob", Email: "bob@example.com", Role: domain.RoleField, TeamID: &team.ID, IsActive: true, PasswordHash: "h"}))
	head := e.lastSeq()
	first := e.newTicketChange("first", "north")
	clash := e.change(domain.EntityUser, bob.ID, domain.OpUpsert, map[string]any{"email": "ann@example.com"})
	resp, err := e.ss.PushChanges(e.ctx, domain.Principal{Username: "d", Role: domain.RoleDispatcher}, []domain.Change{first, clash})
	if err == nil {
		t.Fatalf("push with a failing write succeeded: %+v", resp.Results)
	}
	e.noChange(head)
	if _, err := e.s.GetTicket(e.ctx, first.EntityID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("first change of the failed batch was stored: err = %v", err)
	}
	// The same batch without the clash goes through.
	if r := e.push(e.p, first); r.Results[0].Status != wire.Accepted {
		t.Errorf("retry: %+v", r.Results[0])
	}
}

// testPushMerge pushes concurrent and stale edits and requires the typed rows to equal
// merge.Replay of the log, with the lost writes recorded as conflicts.
func testPushMerge(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	tk := e.ticket("job", "north", domain.PriorityLow)
	seen := e.rowChanges(domain.EntityTicket, tk.ID)[0].HLC
	// The edge edits the title offline; meanwhile a dispatcher changes it on the hub.
	e.clock.Advance(time.Second)
	offline := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"title": "edge title", "description": "edge notes"})
	offline.Base = map[string]string{"title": seen, "description": seen, "status": seen}
	e.clock.Advance(time.Second)
	e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) { t.Title = "hub title"; return t, nil })
	resp := e.push(e.p, offline)
	if resp.Results[0].Status != wire.Accepted {
		t.Fatalf("stale push: %+v", resp.Results[0])
	}
	row := e.checkMaterialized(domain.EntityTicket, tk.ID)
	got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID))
	if got.Title != "hub title" || got.Description != "edge notes" {
		t.Errorf("merged ticket title %q description %q, want the later hub title and the edge's notes", got.Title, got.Description)
	}
	page := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{}))
	var kinds []string
	for _, c := range page.Items {
		kinds = append(kinds, fmt.Sprintf("%s %s %s %s", c.Field, c.Kind, c.Change, c.Zone))
	}
	wantKinds := []string{fmt.Sprintf("title concurrent %s north", offline.ID)}
	if diff := gocmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	if len(row.Conflicts) != 1 {
		t.Errorf("replay has %d conflicts, want 1", len(row.Conflicts))
	}
	// Resolved on the hub; an offline edit that had not seen it cannot reopen it.
	e.clock.Advance(time.Second)
	team := e.team("A", "north")
	must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{tk.ID}, team.ID, "manual"))
	e.transition(tk.ID, domain.StatusInProgress)
	e.transition(tk.ID, domain.StatusResolved)
	stale := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"status": "on_hold"})
	stale.HLC = e.edge.Now().String()
	if r := e.push(e.p, stale); r.Results[0].Status != wire.Accepted {
		t.Fatalf("stale status push: %+v", r.Results[0])
	}
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Status != domain.StatusResolved {
		t.Errorf("stale offline status reopened the ticket: %s", got.Status)
	}
	e.checkMaterialized(domain.EntityTicket, tk.ID)
	open2 := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{Resolved: ptr(false)}))
	if len(open2.Items) != 2 || open2.Items[0].Kind != merge.KindTransition {
		t.Errorf("open conflicts = %+v, want the transition conflict first", open2.Items)
	}
}

func testPushSkew(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	fast := &hlc.Clock{Node: "edge-n", Wall: func() time.Time { return e.clock.Now().Add(10 * time.Minute) }}
	c := e.newTicketChange("from the future", "north")
	c.HLC = fast.Now().String()
	slight := e.newTicketChange("slightly ahead", "north")
	slightTS := hlc.Timestamp{Wall: e.clock.Now().Add(30 * time.Second).UnixMilli(), Node: "edge-n"}
	slight.HLC = slightTS.String()
	resp := e.push(e.p, c, slight)
	if diff := gocmp.Diff([]string{"clamped", "accepted"}, statuses(resp.Results)); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	clamped, err := hlc.Parse(resp.Results[0].HLC)
	if err != nil || clamped.Node != domain.HubOrigin || clamped.Time().After(e.clock.Now().Add(time.Second)) {
		t.Fatalf("clamped hlc %q (%v), want a hub reading near the hub's wall clock", resp.Results[0].HLC, err)
	}
	for _, ch := range e.changesAfter(0) {
		switch ch.ID {
		case c.ID:
			if ch.HLC != resp.Results[0].HLC {
				t.Errorf("logged clamped change hlc = %s, want %s", ch.HLC, resp.Results[0].HLC)
			}
		case slight.ID:
			if ch.HLC != slight.HLC {
				t.Errorf("change within the bound was re-clocked: %s", ch.HLC)
			}
		}
	}
	// The hub clock did not jump to the fast clock: the next hub reading is near wall time.
	if ts, _ := hlc.Parse(resp.HLC); ts.Time().After(e.clock.Now().Add(time.Minute)) {
		t.Errorf("hub clock %s moved past the skew bound", resp.HLC)
	}
	// The answer was lost, say: the origin sends the batch again and learns the clamped clock
	// a second time (a plain duplicate would leave it ordering the change by its own clock).
	again := e.push(e.p, c, slight)
	if diff := gocmp.Diff([]string{"clamped", "duplicate"}, statuses(again.Results)); diff != "" {
		t.Fatalf("results of the re-sent batch (-want +got):\n%s", diff)
	}
	if r := again.Results[0]; r.HLC != resp.Results[0].HLC || r.Seq != resp.Results[0].Seq {
		t.Errorf("re-sent clamped change answered %+v, first answer %+v", r, resp.Results[0])
	}
	if r := again.Results[1]; r.HLC != "" || r.Seq != resp.Results[1].Seq {
		t.Errorf("re-sent accepted change answered %+v", r)
	}
}

func testPushConcurrent(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	const pushers, batches, per = 4, 5, 4
	var wg sync.WaitGroup
	errs := make(chan error, pushers*batches)
	var mu sync.Mutex
	accepted := map[string]int64{}
	for w := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clock := &hlc.Clock{Node: fmt.Sprintf("edge-%d", w), Wall: e.clock.Now}
			for range batches {
				var batch []domain.Change
				for range per {
					tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "t", Zone: "north"}, e.clock.Now())
					tk.ID = domain.NewID(T0)
					patch, _ := domain.Diff(nil, tk)
					batch = append(batch, domain.Change{ID: domain.NewID(T0), Origin: clock.Node, Actor: "a", Entity: domain.EntityTicket,
						EntityID: tk.ID, Op: domain.OpUpsert, Patch: patch, HLC: clock.Now().String(), At: T0})
				}
				resp, err := e.ss.PushChanges(e.ctx, domain.Principal{Node: clock.Node, Zones: []string{"north"}}, batch)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, r := range resp.Results {
					accepted[r.ID] = r.Seq
				}
				mu.Unlock()
			}
		}()
	}
	// API writers at the same time.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "api", Zone: "north"}, e.clock.Now())
				if _, err := e.s.CreateTicket(e.ctx, tk); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := e.changesAfter(0)
	for i, c := range all {
		if c.Seq != int64(i+1) {
			t.Fatalf("change %d has seq %d: the log has a gap or repeat", i, c.Seq)
		}
		if seq, ok := accepted[c.ID]; ok && seq != c.Seq {
			t.Errorf("change %s acknowledged at %d, logged at %d", c.ID, seq, c.Seq)
		}
	}
	// zone + pushed changes + a numbering change each + API creates.
	if want := 1 + 2*pushers*batches*per + 10; len(all) != want {
		t.Errorf("log has %d changes, want %d", len(all), want)
	}
	if got := e.lastSeq(); got != int64(len(all)) {
		t.Errorf("last seq %d, log length %d", got, len(all))
	}
}

// testAPIStamped requires every change the API write paths append to carry a hub HLC after
// the row's earlier clocks and a base naming the fields it sets.
func testAPIStamped(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	tk := e.ticket("job", "north", domain.PriorityLow)
	e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) { t.Title = "job 2"; return t, nil })
	if err := e.s.DeleteTicket(e.ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	chs := e.rowChanges(domain.EntityTicket, tk.ID)
	if len(chs) != 3 {
		t.Fatalf("ticket has %d changes, want 3", len(chs))
	}
	var prev string
	for i, c := range chs {
		ts, err := hlc.Parse(c.HLC)
		if err != nil || ts.Node != domain.HubOrigin {
			t.Fatalf("change %d hlc %q: %v", i, c.HLC, err)
		}
		if c.HLC <= prev {
			t.Errorf("change %d hlc %s not after %s", i, c.HLC, prev)
		}
		prev = c.HLC
	}
	if chs[0].Base != nil {
		t.Errorf("create has base %v, want none", chs[0].Base)
	}
	if chs[1].Base["title"] != chs[0].HLC || chs[1].Base["status"] != chs[0].HLC {
		t.Errorf("update base = %v, want title and status at %s", chs[1].Base, chs[0].HLC)
	}
	// Every change in the log goes on the wire.
	if _, err := wire.Marshal(&wire.PullResponse{Changes: wireChanges(chs), NextCursor: chs[2].Seq}); err != nil {
		t.Errorf("logged changes do not encode as a pull response: %v", err)
	}
}

// wireChanges strips the patch of deletes, as the sync server sends them.
func wireChanges(cs []domain.Change) []domain.Change {
	out := slices.Clone(cs)
	for i := range out {
		if out[i].Op == domain.OpDelete {
			out[i].Patch = nil
		}
	}
	return out
}

func testSnapshot(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	e.zone("south")
	team := e.team("A", "north")
	n1 := e.ticket("n1", "north", domain.PriorityLow)
	e.ticket("s1", "south", domain.PriorityLow)
	e.push(e.p, e.newTicketChange("edge", "north"))
	if err := e.s.DeleteTicket(e.ctx, n1.ID); err != nil {
		t.Fatal(err)
	}
	snap := must[syncstore.Snapshot](t)(e.ss.Snapshot(e.ctx, []string{"north"}))
	if snap.Cursor != e.lastSeq() {
		t.Errorf("snapshot cursor %d, head %d", snap.Cursor, e.lastSeq())
	}
	var got []string
	for _, r := range snap.Rows {
		got = append(got, fmt.Sprintf("%s %v", r.Entity, r.Deleted != nil))
	}
	want := []string{"team false", "ticket false", "ticket true", "zone false"}
	slices.Sort(got)
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot rows (-want +got):\n%s", diff)
	}
	// The digest of the snapshot equals the digest of replaying the log of those rows.
	var rows []merge.Row
	for _, r := range snap.Rows {
		rows = append(rows, must[merge.Row](t)(merge.Replay(e.rowChanges(r.Entity, r.ID))))
	}
	if merge.Digest(rows) != merge.DigestStates(snap.States()) {
		t.Error("snapshot digest differs from a replay of the log")
	}
	_ = team
}

func testConflicts(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	e.zone("south")
	var ids []string
	for _, zone := range []string{"north", "south"} {
		tk := e.ticket("job", zone, domain.PriorityLow)
		seen := e.rowChanges(domain.EntityTicket, tk.ID)[0].HLC
		e.clock.Advance(time.Second)
		c := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"title": "edge " + zone})
		c.Base = map[string]string{"title": seen}
		e.clock.Advance(time.Second)
		e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) { t.Title = "hub " + zone; return t, nil })
		e.push(domain.Principal{Username: "d", Role: domain.RoleDispatcher}, c)
		ids = append(ids, tk.ID)
	}
	all := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{Limit: 1}))
	if len(all.Items) != 1 || all.NextCursor == "" {
		t.Fatalf("first page = %+v", all)
	}
	rest := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{Limit: 1, Cursor: all.NextCursor}))
	if len(rest.Items) != 1 || rest.Items[0].ID == all.Items[0].ID || rest.NextCursor != "" {
		t.Fatalf("second page = %+v", rest)
	}
	north := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{ScopeZones: []string{"north"}}))
	if len(north.Items) != 1 || north.Items[0].EntityID != ids[0] || string(north.Items[0].Value) != `"edge north"` {
		t.Fatalf("north conflicts = %+v", north.Items)
	}
	_, err := e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{Cursor: "nope"})
	wantCode(t, err, domain.CodeInvalid, "cursor")

	// Apply writes the lost value back as a new change by the resolving dispatcher.
	ctx := domain.WithPrincipal(e.ctx, domain.Principal{Username: "disp", Role: domain.RoleDispatcher})
	head := e.lastSeq()
	res := must[syncstore.Conflict](t)(e.ss.ResolveConflict(ctx, north.Items[0].ID, syncstore.ActionApply))
	if res.ResolvedAt == nil || res.ResolvedBy != "disp" || res.Resolution != "apply" {
		t.Errorf("resolved = %+v", res)
	}
	ch := e.oneChange(head, domain.EntityTicket, ids[0], domain.OpUpsert)
	if ch.Actor != "disp" || ch.Origin != domain.HubOrigin || string(ch.Patch["title"]) != `"edge north"` {
		t.Errorf("resolution change = %+v", ch)
	}
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, ids[0])); got.Title != "edge north" {
		t.Errorf("title after apply = %q", got.Title)
	}
	e.checkMaterialized(domain.EntityTicket, ids[0])
	_, err = e.ss.ResolveConflict(ctx, north.Items[0].ID, syncstore.ActionDismiss)
	wantCode(t, err, domain.CodeConflict, "")
	_, err = e.ss.ResolveConflict(ctx, domain.NewID(T0), syncstore.ActionDismiss)
	wantCode(t, err, domain.CodeNotFound, "")
	head = e.lastSeq()
	south := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{Zone: "south", Resolved: ptr(false)}))
	if len(south.Items) != 1 {
		t.Fatalf("open south conflicts = %+v", south.Items)
	}
	if r := must[syncstore.Conflict](t)(e.ss.ResolveConflict(ctx, south.Items[0].ID, syncstore.ActionDismiss)); r.Resolution != "dismiss" {
		t.Errorf("dismiss = %+v", r)
	}
	e.noChange(head)
	if left := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{Resolved: ptr(false)})); len(left.Items) != 0 {
		t.Errorf("open conflicts left: %+v", left.Items)
	}
}

func testEdgeCredentials(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	e.zone("north")
	e.zone("south")
	c, token, err := e.ss.CreateEdgeCredential(e.ctx, syncstore.EdgeCredential{Name: "edge-north", Zones: []string{"north", "south"}})
	if err != nil {
		t.Fatal(err)
	}
	if !syncstore.WellFormedEdgeToken(token) || c.ID == "" || !c.CreatedAt.Equal(T0) {
		t.Fatalf("credential %+v token %q", c, token)
	}
	p := must[domain.Principal](t)(e.ss.AuthenticateEdge(e.ctx, token))
	if diff := gocmp.Diff(domain.Principal{Node: "edge-north", Zones: []string{"north", "south"}}, p); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	forged := token[:len(token)-4] + "AAAA"
	for name, tok := range map[string]string{"forged": forged, "garbage": "aiffe_x", "jwt-like": "eyJhbGciOi.x.y"} {
		_, err := e.ss.AuthenticateEdge(e.ctx, tok)
		wantCode(t, err, domain.CodeUnauthorized, "")
		_ = name
	}
	_, _, err = e.ss.CreateEdgeCredential(e.ctx, syncstore.EdgeCredential{Name: "edge-north", Zones: []string{"north"}})
	wantCode(t, err, domain.CodeConflict, "")
	_, _, err = e.ss.CreateEdgeCredential(e.ctx, syncstore.EdgeCredential{Name: "e2", Zones: []string{"nowhere"}})
	wantCode(t, err, domain.CodeInvalid, "zones")
	_, _, err = e.ss.CreateEdgeCredential(e.ctx, syncstore.EdgeCredential{Name: "bad name", Zones: []string{"north"}})
	wantCode(t, err, domain.CodeInvalid, "name")
	exp := T0.Add(time.Hour)
	_, short, err := e.ss.CreateEdgeCredential(e.ctx, syncstore.EdgeCredential{Name: "short", Zones: []string{"north"}, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	must[domain.Principal](t)(e.ss.AuthenticateEdge(e.ctx, short))
	e.clock.Advance(2 * time.Hour)
	_, err = e.ss.AuthenticateEdge(e.ctx, short)
	wantCode(t, err, domain.CodeUnauthorized, "")

	if err := e.ss.RevokeEdgeCredential(e.ctx, "edge-north"); err != nil {
		t.Fatal(err)
	}
	if err := e.ss.RevokeEdgeCredential(e.ctx, "edge-north"); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	_, err = e.ss.AuthenticateEdge(e.ctx, token)
	wantCode(t, err, domain.CodeUnauthorized, "")
	wantCode(t, e.ss.RevokeEdgeCredential(e.ctx, "nobody"), domain.CodeNotFound, "")
	list := must[[]syncstore.EdgeCredential](t)(e.ss.ListEdgeCredentials(e.ctx))
	if len(list) != 2 || list[0].Name != "edge-north" || list[0].RevokedAt == nil || list[1].ExpiresAt == nil {
		t.Errorf("credentials = %+v", list)
	}
}
