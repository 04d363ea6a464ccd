package edge_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	"github.com/aiff/aiff/edge/sqlite"
	hubsqlite "github.com/aiff/aiff/hub/sqlite"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// TestLongOfflineEdge180Days runs in simulated time (every clock of the hub store, its HLC,
// the compactor and the edge is one injected clock): an edge syncs, goes away for 180 days
// making edits of its own, while the hub edits, deletes, and compacts its log twice with a
// 30-day retention. When the edge returns, the hub tells it its cursor is behind the compacted
// history, it re-bootstraps from a snapshot carrying its unsynced edits forward, and pushes
// them. The outcome: 0 resurrected deletes (no row the hub deleted is visible anywhere), 0 lost
// edits (every local edit is in the hub's log or dead-lettered with the hub's reason), and the
// edge and hub converge.
func TestLongOfflineEdge180Days(t *testing.T) {
	const day = 24 * time.Hour
	base := time.Now().Add(-181 * day).UTC().Truncate(time.Microsecond)
	var simNow atomic.Int64
	at := func(d int) { simNow.Store(base.Add(time.Duration(d) * day).UnixMicro()) }
	sim := func() time.Time { return time.UnixMicro(simNow.Load()).UTC() }
	at(0)

	p := newHubProc(t)
	hs := p.store.(*hubsqlite.Store)
	hs.Now = sim
	hs.Clock.Wall = sim
	if _, err := hs.CreateZone(bg, domain.Zone{Name: "North"}); err != nil {
		t.Fatal(err)
	}
	tm, _ := domain.NewTeam(domain.TeamInput{Name: domain.Some("Alpha"), Zone: domain.Some("North")}, sim())
	if _, err := hs.CreateTeam(bg, tm); err != nil {
		t.Fatal(err)
	}
	tk := map[int]domain.Ticket{} // T1..T8
	for i := 1; i <= 8; i++ {
		nt, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("T%d", i), Zone: "North"}, sim())
		var err error
		if tk[i], err = hs.CreateTicket(bg, nt); err != nil {
			t.Fatal(err)
		}
	}
	_, tok, err := hs.CreateEdgeCredential(bg, syncstore.EdgeCredential{Name: "far", Zones: []string{"North"}})
	if err != nil {
		t.Fatal(err)
	}
	hubc := client.New(p.url(), tok)
	dir := t.TempDir()
	startEdge := func() *edge.Node {
		n := edge.New(edge.Config{HubURL: p.url(), Token: tok, DataDir: dir, Addr: "127.0.0.1:0", Logger: testLogger(t), Now: sim,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		if err := n.Open(bg); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Day 0: the edge bootstraps and converges, then goes away.
	n := startEdge()
	checkFor(t, 20*time.Second, "the edge to converge on day 0", digestsEqual(t, hubc, "North", n))
	n.Close(bg)

	// Days 2–179: the edge edits offline (its store, its clock at the simulated day).
	st := sqlite.NewStore(filepath.Join(dir, edge.DBFile))
	st.Now = sim
	if err := st.Open(bg); err != nil {
		t.Fatal(err)
	}
	oldCursor, _ := st.Cursor(bg)
	ok := func(_ domain.Ticket, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	title := func(s string) func(domain.Ticket) (domain.Ticket, error) {
		return func(x domain.Ticket) (domain.Ticket, error) { x.Title = s; return x, nil }
	}
	at(2)
	ok(st.UpdateTicket(bg, tk[1].ID, title("edge day 2")))
	at(10)
	if err := st.DeleteTicket(bg, tk[6].ID); err != nil {
		t.Fatal(err)
	}
	at(30)
	nt, _ := domain.NewTicket(domain.NewTicketInput{Title: "made on the edge on day 30", Zone: "North"}, sim())
	made, err := st.CreateTicket(bg, nt)
	if err != nil {
		t.Fatal(err)
	}
	at(100)
	ok(st.UpdateTicket(bg, tk[3].ID, title("edge day 100")))
	at(179)
	ok(st.UpdateTicket(bg, tk[4].ID, title("edge day 179")))
	ok(st.UpdateTicket(bg, tk[5].ID, title("edge day 179, on a ticket the hub deleted")))
	local, err := st.Pending(bg, 100)
	if err != nil || len(local) != 6 {
		t.Fatalf("local edits: %d, %v", len(local), err)
	}
	st.Close()

	// Meanwhile on the hub: edits, deletes and two compactions with a 30-day retention.
	compact := &server.Compaction{Store: hs, Now: sim}
	at(20)
	ok(hs.UpdateTicket(bg, tk[1].ID, title("hub day 20")))
	at(50)
	if err := hs.DeleteTicket(bg, tk[5].ID); err != nil {
		t.Fatal(err)
	}
	at(60)
	if err := hs.DeleteTicket(bg, tk[7].ID); err != nil {
		t.Fatal(err)
	}
	for d := 70; d < 90; d += 4 {
		at(d)
		ok(hs.UpdateTicket(bg, tk[8].ID, title(fmt.Sprintf("hub day %d", d))))
	}
	at(120)
	if _, err := compact.Once(bg, 30*day); err != nil {
		t.Fatal(err)
	}
	at(150)
	ok(hs.UpdateTicket(bg, tk[2].ID, title("hub day 150")))
	at(179)
	cs, err := compact.Once(bg, 30*day)
	if err != nil {
		t.Fatal(err)
	}
	dropped, _ := hs.DroppedThrough(bg)
	t.Logf("hub compacted: %+v; dropped through seq %d, edge cursor %d", cs, dropped, oldCursor)

	// Day 180: the hub refuses the edge's old cursor to a replica that can bootstrap...
	at(180)
	req, _ := http.NewRequest("GET", p.url()+"/api/sync/pull?cursor="+fmt.Sprint(oldCursor), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(client.BootstrapHeader, "snapshot")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.Header.Get("Content-Type"), "problem") {
		t.Fatalf("pull from the old cursor %d: %d, want 409 cursor-behind-horizon", oldCursor, resp.StatusCode)
	}
	// ... and the edge returns, re-bootstraps, pushes and converges.
	n = startEdge()
	defer n.Close(bg)
	checkFor(t, 30*time.Second, "the edge to converge on day 180", func() bool {
		s, err := n.Store.Stats(bg)
		return err == nil && s.Pending == 0 && digestsEqual(t, hubc, "North", n)()
	})
	if c, _ := n.Store.Cursor(bg); c < dropped {
		t.Errorf("the edge's cursor %d is still behind the compacted history %d", c, dropped)
	}

	// 0 lost edits: every local edit is in the hub's log or dead-lettered with a reason.
	inLog := map[string]bool{}
	for cur := int64(0); ; {
		pg, err := hubc.Pull(bg, cur, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range pg.Changes {
			inLog[c.ID] = true
		}
		if cur = pg.NextCursor; !pg.HasMore {
			break
		}
	}
	dead := map[string]sqlite.DeadLetter{}
	dls, err := n.Store.DeadLetters(bg, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls {
		dead[d.Change.ID] = d
	}
	lost, accepted := 0, 0
	for _, c := range local {
		d, isDead := dead[c.ID]
		switch {
		case inLog[c.ID] && isDead:
			t.Errorf("change %s (%s %s) is both in the hub's log and dead-lettered", c.ID, c.Entity, c.EntityID)
		case inLog[c.ID]:
			accepted++
		case isDead && d.Reason != "":
			t.Logf("dead-lettered: %s %s: %s: %s", c.Entity, c.EntityID, d.Code, d.Reason)
		default:
			lost++
			t.Errorf("local change %s (%s %s) was lost: not in the hub's log, not dead-lettered with a reason", c.ID, c.Entity, c.EntityID)
		}
	}
	// The edits older than the compacted history to rows that have one are refused by rule.
	for _, i := range []int{1, 3, 6} {
		found := false
		for _, d := range dls {
			found = found || (d.Change.EntityID == tk[i].ID && strings.Contains(d.Reason, "compacted history"))
		}
		if !found {
			t.Errorf("the edge's old edit of T%d was not refused as older than the compacted history", i)
		}
	}
	// The recent edit and the new ticket made it.
	if x, err := hs.GetTicket(bg, tk[4].ID); err != nil || x.Title != "edge day 179" {
		t.Errorf("hub T4: %q, %v", x.Title, err)
	}
	if x, err := hs.GetTicket(bg, made.ID); err != nil || x.Number == "" {
		t.Errorf("hub lacks the ticket made on the edge: %+v, %v", x, err)
	}

	// 0 resurrected deletes: what the hub deleted is gone on both sides.
	resurrected := 0
	for _, i := range []int{5, 7} {
		if _, err := hs.GetTicket(bg, tk[i].ID); domain.ErrorCode(err) != domain.CodeNotFound {
			resurrected++
			t.Errorf("hub T%d (deleted on day %d) reads %v", i, map[int]int{5: 50, 7: 60}[i], err)
		}
		if _, err := n.Store.GetTicket(bg, tk[i].ID); domain.ErrorCode(err) != domain.CodeNotFound {
			resurrected++
			t.Errorf("edge T%d (deleted on the hub) reads %v", i, err)
		}
	}
	page, err := n.Store.ListTickets(bg, domain.TicketFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(page.Items, func(x domain.Ticket) bool { return x.ID == tk[5].ID || x.ID == tk[7].ID }) {
		resurrected++
		t.Error("the edge lists a ticket the hub deleted")
	}
	t.Logf("180 days offline: %d local edits, %d accepted, %d dead-lettered with a reason, %d lost; %d resurrected deletes",
		len(local), accepted, len(dls), lost, resurrected)
}
