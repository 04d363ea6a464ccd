package edge_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	edgehttp "github.com/aiff/aiff/edge/http"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/hub/auth"
	hubsqlite "github.com/aiff/aiff/hub/sqlite"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// scopeHub is a hub with zones North, South and East, one team per zone with a field user,
// a ticket per zone, and an admin who may edit edge credentials through the sync API.
type scopeHub struct {
	*hubProc
	teams   map[string]domain.Team // by zone
	tickets map[string]domain.Ticket
	users   map[string]domain.User
	admin   api
}

func newScopeHub(t *testing.T) *scopeHub {
	t.Helper()
	h := &scopeHub{hubProc: newHubProc(t), teams: map[string]domain.Team{}, tickets: map[string]domain.Ticket{}, users: map[string]domain.User{}}
	hash, _ := auth.HashPassword("secret")
	for _, z := range []string{"North", "South", "East"} {
		if _, err := h.store.CreateZone(bg, domain.Zone{Name: z}); err != nil {
			t.Fatal(err)
		}
		tm, _ := domain.NewTeam(domain.TeamInput{Name: domain.Some("Team " + z), Zone: domain.Some(z)}, time.Now())
		tm, err := h.store.CreateTeam(bg, tm)
		if err != nil {
			t.Fatal(err)
		}
		h.teams[z] = tm
		tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "Pump " + z, Zone: z}, time.Now())
		if h.tickets[z], err = h.store.CreateTicket(bg, tk); err != nil {
			t.Fatal(err)
		}
		id := tm.ID
		if h.users[z], err = h.store.CreateUser(bg, domain.User{Username: "tech." + strings.ToLower(z), Role: domain.RoleField, TeamID: &id, IsActive: true, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.store.CreateUser(bg, domain.User{Username: "disp", Role: domain.RoleDispatcher, IsActive: true, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CreateUser(bg, domain.User{Username: "root", Role: domain.RoleAdmin, IsActive: true, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	h.admin = api{t: t, base: h.url()}.login("root", "secret")
	return h
}

func (h *scopeHub) edge(t *testing.T, name string, zones ...string) (*edge.Node, string) {
	t.Helper()
	_, tok, err := h.store.CreateEdgeCredential(bg, syncstore.EdgeCredential{Name: name, Zones: zones})
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, h.url(), tok), tok
}

// expected is the oracle: the live rows an edge with zones must hold, read from the hub
// through its ordinary store API: tickets and teams in the zones, the zones, and the users
// of those teams.
func (h *scopeHub) expected(t testing.TB, zones []string) []sqlite.RowKey {
	t.Helper()
	var out []sqlite.RowKey
	zs, err := h.store.ListZones(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zs {
		if slices.Contains(zones, z.Name) {
			out = append(out, sqlite.RowKey{Entity: domain.EntityZone, ID: z.ID})
		}
	}
	teams, err := h.store.ListTeams(bg, domain.TeamFilter{})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, tm := range teams {
		if slices.Contains(zones, tm.Zone) {
			held[tm.ID] = true
			out = append(out, sqlite.RowKey{Entity: domain.EntityTeam, ID: tm.ID})
		}
	}
	users, err := h.store.ListUsers(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.TeamID != nil && held[*u.TeamID] {
			out = append(out, sqlite.RowKey{Entity: domain.EntityUser, ID: u.ID})
		}
	}
	cursor := ""
	for {
		page, err := h.store.ListTickets(bg, domain.TicketFilter{Zone: zones, Limit: 500, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Items {
			out = append(out, sqlite.RowKey{Entity: domain.EntityTicket, ID: tk.ID})
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	slices.SortFunc(out, func(a, b sqlite.RowKey) int {
		return strings.Compare(string(a.Entity)+"/"+a.ID, string(b.Entity)+"/"+b.ID)
	})
	return out
}

// holds reports whether n holds exactly the oracle's rows for zones, at the hub's log head
// with an empty outbox, and every ticket with the hub's visible title, zone and status.
func (h *scopeHub) holds(t testing.TB, n *edge.Node, zones []string, last *string) bool {
	head, err := h.store.LastSeq(bg)
	if err != nil {
		return false
	}
	if cur, err := n.Store.Cursor(bg); err != nil || cur < head {
		*last = fmt.Sprintf("%s: cursor %d < head %d", n.Store.Node, cur, head)
		return false
	}
	if p, _ := n.Store.Pending(bg, 1); len(p) != 0 {
		*last = n.Store.Node + ": outbox not empty"
		return false
	}
	want := h.expected(t, zones)
	got, err := n.Store.LiveKeys(bg)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b sqlite.RowKey) int {
		return strings.Compare(string(a.Entity)+"/"+a.ID, string(b.Entity)+"/"+b.ID)
	})
	if !slices.Equal(got, want) {
		*last = fmt.Sprintf("%s (zones %v) holds %v, hub scope is %v", n.Store.Node, zones, got, want)
		return false
	}
	for _, k := range want {
		if k.Entity != domain.EntityTicket {
			continue
		}
		ht, err := h.store.GetTicket(bg, k.ID)
		et, err2 := n.Store.GetTicket(bg, k.ID)
		if err != nil || err2 != nil || ht.Title != et.Title || ht.Zone != et.Zone || ht.Status != et.Status || ht.Number != et.Number {
			*last = fmt.Sprintf("%s ticket %s: hub %+v %v, edge %+v %v", n.Store.Node, k.ID, ht, err, et, err2)
			return false
		}
	}
	return true
}

func (h *scopeHub) waitHolds(t *testing.T, what string, n *edge.Node, zones ...string) {
	t.Helper()
	var last string
	deadline := time.Now().Add(15 * time.Second)
	for !h.holds(t, n, zones, &last) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out; last: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *scopeHub) moveTicket(t testing.TB, id, zone string) {
	t.Helper()
	if _, err := h.store.UpdateTicket(bg, id, func(tk domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{Zone: domain.Some(zone)}.Apply(tk, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
}

func (h *scopeHub) moveTeam(t testing.TB, id, zone string) {
	t.Helper()
	if _, err := h.store.UpdateTeam(bg, id, func(tm domain.Team) (domain.Team, error) {
		tm.Zone = zone
		return tm, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (h *scopeHub) setZones(t testing.TB, name string, zones ...string) {
	t.Helper()
	if code := h.admin.do("PUT", "/api/sync/edges/"+name, map[string]any{"zones": zones}, nil); code != 200 {
		t.Fatalf("PUT /api/sync/edges/%s: %d", name, code)
	}
}

// TestScopeMoves: a ticket moved between zones moves between edges, a team moved takes its
// users along, and editing an edge's zones brings the added zone's rows in and drops the
// removed zone's, each incrementally (the cursor never goes back to 0).
func TestScopeMoves(t *testing.T) {
	h := newScopeHub(t)
	north, _ := h.edge(t, "edge-north", "North")
	south, _ := h.edge(t, "edge-south", "South")
	h.waitHolds(t, "initial sync north", north, "North")
	h.waitHolds(t, "initial sync south", south, "South")

	h.moveTicket(t, h.tickets["North"].ID, "South")
	h.waitHolds(t, "ticket moved out of north", north, "North")
	h.waitHolds(t, "ticket moved into south", south, "South")
	if _, err := north.Store.Row(bg, domain.EntityTicket, h.tickets["North"].ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("north still holds the moved ticket: %v", err)
	}

	api{t: t, base: north.URL()}.login("tech.north", "secret") // cached on edge-north
	h.moveTeam(t, h.teams["North"].ID, "South")
	h.waitHolds(t, "team and its user moved out of north", north, "North")
	h.waitHolds(t, "team and its user moved into south", south, "South")
	if _, err := south.Store.Row(bg, domain.EntityUser, h.users["North"].ID); err != nil {
		t.Errorf("south lacks the moved team's user: %v", err)
	}
	if _, err := north.Store.GetCredential(bg, "tech.north"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("edge-north keeps the cached login of a user who left its scope: %v", err)
	}

	before, _ := north.Store.Cursor(bg)
	h.setZones(t, "edge-north", "North", "East")
	h.waitHolds(t, "east added to north", north, "North", "East")
	h.setZones(t, "edge-north", "East")
	h.waitHolds(t, "north removed", north, "East")
	if after, _ := north.Store.Cursor(bg); after < before {
		t.Errorf("cursor went back from %d to %d: a full refetch", before, after)
	}
	if st, _ := north.Store.Stats(bg); st.Dead != 0 {
		t.Errorf("dead letters without local edits: %d", st.Dead)
	}
}

// TestRevocation: a credential revoked live (admin API) and one revoked while the edge was
// cut off with unsynced edits; both edges stop syncing, purge every replicated row and
// cached login within one cycle, say why in /healthz, serve nothing of the purged data, and
// keep their unsynced edits as dead letters (API and JSON export), never pushed.
func TestRevocation(t *testing.T) {
	h := newScopeHub(t)
	live, liveTok := h.edge(t, "edge-live", "North")
	cut, cutTok := h.edge(t, "edge-cut", "North")
	h.waitHolds(t, "initial sync live", live, "North")
	h.waitHolds(t, "initial sync cut", cut, "North")
	disp := api{t: t, base: live.URL()}.login("disp", "secret") // cached on the edge
	dispCut := api{t: t, base: cut.URL()}.login("disp", "secret")

	// Live: the admin revokes; the open stream is ended at once.
	start := time.Now()
	if code := h.admin.do("DELETE", "/api/sync/edges/edge-live", nil, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	checkRevoked(t, live, liveTok, disp, nil)
	t.Logf("live revocation: edge purged %s after the admin call", time.Since(start).Round(time.Millisecond))

	// Cut off: unsynced edits, then the credential is revoked while the edge cannot reach
	// the hub; it finds out on reconnecting.
	h.stop()
	id := h.tickets["North"].ID
	if code := dispCut.do("PUT", "/api/tickets/"+id, map[string]any{"title": "offline edit"}, nil); code != 200 {
		t.Fatalf("offline edit: %d", code)
	}
	var created domain.Ticket
	if code := dispCut.do("POST", "/api/tickets", map[string]any{"title": "offline create", "zone": "North"}, &created); code != 201 {
		t.Fatalf("offline create: %d", code)
	}
	pending, _ := cut.Store.Pending(bg, 100)
	if len(pending) != 2 {
		t.Fatalf("pending = %d, want 2", len(pending))
	}
	off := hubsqlite.NewStore(h.path)
	if err := off.Open(bg); err != nil {
		t.Fatal(err)
	}
	if err := off.RevokeEdgeCredential(bg, "edge-cut"); err != nil {
		t.Fatal(err)
	}
	off.Close()
	h.start()
	checkRevoked(t, cut, cutTok, dispCut, pending)
	if tk, err := h.store.GetTicket(bg, id); err != nil || tk.Title != h.tickets["North"].Title {
		t.Errorf("the revoked edge's edit reached the hub: %+v %v", tk, err)
	}
	if _, err := h.store.GetTicket(bg, created.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("the revoked edge's ticket reached the hub: %v", err)
	}

	// A restart stays revoked and empty.
	dir := cut.Config().DataDir
	cut.Close(bg)
	again := edge.New(edge.Config{HubURL: h.url(), Token: cutTok, DataDir: dir, Addr: "127.0.0.1:0", Logger: testLogger(t)})
	if err := again.Open(bg); err != nil {
		t.Fatal(err)
	}
	defer again.Close(bg)
	if hs, _ := again.Status(bg); hs.Status != "revoked" {
		t.Errorf("restarted revoked edge: status %q", hs.Status)
	}
}

// checkRevoked waits for n to purge within one sync cycle and checks everything a revoked
// edge must (not) do; pending are the unsynced changes it must have kept.
func checkRevoked(t *testing.T, n *edge.Node, edgeToken string, user api, pending []domain.Change) {
	t.Helper()
	checkFor(t, 5*time.Second, n.Store.Node+" revoked and purged", func() bool {
		keys, err := n.Store.LiveKeys(bg)
		return err == nil && len(keys) == 0 && n.Syncer.Revoked() != ""
	})
	var hz edge.Health
	if code := (api{t: t, base: n.URL()}).do("GET", "/healthz", nil, &hz); code != http.StatusServiceUnavailable || hz.Status != "revoked" || !strings.Contains(hz.Revoked, "revoked") {
		t.Errorf("healthz: %d %+v", code, hz)
	}
	for _, path := range []string{"/api/tickets", "/api/zones", "/api/auth/me", "/api/auth/teams", "/api/sync/digest?zone=North"} {
		var p edgehttp.Problem
		if code := user.do("GET", path, nil, &p); code != http.StatusServiceUnavailable || p.Type != edgehttp.ProblemEdgeRevoked {
			t.Errorf("GET %s after revocation: %d %+v", path, code, p)
		}
	}
	if code := (api{t: t, base: n.URL()}).do("POST", "/api/auth/login", map[string]string{"username": "disp", "password": "secret"}, nil); code != http.StatusServiceUnavailable {
		t.Errorf("login after revocation: %d", code)
	}
	if _, err := n.Store.GetCredential(bg, "disp"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("cached login survived the revocation: %v", err)
	}
	if p, _ := n.Store.Pending(bg, 10); len(p) != 0 {
		t.Errorf("outbox still pending after revocation: %d", len(p))
	}
	var dl struct{ Items []sqlite.DeadLetter }
	if code := (api{t: t, base: n.URL(), token: edgeToken}).do("GET", "/api/sync/dead-letters", nil, &dl); code != 200 {
		t.Fatalf("dead letters: %d", code)
	}
	b, err := os.ReadFile(filepath.Join(n.Config().DataDir, sqlite.DeadLetterFile))
	if err != nil {
		t.Fatalf("dead-letter export: %v", err)
	}
	var exp sqlite.DeadLetterExport
	if err := json.Unmarshal(b, &exp); err != nil || exp.Revoked == nil || exp.Node != n.Store.Node {
		t.Fatalf("dead-letter export %s: %v", b, err)
	}
	for _, c := range pending {
		in := func(items []sqlite.DeadLetter) bool {
			return slices.ContainsFunc(items, func(d sqlite.DeadLetter) bool { return d.Change.ID == c.ID })
		}
		if !in(dl.Items) || !in(exp.Items) {
			t.Errorf("unsynced change %s missing from the dead letters (api %d, export %d)", c.ID, len(dl.Items), len(exp.Items))
		}
	}
}

// TestScopeOracle is the property: after random hub mutations — creates, edits, deletes,
// tickets and teams moving between zones, users changing teams — and random edits of the
// edges' zones, every edge holds exactly the rows a direct query of its scope on the hub
// returns, with the hub's values.
func TestScopeOracle(t *testing.T) {
	seeds := []uint64{1, 2}
	steps := 40
	if testing.Short() {
		seeds, steps = seeds[:1], 20
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			h := newScopeHub(t)
			all := []string{"North", "South", "East"}
			pick := func() string { return all[rng.IntN(len(all))] }
			zonesOf := map[string][]string{"edge-a": {"North"}, "edge-b": {"South", "East"}}
			nodes := map[string]*edge.Node{}
			for _, name := range []string{"edge-a", "edge-b"} {
				nodes[name], _ = h.edge(t, name, zonesOf[name]...)
			}
			var tickets []string
			for _, tk := range h.tickets {
				tickets = append(tickets, tk.ID)
			}
			slices.Sort(tickets)
			var teams []string
			for _, z := range all {
				teams = append(teams, h.teams[z].ID)
			}
			users := []string{h.users["North"].ID, h.users["South"].ID, h.users["East"].ID}
			var trace []string
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("seed %d trace:\n%s", seed, strings.Join(trace, "\n"))
				}
			})
			for step := range steps {
				switch op := rng.IntN(10); {
				case op < 2:
					z := pick()
					tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("t%d", step), Zone: z}, time.Now())
					tk, err := h.store.CreateTicket(bg, tk)
					if err != nil {
						t.Fatal(err)
					}
					tickets = append(tickets, tk.ID)
					trace = append(trace, fmt.Sprintf("create ticket %s in %s", tk.ID, z))
				case op < 5 && len(tickets) > 0:
					id, z := tickets[rng.IntN(len(tickets))], pick()
					if _, err := h.store.GetTicket(bg, id); err != nil {
						continue
					}
					h.moveTicket(t, id, z)
					trace = append(trace, fmt.Sprintf("move ticket %s to %s", id, z))
				case op < 6 && len(tickets) > 0:
					id := tickets[rng.IntN(len(tickets))]
					if _, err := h.store.UpdateTicket(bg, id, func(tk domain.Ticket) (domain.Ticket, error) {
						tk.Title = fmt.Sprintf("edited %d", step)
						return tk, nil
					}); err == nil {
						trace = append(trace, fmt.Sprintf("edit ticket %s", id))
					}
				case op < 7 && len(tickets) > 0:
					id := tickets[rng.IntN(len(tickets))]
					if err := h.store.DeleteTicket(bg, id); err == nil {
						trace = append(trace, fmt.Sprintf("delete ticket %s", id))
					}
				case op < 8:
					id, z := teams[rng.IntN(len(teams))], pick()
					h.moveTeam(t, id, z)
					trace = append(trace, fmt.Sprintf("move team %s to %s", id, z))
				case op < 9:
					uid, tid := users[rng.IntN(len(users))], teams[rng.IntN(len(teams))]
					if _, err := h.store.UpdateUser(bg, uid, func(u domain.User) (domain.User, error) {
						u.TeamID = &tid
						return u, nil
					}); err != nil {
						t.Fatal(err)
					}
					trace = append(trace, fmt.Sprintf("user %s to team %s", uid, tid))
				default:
					name := []string{"edge-a", "edge-b"}[rng.IntN(2)]
					var zs []string
					for _, z := range all {
						if rng.IntN(2) == 0 {
							zs = append(zs, z)
						}
					}
					if len(zs) == 0 {
						zs = []string{pick()}
					}
					h.setZones(t, name, zs...)
					zonesOf[name] = zs
					trace = append(trace, fmt.Sprintf("zones of %s = %v", name, zs))
				}
				if step%10 == 9 || step == steps-1 {
					for _, name := range []string{"edge-a", "edge-b"} {
						h.waitHolds(t, fmt.Sprintf("step %d %s", step, name), nodes[name], zonesOf[name]...)
					}
				}
			}
		})
	}
}
