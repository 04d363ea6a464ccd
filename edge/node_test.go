package edge_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	"github.com/aiff/aiff/edge/sqlite"
)

// offlineNode starts a node whose hub is unreachable, seeded with the fixture.
func offlineNode(t *testing.T) (*edge.Node, fixture) {
	t.Helper()
	n := edge.New(edge.Config{HubURL: "http://127.0.0.1:1", Token: "aiffe_north_" + strings.Repeat("A", 43),
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err := n.Open(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(bg) })
	f := newFixture(t)
	f.seed(t, n, "secret")
	return n, f
}

func TestNodeFromToken(t *testing.T) {
	for tok, want := range map[string]string{
		"aiffe_north_" + strings.Repeat("x", 43):     "north",
		"aiffe_edge_one_" + strings.Repeat("_", 43):  "edge_one",
		"aiffe_" + strings.Repeat("x", 43):           "",
		"bearer-something":                           "",
		"aiffe_n-1_" + strings.Repeat("x", 42) + "!": "",
	} {
		if got := edge.NodeFromToken(tok); got != want {
			t.Errorf("NodeFromToken(%q) = %q, want %q", tok, got, want)
		}
	}
}

func TestOfflineAPI(t *testing.T) {
	n, f := offlineNode(t)
	if n.Store.Node != "north" {
		t.Errorf("node id = %q, want the credential name", n.Store.Node)
	}
	pub := api{t: t, base: n.URL()}

	var prob struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Field  string `json:"field"`
	}
	if code := pub.do("POST", "/api/auth/login", map[string]string{"username": "disp", "password": "wrong"}, &prob); code != 401 || prob.Type != "https://aiff.dev/problems/unauthorized" {
		t.Errorf("wrong password: %d %+v", code, prob)
	}
	if code := pub.do("POST", "/api/auth/login", map[string]string{"username": "nobody", "password": "secret"}, nil); code != 401 {
		t.Errorf("unknown user: %d", code)
	}
	if code := pub.do("GET", "/api/tickets", nil, nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
	disp := pub.login("disp", "secret")
	field := pub.login("tech.ana", "secret")

	// Dispatcher: create and assign while the hub is down.
	var created domain.Ticket
	if code := disp.do("POST", "/api/tickets", map[string]any{"title": "Cable cut", "zone": "North", "priority": "high"}, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if created.Number != "" || created.Status != domain.StatusOpen {
		t.Errorf("created = %+v", created)
	}
	if code := disp.do("POST", "/api/tickets", map[string]any{"title": "Elsewhere", "zone": "South"}, &prob); code != 400 || prob.Field != "zone" {
		t.Errorf("create outside zones: %d %+v", code, prob)
	}
	var assigned struct{ Items []domain.Ticket }
	if code := disp.do("POST", "/api/tickets/assign", map[string]any{"ticket_ids": []string{f.ticket.ID, created.ID}, "team_id": f.team.ID}, &assigned); code != 200 || len(assigned.Items) != 2 {
		t.Fatalf("assign: %d %+v", code, assigned)
	}

	// Field user: own team's tickets, status and rating only.
	var got domain.Ticket
	if code := field.do("PUT", "/api/tickets/"+f.ticket.ID, map[string]any{"status": "in_progress"}, &got); code != 200 || got.Status != domain.StatusInProgress || got.StartedAt == nil {
		t.Errorf("field status change: %d %+v", code, got)
	}
	if code := field.do("PUT", "/api/tickets/"+f.ticket.ID, map[string]any{"title": "mine now"}, nil); code != 403 {
		t.Errorf("field title change: %d", code)
	}
	if code := field.do("PUT", "/api/tickets/"+f.ticket.ID, map[string]any{"status": "closed"}, nil); code != 403 {
		t.Errorf("field close: %d", code)
	}
	if code := field.do("POST", "/api/tickets", map[string]any{"title": "x", "zone": "North"}, nil); code != 403 {
		t.Errorf("field create: %d", code)
	}
	// Bad input changes nothing.
	before, _ := n.Store.Stats(bg)
	for _, body := range []any{`{"status":`, `{"status":"in_progress","bogus":1}`, `{"status":5}`, map[string]any{"status": "open"}} {
		if code := disp.do("PUT", "/api/tickets/"+f.ticket.ID, body, &prob); code/100 != 4 {
			t.Errorf("bad body %v: %d", body, code)
		}
	}
	if after, _ := n.Store.Stats(bg); after.Pending != before.Pending {
		t.Errorf("bad input queued changes: %d then %d", before.Pending, after.Pending)
	}
	var page domain.Page[domain.Ticket]
	if code := field.do("GET", "/api/tickets?status=in_progress,assigned&sort=due_date", nil, &page); code != 200 || len(page.Items) != 2 {
		t.Errorf("field list: %d, %d items", code, len(page.Items))
	}
	var teams struct{ Items []domain.Team }
	if code := field.do("GET", "/api/auth/teams", nil, &teams); code != 200 || len(teams.Items) != 1 || teams.Items[0].ActiveTickets != 2 {
		t.Errorf("teams: %d %+v", code, teams)
	}

	// Health, metrics, digest, portal.
	var h edge.Health
	if code := pub.do("GET", "/healthz", nil, &h); code != 200 || h.HubConnected || h.QueueDepth != 4 || h.Status != "degraded" {
		t.Errorf("healthz: %d %+v", code, h)
	}
	resp, err := http.Get(n.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"aiff_edge_outbox_pending 4", "aiff_edge_hub_connected 0", "aiff_edge_cursor 4"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %q", m)
		}
	}
	var d sqlite.Digest
	want, _ := n.Store.Digest(bg, "North")
	if code := field.do("GET", "/api/sync/digest?zone=North", nil, &d); code != 200 || d != want || d.Rows != 4 {
		t.Errorf("digest: %d %+v, store %+v", code, d, want)
	}
	if code := pub.do("GET", "/api/sync/digest?zone=North", nil, nil); code != 401 {
		t.Errorf("digest without a token: %d, want 401", code)
	}
	own := api{t: t, base: n.URL(), token: "aiffe_north_" + strings.Repeat("A", 43)}
	if code := own.do("GET", "/api/sync/digest?zone=North", nil, nil); code != 200 {
		t.Errorf("digest with the edge's own credential: %d, want 200", code)
	}
	forged := api{t: t, base: n.URL(), token: "aiffe_north_" + strings.Repeat("B", 43)}
	if code := forged.do("GET", "/api/sync/digest?zone=North", nil, nil); code != 401 {
		t.Errorf("digest with another credential: %d, want 401", code)
	}
	for _, p := range []string{"/", "/field"} {
		resp, err := http.Get(n.URL() + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "<html") {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestInactiveUserCannotLogInOffline(t *testing.T) {
	n, f := offlineNode(t)
	u := f.field
	u.IsActive = false
	c := f.changes[3]
	c.ID, c.Seq = domain.NewID(time.Now()), 5
	c.HLC = "" // older hub code: placed by its time
	c.At = time.Now().UTC().Add(time.Second).Truncate(time.Microsecond)
	patch, _ := domain.Diff(f.field, u)
	c.Patch = patch
	if err := n.Store.ApplyRemote(bg, []domain.Change{c}, 5); err != nil {
		t.Fatal(err)
	}
	if code := (api{t: t, base: n.URL()}).do("POST", "/api/auth/login", map[string]string{"username": "tech.ana", "password": "secret"}, nil); code != 401 {
		t.Errorf("inactive user logged in: %d", code)
	}
}
