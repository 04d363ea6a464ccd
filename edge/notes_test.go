package edge_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/hub/auth"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// noteBodies lists the bodies of a ticket's notes on an edge ("" and the error if it has none
// to list).
func noteBodies(n *edge.Node, ticketID string) []string {
	ns, err := n.Store.ListNotes(bg, ticketID)
	if err != nil {
		return []string{err.Error()}
	}
	out := []string{}
	for _, x := range ns {
		out = append(out, x.Author+": "+x.Body)
	}
	slices.Sort(out)
	return out
}

func holdsNotes(n *edge.Node) int {
	keys, _ := n.Store.LiveKeys(bg)
	c := 0
	for _, k := range keys {
		if k.Entity == domain.EntityNote {
			c++
		}
	}
	return c
}

// TestNotesEndToEnd: two technicians on two edges of zone North write notes on one ticket
// while the hub is down; when it is back both notes reach the hub and both edges (each note
// is its own row, so neither overwrites the other), and an edge of zone South does not see
// them. Then the hub moves the ticket to South: its notes leave the North edges and arrive,
// with their history, on the South edge.
func TestNotesEndToEnd(t *testing.T) {
	hub := newHubProc(t)
	ctx := bg
	for _, z := range []string{"North", "South"} {
		if _, err := hub.store.CreateZone(ctx, domain.Zone{Name: z}); err != nil {
			t.Fatal(err)
		}
	}
	tm, _ := domain.NewTeam(domain.TeamInput{Name: domain.Some("Alpha"), Zone: domain.Some("North")}, time.Now())
	tm, err := hub.store.CreateTeam(ctx, tm)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "Broken pump", Zone: "North"}, time.Now())
	if tk, err = hub.store.CreateTicket(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.store.AssignTickets(ctx, []string{tk.ID}, tm.ID, "manual"); err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashPassword("secret")
	teamID := tm.ID
	for _, u := range []domain.User{
		{Username: "disp", Role: domain.RoleDispatcher, IsActive: true, PasswordHash: hash},
		{Username: "tech.ana", Role: domain.RoleField, TeamID: &teamID, IsActive: true, PasswordHash: hash},
	} {
		if _, err := hub.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tokens := map[string]string{}
	for name, zone := range map[string]string{"north-a": "North", "north-b": "North", "south-c": "South"} {
		_, tok, err := hub.store.CreateEdgeCredential(ctx, syncstore.EdgeCredential{Name: name, Zones: []string{zone}})
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok
	}
	hubc := client.New(hub.url(), tokens["north-a"])
	hubS := client.New(hub.url(), tokens["south-c"])
	a := startNode(t, hub.url(), tokens["north-a"])
	b := startNode(t, hub.url(), tokens["north-b"])
	c := startNode(t, hub.url(), tokens["south-c"])
	checkFor(t, 15*time.Second, "initial sync", digestsEqual(t, hubc, "North", a, b))
	checkFor(t, 15*time.Second, "initial sync south", digestsEqual(t, hubS, "South", c))
	techA := api{t: t, base: a.URL()}.login("tech.ana", "secret")
	dispB := api{t: t, base: b.URL()}.login("disp", "secret")

	// Offline, concurrently: a note on each North edge.
	hub.stop()
	var na, nb domain.Note
	if code := techA.do("POST", "/api/tickets/"+tk.ID+"/notes", map[string]string{"body": "replaced fuse, customer not home"}, &na); code != 201 {
		t.Fatalf("offline note on edge a: %d", code)
	}
	if code := dispB.do("POST", "/api/tickets/"+tk.ID+"/notes", map[string]string{"body": "customer called back"}, &nb); code != 201 {
		t.Fatalf("offline note on edge b: %d", code)
	}
	if na.Author != "tech.ana" || na.Zone != "North" || na.TicketID != tk.ID || nb.Author != "disp" {
		t.Errorf("offline notes: %+v %+v", na, nb)
	}
	var list struct{ Items []domain.Note }
	if code := techA.do("GET", "/api/tickets/"+tk.ID+"/notes", nil, &list); code != 200 || len(list.Items) != 1 || list.Items[0].ID != na.ID {
		t.Errorf("notes on edge a while offline: %d %+v", code, list.Items)
	}
	if code := dispB.do("POST", "/api/tickets/"+tk.ID+"/notes", map[string]string{"body": "  "}, nil); code != 400 {
		t.Errorf("blank note: %d, want 400", code)
	}
	if code := techA.do("POST", "/api/tickets/"+domain.NewID(time.Now())+"/notes", map[string]string{"body": "x"}, nil); code != 404 {
		t.Errorf("note on an unknown ticket: %d, want 404", code)
	}

	hub.start()
	want := []string{"disp: customer called back", "tech.ana: replaced fuse, customer not home"}
	checkFor(t, 20*time.Second, "both notes on the hub and both edges", func() bool {
		hn, err := hub.store.ListNotes(ctx, tk.ID)
		return err == nil && len(hn) == 2 && slices.Equal(noteBodies(a, tk.ID), want) && slices.Equal(noteBodies(b, tk.ID), want)
	})
	checkFor(t, 15*time.Second, "North converged with the notes", digestsEqual(t, hubc, "North", a, b))
	// Notes are part of the zone's integrity buckets: a note lost on an edge is found and
	// fetched again.
	if err := a.Store.Forget(ctx, []sqlite.RowKey{{Entity: domain.EntityNote, ID: nb.ID}}); err != nil {
		t.Fatal(err)
	}
	res, err := a.Integrity.Check(ctx)
	if err != nil || len(res) != 1 || len(res[0].Mismatched) != 1 || len(res[0].Repaired) != 1 {
		t.Errorf("integrity check after losing a note: %+v %v", res, err)
	}
	if got := noteBodies(a, tk.ID); !slices.Equal(got, want) {
		t.Errorf("notes on edge a after the repair: %q", got)
	}
	if n := holdsNotes(c); n != 0 {
		t.Errorf("the South edge holds %d notes of a North ticket", n)
	}
	for _, e := range []*edge.Node{a, b} {
		if st, _ := e.Store.Stats(ctx); st.Dead != 0 {
			dl, _ := e.Store.DeadLetters(ctx, 10)
			t.Errorf("dead letters on %s: %+v", e.Store.Node, dl)
		}
	}

	// The hub moves the ticket to South: the notes follow it.
	if _, err := hub.store.UpdateTicket(ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{Zone: domain.Some("South")}.Apply(t, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, "notes moved from the North edges to the South edge", func() bool {
		return holdsNotes(a) == 0 && holdsNotes(b) == 0 && slices.Equal(noteBodies(c, tk.ID), want)
	})
	checkFor(t, 15*time.Second, "South converged", digestsEqual(t, hubS, "South", c))
	checkFor(t, 15*time.Second, "North converged", digestsEqual(t, hubc, "North", a, b))
	var cl struct{ Items []domain.Note }
	dispC := api{t: t, base: c.URL()}.login("disp", "secret")
	if code := dispC.do("GET", "/api/tickets/"+tk.ID+"/notes", nil, &cl); code != 200 || len(cl.Items) != 2 || cl.Items[0].Zone != "South" {
		t.Errorf("notes on the South edge: %d %+v", code, cl.Items)
	}
}
