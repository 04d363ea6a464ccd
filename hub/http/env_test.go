package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	hubhttp "github.com/aiff/aiff/hub/http"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/web"
)

// backends are the stores every API test runs against.
var backends = []struct {
	name string
	open func(t *testing.T, now func() time.Time) domain.Store
}{
	{"sqlite", func(t *testing.T, now func() time.Time) domain.Store { return storetest.OpenSQLite(t, now) }},
	{"postgres", func(t *testing.T, now func() time.Time) domain.Store { return storetest.OpenPostgres(t, now) }},
}

// forEachBackend runs fn once per store implementation.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fn(t, newEnv(t, b.open))
		})
	}
}

const password = "pass-word-1"

var (
	hashOnce sync.Once
	pwHash   string
)

// env is a running API over a seeded store: zones north and south, a team in each, one user
// per role (field users in north and south) and three tickets.
type env struct {
	t      *testing.T
	clock  *storetest.Clock
	store  domain.Store
	srv    *hubhttp.Server
	auth   *auth.Service
	http   *httptest.Server
	logs   *bytes.Buffer
	secret []byte

	teamN, teamS       domain.Team
	own, other, unassd domain.Ticket // own: north, assigned to teamN; other: south/teamS; unassd: north, open
	tokens             map[string]string
	refresh            map[string]string
}

var t0 = time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, open func(t *testing.T, now func() time.Time) domain.Store) *env {
	t.Helper()
	clock := storetest.NewClock(t0)
	st := open(t, clock.Now)
	e := &env{t: t, clock: clock, store: st, logs: &bytes.Buffer{}, secret: []byte(strings.Repeat("s", 32)),
		tokens: map[string]string{}, refresh: map[string]string{}}
	iss, err := auth.NewHS256Issuer(e.secret)
	if err != nil {
		t.Fatal(err)
	}
	iss.Now = clock.Now
	e.auth = auth.NewService(st, iss)
	e.auth.Now = clock.Now
	e.auth.UserThrottle.(*auth.MemoryThrottle).Now = clock.Now
	e.auth.IPThrottle.(*auth.MemoryThrottle).Now = clock.Now
	e.srv = hubhttp.NewServer()
	e.srv.Store = st
	e.srv.Auth = e.auth
	e.srv.Web = web.FS
	e.srv.Now = clock.Now
	e.srv.RateLimiter = nil
	e.srv.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: e.logs}, nil))
	e.seed()
	return e
}

// start serves the API; tests that need extra Mounts call them before.
func (e *env) start() {
	if e.http != nil {
		return
	}
	e.http = httptest.NewServer(e.srv.Handler())
	e.t.Cleanup(e.http.Close)
	for _, u := range []string{"admin", "dispatcher", "field", "viewer", "field2"} {
		var s auth.Session
		e.mustJSON(e.do("POST", "/api/auth/login", "", map[string]string{"username": u, "password": password}), 200, &s)
		e.tokens[u], e.refresh[u] = s.AccessToken, s.RefreshToken
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (e *env) seed() {
	t, ctx := e.t, context.Background()
	hashOnce.Do(func() { pwHash, _ = auth.HashPassword(password) })
	for _, z := range []string{"north", "south"} {
		if _, err := e.store.CreateZone(ctx, domain.Zone{ID: domain.NewID(t0), Name: z, Region: "test", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	mkTeam := func(name, zone string) domain.Team {
		tm, err := domain.NewTeam(domain.TeamInput{Name: domain.Some(name), Zone: domain.Some(zone)}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if tm, err = e.store.CreateTeam(ctx, tm); err != nil {
			t.Fatal(err)
		}
		return tm
	}
	e.teamN, e.teamS = mkTeam("North crew", "north"), mkTeam("South crew", "south")
	for _, u := range []struct {
		name string
		role domain.Role
		team *string
	}{
		{"admin", domain.RoleAdmin, nil}, {"dispatcher", domain.RoleDispatcher, nil},
		{"field", domain.RoleField, &e.teamN.ID}, {"viewer", domain.RoleViewer, nil}, {"field2", domain.RoleField, &e.teamS.ID},
	} {
		_, err := e.store.CreateUser(ctx, domain.User{ID: domain.NewID(t0), Username: u.name, Role: u.role, TeamID: u.team,
			IsActive: true, PasswordHash: pwHash, CreatedAt: t0, UpdatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
	}
	mkTicket := func(title, zone string, team *domain.Team) domain.Ticket {
		tk, err := domain.NewTicket(domain.NewTicketInput{Title: title, Zone: zone, Priority: domain.PriorityHigh}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if tk, err = e.store.CreateTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
		if team != nil {
			ts, err := e.store.AssignTickets(ctx, []string{tk.ID}, team.ID, "manual")
			if err != nil {
				t.Fatal(err)
			}
			tk = ts[0]
		}
		return tk
	}
	e.own = mkTicket("Fix north pole", "north", &e.teamN)
	e.other = mkTicket("Fix south pole", "south", &e.teamS)
	e.unassd = mkTicket("Inspect north meter", "north", nil)
}

// resp is a finished response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body may be nil, a string/[]byte (sent raw) or a value (sent as JSON).
func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// mustJSON checks the status and decodes the body into v (if non-nil).
func (e *env) mustJSON(r resp, status int, v any) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			e.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// problem checks that r is a problem+json with status and (if non-empty) field, and returns it.
func (e *env) problem(r resp, status int, field string) hubhttp.Problem {
	e.t.Helper()
	var p hubhttp.Problem
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		e.t.Fatalf("content type %q, want problem+json: %s", ct, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		e.t.Fatalf("decode problem %s: %v", r.body, err)
	}
	if p.Status != status || !strings.HasPrefix(p.Type, hubhttp.ProblemBase) || p.Title == "" || p.Detail == "" || p.RequestID == "" {
		e.t.Fatalf("incomplete problem: %+v", p)
	}
	if p.RequestID != r.header.Get("X-Request-ID") {
		e.t.Fatalf("problem request_id %q != header %q", p.RequestID, r.header.Get("X-Request-ID"))
	}
	if field != "" && p.Field != field {
		e.t.Fatalf("problem field %q, want %q: %+v", p.Field, field, p)
	}
	return p
}

// digest is everything stored, for "nothing changed" checks: every ticket and team as JSON
// and the change log position.
func (e *env) digest() string {
	e.t.Helper()
	ctx := context.Background()
	page, err := e.store.ListTickets(ctx, domain.TicketFilter{Limit: 500, Sort: "ticket_number"})
	if err != nil {
		e.t.Fatal(err)
	}
	teams, err := e.store.ListTeams(ctx, domain.TeamFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	users, err := e.store.ListUsers(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	seq, err := e.store.LastSeq(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.MarshalIndent(map[string]any{"tickets": page.Items, "teams": teams, "users": users, "seq": seq}, "", " ")
	return string(b)
}

func (e *env) unchanged(before string) {
	e.t.Helper()
	if diff := cmp.Diff(before, e.digest()); diff != "" {
		e.t.Fatalf("stored data changed (-before +after):\n%s", diff)
	}
}

// userID is the id of the seeded user username.
func (e *env) userID(username string) string {
	e.t.Helper()
	u, err := e.store.GetUserByUsername(context.Background(), username)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}
