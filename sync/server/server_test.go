package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	hubhttp "github.com/aiff/aiff/hub/http"
	"github.com/aiff/aiff/hub/sqlite"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// hub is a real hub HTTP server (hub/http with the sync handler mounted as cmd/aiff does) on
// a fresh SQLite store.
type hub struct {
	t      testing.TB
	store  *sqlite.Store
	h      *server.Handler
	ts     *httptest.Server
	issuer *auth.Issuer
	ctx    context.Context
	admin  string // admin access token
	north  string // edge token for zone north
	edge   *hlc.Clock
}

type edgeAuth struct{ s syncstore.Store }

func (a edgeAuth) Authenticate(ctx context.Context, tok string) (domain.Principal, error) {
	return a.s.AuthenticateEdge(ctx, tok)
}

func newHub(t testing.TB, tune func(h *server.Handler)) *hub {
	t.Helper()
	ctx := context.Background()
	store := storetest.OpenSQLite(t, nil)
	issuer, err := auth.NewHS256Issuer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	h := server.New(store)
	h.HeartbeatInterval = 300 * time.Millisecond
	h.PollInterval = 50 * time.Millisecond
	if tune != nil {
		tune(h)
	}
	srv := hubhttp.NewServer()
	srv.Store = store
	srv.Auth = auth.NewService(store, issuer)
	srv.RateLimiter = nil
	srv.TokenAuthenticators = map[string]hubhttp.Authenticator{syncstore.EdgeTokenPrefix: edgeAuth{store}}
	srv.MountWithLimit("/api/sync", h, wire.DefaultLimits.MaxFrameBytes)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	hb := &hub{t: t, store: store, h: h, ts: ts, issuer: issuer, ctx: ctx}
	for _, z := range []string{"north", "south"} {
		if _, err := store.CreateZone(ctx, domain.Zone{Name: z}); err != nil {
			t.Fatal(err)
		}
	}
	hb.admin = hb.userToken(domain.RoleAdmin, nil)
	_, hb.north, err = store.CreateEdgeCredential(ctx, syncstore.EdgeCredential{Name: "edge-north", Zones: []string{"north"}})
	if err != nil {
		t.Fatal(err)
	}
	hb.edge = hlc.NewClock("edge-north")
	return hb
}

// userToken creates a user with role (and team) and returns an access token for it.
func (hb *hub) userToken(role domain.Role, team *string) string {
	hb.t.Helper()
	u, err := hb.store.CreateUser(hb.ctx, domain.User{Username: fmt.Sprintf("%s-%d", role, time.Now().UnixNano()), Role: role,
		TeamID: team, IsActive: true, PasswordHash: "x"})
	if err != nil {
		hb.t.Fatal(err)
	}
	tok, _, err := hb.issuer.Issue(u)
	if err != nil {
		hb.t.Fatal(err)
	}
	return tok
}

// ticket makes an edge create change for a new ticket in zone.
func (hb *hub) ticket(zone, title string) domain.Change {
	hb.t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	tk, err := domain.NewTicket(domain.NewTicketInput{Title: title, Zone: zone, Description: "<b>&</b> notes"}, now)
	if err != nil {
		hb.t.Fatal(err)
	}
	tk.ID = domain.NewID(now)
	patch, _ := domain.Diff(nil, tk)
	return domain.Change{ID: domain.NewID(now), Origin: hb.edge.Node, Actor: "tech", Entity: domain.EntityTicket,
		EntityID: tk.ID, Op: domain.OpUpsert, Zone: zone, Patch: patch, HLC: hb.edge.Now().String(), At: now}
}

// do sends a request and returns the response with its body read.
func (hb *hub) do(method, path, token string, body []byte, hdr ...string) (*http.Response, []byte) {
	hb.t.Helper()
	req, err := http.NewRequest(method, hb.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		hb.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		hb.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func pushBody(t testing.TB, cs ...domain.Change) []byte {
	t.Helper()
	b, err := wire.Marshal(&wire.PushRequest{Node: "edge-north", Changes: cs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// push pushes cs with token and returns the decoded result.
func (hb *hub) push(token string, cs ...domain.Change) *wire.PushResponse {
	hb.t.Helper()
	resp, b := hb.do("POST", "/api/sync/push", token, pushBody(hb.t, cs...), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		hb.t.Fatalf("push: %d %s", resp.StatusCode, b)
	}
	f, err := wire.ReadAs[*wire.PushResponse](bytes.NewReader(b), wire.Limits{})
	if err != nil {
		hb.t.Fatalf("decode push result: %v: %s", err, b)
	}
	return f
}

func (hb *hub) pull(token string, cursor int64, limit int) *wire.PullResponse {
	hb.t.Helper()
	resp, b := hb.do("GET", fmt.Sprintf("/api/sync/pull?cursor=%d&limit=%d", cursor, limit), token, nil)
	if resp.StatusCode != 200 {
		hb.t.Fatalf("pull: %d %s", resp.StatusCode, b)
	}
	f, err := wire.ReadAs[*wire.PullResponse](bytes.NewReader(b), wire.Limits{})
	if err != nil {
		hb.t.Fatalf("decode pull: %v", err)
	}
	return f
}

// pullAll pulls from cursor until has_more is false.
func (hb *hub) pullAll(token string, cursor int64) ([]domain.Change, int64) {
	var out []domain.Change
	for {
		p := hb.pull(token, cursor, 3)
		out = append(out, p.Changes...)
		cursor = p.NextCursor
		if !p.HasMore {
			return out, cursor
		}
	}
}

func wantProblem(t *testing.T, resp *http.Response, body []byte, status int, typ, field string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	var p hubhttp.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if p.Type != hubhttp.ProblemBase+typ {
		t.Errorf("problem type %q, want %s%s (%s)", p.Type, hubhttp.ProblemBase, typ, p.Detail)
	}
	if field != "" && p.Field != field {
		t.Errorf("problem field %q, want %q (%s)", p.Field, field, p.Detail)
	}
}

func TestPushThenPull(t *testing.T) {
	hb := newHub(t, nil)
	north, south := hb.ticket("north", "pole"), hb.ticket("south", "far")
	// A dispatcher's south ticket is outside the edge's scope.
	if r := hb.push(hb.admin, south); r.Results[0].Status != wire.Accepted {
		t.Fatalf("admin push: %+v", r.Results[0])
	}
	// The edge pushes gzip-compressed.
	zipped, _ := wire.Gzip(pushBody(t, north))
	resp, b := hb.do("POST", "/api/sync/push", hb.north, zipped, "Content-Encoding", "gzip")
	if resp.StatusCode != 200 {
		t.Fatalf("gzip push: %d %s", resp.StatusCode, b)
	}
	res, err := wire.ReadAs[*wire.PushResponse](bytes.NewReader(b), wire.Limits{})
	if err != nil || res.Results[0].Status != wire.Accepted {
		t.Fatalf("gzip push result %+v %v", res, err)
	}
	changes, cursor := hb.pullAll(hb.north, 0)
	head, _ := hb.store.LastSeq(hb.ctx)
	if cursor != head {
		t.Errorf("pull ended at %d, head %d", cursor, head)
	}
	var got []string
	for i, c := range changes {
		if c.Zone != "north" {
			t.Errorf("edge pulled a change of zone %q", c.Zone)
		}
		if i > 0 && c.Seq <= changes[i-1].Seq {
			t.Errorf("pull out of order at %d", i)
		}
		got = append(got, fmt.Sprintf("%s %s", c.Entity, c.Origin))
	}
	if want := "zone hub,ticket edge-north,ticket hub"; strings.Join(got, ",") != want {
		t.Errorf("pulled %v, want %s", got, want)
	}
	if changes[1].ID != north.ID || string(changes[1].Patch["description"]) == "" {
		t.Errorf("pulled change %+v", changes[1])
	}
	// A replayed old batch is all duplicates and stores nothing.
	again := hb.push(hb.north, north)
	if again.Results[0].Status != wire.Duplicate || again.Results[0].Seq != res.Results[0].Seq || again.Cursor != head {
		t.Errorf("replayed batch = %+v", again)
	}
	// gzip pull when asked for; an empty page at the head.
	resp, b = hb.do("GET", "/api/sync/pull?cursor=0", hb.admin, nil, "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || !wire.IsGzip(b) {
		t.Errorf("pull with Accept-Encoding gzip: encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if p := hb.pull(hb.north, head, 10); len(p.Changes) != 0 || p.HasMore || p.NextCursor != head {
		t.Errorf("pull at head = %+v", p)
	}
	resp, b = hb.do("GET", fmt.Sprintf("/api/sync/pull?cursor=%d", head+1), hb.north, nil)
	wantProblem(t, resp, b, 400, "invalid", "cursor")
	resp, b = hb.do("GET", "/api/sync/pull?cursor=0&limit=1001", hb.north, nil)
	wantProblem(t, resp, b, 400, "invalid", "limit")
	resp, b = hb.do("GET", "/api/sync/pull?since=0", hb.north, nil)
	wantProblem(t, resp, b, 400, "invalid", "since")
}

func TestBadInputStoresNothing(t *testing.T) {
	hb := newHub(t, nil)
	head, _ := hb.store.LastSeq(hb.ctx)
	good := string(pushBody(t, hb.ticket("north", "x")))
	many := make([]domain.Change, 1001)
	for i := range many {
		many[i] = hb.ticket("north", "x")
	}
	manyBody, _ := json.Marshal(map[string]any{"v": 1, "type": "push", "data": map[string]any{"node": "edge-north", "changes": many}})
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"v":1,"type":"push","data":{"node":"e","changes":[{"id":"`))
	zw.Write(bytes.Repeat([]byte("A"), 9<<20))
	zw.Close()
	cases := []struct {
		name, body string
		status     int
		typ, field string
	}{
		{"malformed json", `{"v":1,"type":"push","data":{`, 400, "invalid", ""},
		{"unknown field", strings.Replace(good, `"node"`, `"extra":1,"node"`, 1), 400, "invalid", ""},
		{"wrong version", strings.Replace(good, `"v":1`, `"v":2`, 1), 400, "invalid", "v"},
		{"wrong type", strings.Replace(good, `"node":"edge-north"`, `"node":7`, 1), 400, "invalid", "node"},
		{"invalid ulid", strings.Replace(good, `"id":"`, `"id":"x`, 1), 400, "invalid", "changes[0].id"},
		{"seq in push", strings.Replace(good, `"origin"`, `"seq":5,"origin"`, 1), 400, "invalid", "changes[0].seq"},
		{"not a push", `{"v":1,"type":"ack","data":{"cursor":1}}`, 400, "invalid", "type"},
		{"too many changes", string(manyBody), 413, "too-large", ""},
		{"gzip bomb", bomb.String(), 413, "too-large", ""},
		{"out of scope", string(pushBody(t, hb.ticket("south", "y"))), 403, "forbidden", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := hb.do("POST", "/api/sync/push", hb.north, []byte(tc.body))
			wantProblem(t, resp, b, tc.status, tc.typ, tc.field)
		})
	}
	if got, _ := hb.store.LastSeq(hb.ctx); got != head {
		t.Errorf("bad input changed the log: head %d -> %d", head, got)
	}
}

func TestAuth(t *testing.T) {
	hb := newHub(t, nil)
	body := pushBody(t, hb.ticket("north", "x"))
	forged := hb.north[:len(hb.north)-5] + "AAAAA"
	_, expired, err := hb.store.CreateEdgeCredential(hb.ctx, syncstore.EdgeCredential{Name: "old", Zones: []string{"north"},
		ExpiresAt: ptr(time.Now().Add(-time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	_, revoked, _ := hb.store.CreateEdgeCredential(hb.ctx, syncstore.EdgeCredential{Name: "gone", Zones: []string{"north"}})
	if err := hb.store.RevokeEdgeCredential(hb.ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"none": "", "forged": forged, "expired": expired, "revoked": revoked, "garbage": "aiffe_nope"} {
		resp, b := hb.do("POST", "/api/sync/push", tok, body)
		// A revoked or expired credential has its own type: the edge stops for good and purges.
		typ := "unauthorized"
		if name == "expired" || name == "revoked" {
			typ = syncstore.ProblemSlugRevoked
		}
		wantProblem(t, resp, b, 401, typ, "")
	}
	viewer := hb.userToken(domain.RoleViewer, nil)
	resp, b := hb.do("POST", "/api/sync/push", viewer, body)
	wantProblem(t, resp, b, 403, "forbidden", "")
	if p := hb.pull(viewer, 0, 10); len(p.Changes) == 0 {
		t.Error("viewer pulled nothing")
	}
	// Edge admin needs an admin; an edge cannot manage edges or read conflicts.
	for _, path := range []string{"/api/sync/edges", "/api/sync/conflicts"} {
		resp, b := hb.do("GET", path, hb.north, nil)
		wantProblem(t, resp, b, 403, "forbidden", "")
	}
}

func TestEdgeAdminAndConflictsAPI(t *testing.T) {
	hb := newHub(t, nil)
	resp, b := hb.do("POST", "/api/sync/edges", hb.admin, []byte(`{"name":"edge-south","zones":["south"],"expires_in":"24h"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("create edge: %d %s", resp.StatusCode, b)
	}
	var created struct {
		Name      string     `json:"name"`
		Token     string     `json:"token"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	json.Unmarshal(b, &created)
	if created.Name != "edge-south" || !syncstore.WellFormedEdgeToken(created.Token) || created.ExpiresAt == nil {
		t.Fatalf("created %s", b)
	}
	if r := hb.push(created.Token, hb.ticket("south", "s")); r.Results[0].Status != wire.Accepted {
		t.Errorf("new edge push: %+v", r.Results[0])
	}
	resp, b = hb.do("POST", "/api/sync/edges", hb.admin, []byte(`{"name":"edge-south","zones":["south"]}`))
	wantProblem(t, resp, b, 409, "conflict", "")
	resp, b = hb.do("POST", "/api/sync/edges", hb.admin, []byte(`{"name":"x","zones":["south"],"bogus":1}`))
	wantProblem(t, resp, b, 400, "invalid", "")
	resp, b = hb.do("GET", "/api/sync/edges", hb.admin, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"edge-south"`) || strings.Contains(string(b), "token") {
		t.Errorf("list edges: %d %s", resp.StatusCode, b)
	}
	resp, _ = hb.do("DELETE", "/api/sync/edges/edge-south", hb.admin, nil)
	if resp.StatusCode != 204 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	resp, b = hb.do("POST", "/api/sync/push", created.Token, pushBody(t, hb.ticket("south", "s2")))
	wantProblem(t, resp, b, 401, syncstore.ProblemSlugRevoked, "")

	// A concurrent edit: the hub's later title wins, the edge's is a conflict to review.
	c := hb.ticket("north", "orig")
	pr := hb.push(hb.north, c)
	seen := c.HLC
	// The edge hears the hub's clock (and so is past the numbering change), but edits the
	// title it created without seeing the hub's edit that follows.
	ts, _ := hlc.Parse(pr.HLC)
	if _, err := hb.edge.Update(ts); err != nil {
		t.Fatal(err)
	}
	edit := domain.Change{ID: domain.NewID(time.Now()), Origin: "edge-north", Actor: "tech", Entity: domain.EntityTicket,
		EntityID: c.EntityID, Op: domain.OpUpsert, Patch: map[string]json.RawMessage{"title": json.RawMessage(`"edge title"`)},
		HLC: hb.edge.Now().String(), At: time.Now().UTC(), Base: map[string]string{"title": seen}}
	if _, err := hb.store.UpdateTicket(hb.ctx, c.EntityID, func(t domain.Ticket) (domain.Ticket, error) { t.Title = "hub title"; return t, nil }); err != nil {
		t.Fatal(err)
	}
	if r := hb.push(hb.north, edit); r.Results[0].Status != wire.Accepted {
		t.Fatalf("edit: %+v", r.Results[0])
	}
	resp, b = hb.do("GET", "/api/sync/conflicts?resolved=false", hb.admin, nil)
	var page domain.Page[syncstore.Conflict]
	json.Unmarshal(b, &page)
	if resp.StatusCode != 200 || len(page.Items) != 1 || page.Items[0].Field != "title" {
		t.Fatalf("conflicts: %d %s", resp.StatusCode, b)
	}
	resp, b = hb.do("POST", "/api/sync/conflicts/"+page.Items[0].ID+"/resolve", hb.admin, []byte(`{"action":"apply"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("resolve: %d %s", resp.StatusCode, b)
	}
	// Whichever write lost (the clocks decide) is the one the dispatcher applied back.
	var lost string
	json.Unmarshal(page.Items[0].Value, &lost)
	if tk, _ := hb.store.GetTicket(hb.ctx, c.EntityID); tk.Title != lost || (lost != "edge title" && lost != "hub title") {
		t.Errorf("title after apply = %q, want the lost value %q", tk.Title, lost)
	}
	resp, b = hb.do("POST", "/api/sync/conflicts/"+page.Items[0].ID+"/resolve", hb.admin, []byte(`{"action":"dismiss"}`))
	wantProblem(t, resp, b, 409, "conflict", "")
	resp, b = hb.do("POST", "/api/sync/conflicts/"+page.Items[0].ID+"/resolve", hb.admin, []byte(`{"action":"maybe"}`))
	wantProblem(t, resp, b, 409, "conflict", "")
}

func TestDigest(t *testing.T) {
	hb := newHub(t, nil)
	for i := range 3 {
		hb.push(hb.north, hb.ticket("north", fmt.Sprint("t", i)))
	}
	hb.push(hb.admin, hb.ticket("south", "s"))
	resp, b := hb.do("GET", "/api/sync/digest?zone=north", hb.north, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("digest: %d %s", resp.StatusCode, b)
	}
	var d struct {
		Zone, Digest string
		Cursor       int64
		Rows         int
	}
	json.Unmarshal(b, &d)
	// A replica that applied everything it pulled has the same digest.
	changes, cursor := hb.pullAll(hb.north, 0)
	rows := map[string][]domain.Change{}
	for _, c := range changes {
		rows[string(c.Entity)+c.EntityID] = append(rows[string(c.Entity)+c.EntityID], c)
	}
	var replica []merge.Row
	for _, cs := range rows {
		r, err := merge.Replay(cs)
		if err != nil {
			t.Fatal(err)
		}
		replica = append(replica, r)
	}
	if d.Zone != "north" || d.Rows != 4 || d.Cursor != cursor || d.Digest != merge.Digest(replica) {
		t.Errorf("digest %+v; replica cursor %d digest %s", d, cursor, merge.Digest(replica))
	}
	resp, b = hb.do("GET", "/api/sync/digest?zone=south", hb.north, nil)
	wantProblem(t, resp, b, 403, "forbidden", "")
	resp, b = hb.do("GET", "/api/sync/digest", hb.north, nil)
	wantProblem(t, resp, b, 400, "invalid", "zone")
}

func ptr[T any](v T) *T { return &v }

// --- streams ---

// wsClient is a stream client that records every frame.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
}

func (hb *hub) dial(token string, cursor int64, viaQuery bool, dialer func(ctx context.Context, network, addr string) (net.Conn, error)) (*wsClient, *http.Response, error) {
	u := strings.Replace(hb.ts.URL, "http", "ws", 1) + fmt.Sprintf("/api/sync/stream?cursor=%d", cursor)
	opts := &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}, HTTPHeader: http.Header{}}
	if viaQuery {
		u += "&access_token=" + token
	} else {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	if dialer != nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: dialer}}
	}
	ctx, cancel := context.WithTimeout(hb.ctx, 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(64 << 20)
	hb.t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: hb.t, conn: conn}, resp, nil
}

// next reads one frame (within d).
func (c *wsClient) next(d time.Duration) (wire.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	typ, b, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ == websocket.MessageBinary && !wire.IsGzip(b) {
		c.t.Errorf("binary frame is not gzip")
	}
	return wire.ReadFrame(bytes.NewReader(b), wire.Limits{MaxFrameBytes: 64 << 20})
}

// untilReady reads catch-up frames up to the ready frame and returns their changes and the
// ready cursor.
func (c *wsClient) untilReady() ([]domain.Change, int64) {
	c.t.Helper()
	var out []domain.Change
	for {
		f, err := c.next(5 * time.Second)
		if err != nil {
			c.t.Fatalf("catch-up: %v", err)
		}
		switch f := f.(type) {
		case *wire.FrameChanges:
			out = append(out, f.Changes...)
		case *wire.FrameReady:
			return out, f.Cursor
		default:
			c.t.Fatalf("catch-up: unexpected %s frame", f.FrameType())
		}
	}
}

func TestStreamCatchUpReadyLiveHeartbeat(t *testing.T) {
	hb := newHub(t, nil)
	hb.push(hb.north, hb.ticket("north", "before"))
	hb.push(hb.admin, hb.ticket("south", "not mine"))
	c, resp, err := hb.dial(hb.north, 0, true, nil) // token as access_token, as browsers do
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != wire.Subprotocol {
		t.Errorf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	caught, ready := c.untilReady()
	head, _ := hb.store.LastSeq(hb.ctx)
	if len(caught) != 3 || ready != head {
		t.Fatalf("catch-up %d changes, ready at %d (head %d)", len(caught), ready, head)
	}
	// Live: a push and a REST write both arrive.
	live := hb.ticket("north", "live")
	hb.push(hb.north, live)
	if _, err := hb.store.UpdateTicket(hb.ctx, live.EntityID, func(t domain.Ticket) (domain.Ticket, error) { t.Title = "rest"; return t, nil }); err != nil {
		t.Fatal(err)
	}
	var got []domain.Change
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		f, err := c.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := f.(*wire.FrameChanges); ok {
			got = append(got, f.Changes...)
		}
	}
	if len(got) != 3 || got[0].ID != live.ID || got[0].Seq != ready+1 || got[2].Origin != domain.HubOrigin {
		t.Fatalf("live changes = %+v", got)
	}
	// Idle: heartbeats carry the cursor and the hub's time.
	f, err := c.next(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hbf, ok := f.(*wire.FrameHeartbeat)
	if !ok || hbf.Cursor != got[2].Seq || time.Since(hbf.Time) > time.Minute {
		t.Fatalf("idle frame = %#v", f)
	}
	// An ack is fine; any other client frame ends the stream with an invalid error.
	ack, _ := wire.Marshal(&wire.FrameAck{Cursor: hbf.Cursor})
	c.conn.Write(hb.ctx, websocket.MessageText, ack)
	c.conn.Write(hb.ctx, websocket.MessageText, []byte(`{"v":1,"type":"ready","data":{"cursor":1}}`))
	for {
		f, err := c.next(5 * time.Second)
		if err != nil {
			t.Fatalf("no error frame before close: %v", err)
		}
		if ef, ok := f.(*wire.FrameError); ok {
			if ef.Code != domain.CodeInvalid || ef.Retry {
				t.Errorf("error frame %+v", ef)
			}
			break
		}
	}
	if _, err := c.next(2 * time.Second); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("close = %v, want 1008", err)
	}
}

func TestStreamRefusals(t *testing.T) {
	hb := newHub(t, nil)
	_, resp, err := hb.dial("aiffe_edge-north_"+strings.Repeat("A", 43), 0, false, nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("forged token stream: %v %v", resp, err)
	}
	head, _ := hb.store.LastSeq(hb.ctx)
	_, resp, err = hb.dial(hb.north, head+5, false, nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Errorf("cursor beyond head: %v %v", resp, err)
	}
	// Without the subprotocol.
	req, _ := http.NewRequest("GET", hb.ts.URL+"/api/sync/stream", nil)
	req.Header.Set("Authorization", "Bearer "+hb.north)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(make([]byte, 16)))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Errorf("no subprotocol: %d", r.StatusCode)
	}
	// A credential revoked while streaming ends the stream at the next heartbeat.
	c, _, err := hb.dial(hb.north, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.untilReady()
	if err := hb.store.RevokeEdgeCredential(hb.ctx, "edge-north"); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.next(5 * time.Second)
		if err != nil {
			t.Fatalf("revoked stream: %v", err)
		}
		if ef, ok := f.(*wire.FrameError); ok {
			if ef.Code != domain.CodeUnauthorized || ef.Retry {
				t.Errorf("revoked error frame %+v", ef)
			}
			break
		}
	}
}

// TestStreamResume disconnects a client mid-stream, pushes while it is away, and requires
// that resuming from its stored cursor yields every change in scope exactly once, in order.
func TestStreamResume(t *testing.T) {
	hb := newHub(t, nil)
	for i := range 5 {
		hb.push(hb.north, hb.ticket("north", fmt.Sprint("a", i)))
		hb.push(hb.admin, hb.ticket("south", fmt.Sprint("s", i)))
	}
	var seen []domain.Change
	var cursor int64
	c, _, err := hb.dial(hb.north, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Read just the first frame, store its cursor and drop the connection.
	f, err := c.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fc := f.(*wire.FrameChanges)
	seen, cursor = append(seen, fc.Changes...), fc.Cursor
	c.conn.CloseNow()
	for i := range 4 {
		hb.push(hb.north, hb.ticket("north", fmt.Sprint("b", i)))
		hb.push(hb.admin, hb.ticket("south", fmt.Sprint("t", i)))
	}
	for round := range 3 {
		c, _, err := hb.dial(hb.north, cursor, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		caught, ready := c.untilReady()
		seen, cursor = append(seen, caught...), ready
		hb.push(hb.north, hb.ticket("north", fmt.Sprint("live", round)))
		for {
			f, err := c.next(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if fc, ok := f.(*wire.FrameChanges); ok {
				seen, cursor = append(seen, fc.Changes...), fc.Cursor
				break
			}
		}
		c.conn.CloseNow()
	}
	want, _ := hb.store.ListChanges(hb.ctx, 0, []string{"north"}, 5000)
	if len(seen) != len(want) {
		t.Fatalf("saw %d changes, log has %d in scope", len(seen), len(want))
	}
	for i := range want {
		if seen[i].ID != want[i].ID || seen[i].Seq != want[i].Seq {
			t.Fatalf("change %d: saw %s@%d, want %s@%d", i, seen[i].ID, seen[i].Seq, want[i].ID, want[i].Seq)
		}
	}
}

// TestSlowSubscriberDropped has one client that stops reading while changes keep coming: the
// hub drops it (error frame, close 1013) without delaying a second client, which receives
// every change.
func TestSlowSubscriberDropped(t *testing.T) {
	hb := newHub(t, func(h *server.Handler) {
		h.SubscriberBuffer = 2
		h.WriteTimeout = 30 * time.Second
	})
	// The slow client's socket takes little: its receive buffer is set before connecting,
	// so the window it advertises stays small and the hub's writes to it block soon.
	small := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
			return serr
		}}
		return d.DialContext(ctx, network, addr)
	}
	slow, _, err := hb.dial(hb.north, 0, false, small)
	if err != nil {
		t.Fatal(err)
	}
	slow.untilReady()
	fast, _, err := hb.dial(hb.north, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, from := fast.untilReady()
	var (
		mu   sync.Mutex
		got  []domain.Change
		done = make(chan error, 1)
	)
	const batches, per = 40, 25
	go func() {
		for {
			f, err := fast.next(10 * time.Second)
			if err != nil {
				done <- err
				return
			}
			if fc, ok := f.(*wire.FrameChanges); ok {
				mu.Lock()
				got = append(got, fc.Changes...)
				n := len(got)
				mu.Unlock()
				if n >= batches*per*2 {
					done <- nil
					return
				}
			}
		}
	}()
	// Incompressible descriptions fill the slow client's socket quickly.
	for range batches {
		var cs []domain.Change
		for range per {
			c := hb.ticket("north", "bulk")
			b := make([]byte, 3000)
			rand.Read(b)
			c.Patch["description"], _ = json.Marshal(base64.StdEncoding.EncodeToString(b))
			cs = append(cs, c)
		}
		hb.push(hb.north, cs...)
	}
	if err := <-done; err != nil {
		t.Fatalf("fast client: %v", err)
	}
	mu.Lock()
	for i, c := range got {
		if c.Seq != from+int64(i)+1 {
			t.Fatalf("fast client change %d has seq %d, want %d", i, c.Seq, from+int64(i)+1)
		}
	}
	mu.Unlock()
	// The slow client, reading at last, finds the error frame and the 1013 close after
	// whatever the socket buffered.
	var sawErr bool
	head, _ := hb.store.LastSeq(hb.ctx)
	for {
		f, err := slow.next(10 * time.Second)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
				t.Fatalf("slow client ended with %v, want close 1013", err)
			}
			break
		}
		switch f := f.(type) {
		case *wire.FrameError:
			sawErr = f.Code == domain.CodeUnavailable && f.Retry
		case *wire.FrameHeartbeat:
			if f.Cursor == head {
				t.Fatal("the slow client was never dropped: it caught up with everything")
			}
		}
	}
	if !sawErr {
		t.Error("slow client got no retryable unavailable error frame")
	}
}

// TestShutdownClosesStreams: Close ends streams with a retryable error and close 1001.
func TestShutdownClosesStreams(t *testing.T) {
	hb := newHub(t, nil)
	c, _, err := hb.dial(hb.north, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.untilReady()
	go hb.h.Close()
	for {
		f, err := c.next(5 * time.Second)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("close = %v, want 1001", err)
			}
			return
		}
		if ef, ok := f.(*wire.FrameError); ok && (!ef.Retry || ef.Code != domain.CodeUnavailable) {
			t.Errorf("shutdown error frame %+v", ef)
		}
	}
}

// streamFrames reads aiff_sync_stream_frames_total{source} from the default registry.
func streamFrames(t *testing.T, source string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "aiff_sync_stream_frames_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestStreamsShareFrames: streams with the same read scope at the same position are sent one
// frame built once; streams of other scopes get frames of their own, each with exactly its
// scope's changes.
func TestStreamsShareFrames(t *testing.T) {
	hb := newHub(t, nil)
	_, north2, err := hb.store.CreateEdgeCredential(hb.ctx, syncstore.EdgeCredential{Name: "edge-north-2", Zones: []string{"north"}})
	if err != nil {
		t.Fatal(err)
	}
	_, south, err := hb.store.CreateEdgeCredential(hb.ctx, syncstore.EdgeCredential{Name: "edge-south", Zones: []string{"south"}})
	if err != nil {
		t.Fatal(err)
	}
	_, both, err := hb.store.CreateEdgeCredential(hb.ctx, syncstore.EdgeCredential{Name: "edge-both", Zones: []string{"south", "north"}})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"north": hb.north, "north2": north2, "south": south, "both": both, "admin": hb.admin}
	clients := map[string]*wsClient{}
	for name, tok := range tokens {
		c, _, err := hb.dial(tok, 0, false, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", name, err)
		}
		c.untilReady()
		clients[name] = c
	}
	built0, shared0 := streamFrames(t, "built"), streamFrames(t, "shared")
	var batch []domain.Change
	for i := range 30 {
		zone := "north"
		if i%3 == 0 {
			zone = "south"
		}
		batch = append(batch, hb.ticket(zone, fmt.Sprintf("shared %d", i)))
	}
	hb.push(hb.admin, batch...) // one commit: one run of the log for the fan-out
	// The creates are followed in the log by the hub's changes that number the tickets.
	want := map[string][]string{}
	for range 2 {
		for _, c := range batch {
			for _, name := range []string{"both", "admin", c.Zone} {
				want[name] = append(want[name], c.EntityID)
			}
			if c.Zone == "north" {
				want["north2"] = append(want["north2"], c.EntityID)
			}
		}
	}
	for name, c := range clients {
		var got []string
		for len(got) < len(want[name]) {
			f, err := c.next(5 * time.Second)
			if err != nil {
				t.Fatalf("%s: %v after %d changes", name, err, len(got))
			}
			if f, ok := f.(*wire.FrameChanges); ok {
				for _, ch := range f.Changes {
					got = append(got, ch.EntityID)
				}
			}
		}
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s got changes of %v, want %v", name, got, want[name])
		}
	}
	// north and north2 share a scope; south, both and admin have one each (admin's is every
	// zone, which is not the same scope as both's two, even while only two zones exist). A
	// stream counts its frame once written, so a client may hold it a moment before that:
	// wait for all five to be counted.
	var built, shared float64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		built, shared = streamFrames(t, "built")-built0, streamFrames(t, "shared")-shared0
		if built+shared >= 5 || time.Now().After(deadline) {
			break
		}
	}
	if built != 4 || shared != 1 {
		t.Errorf("frames built %v, shared %v; want 4 and 1", built, shared)
	}
}
