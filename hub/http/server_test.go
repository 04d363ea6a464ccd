package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	hubhttp "github.com/aiff/aiff/hub/http"
	"github.com/aiff/aiff/hub/storetest"
)

var update = flag.Bool("update", false, "rewrite ROLES.md")

func openSQLite(t *testing.T, now func() time.Time) domain.Store { return storetest.OpenSQLite(t, now) }

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.start()
	for i := range 5 {
		e.problem(e.do("POST", "/api/auth/login", "", map[string]string{"username": "viewer", "password": fmt.Sprint("guess", i)}), 401, "")
	}
	// Locked: even the right password is refused, with Retry-After.
	r := e.do("POST", "/api/auth/login", "", map[string]string{"username": "viewer", "password": password})
	p := e.problem(r, 429, "")
	wait, err := strconv.Atoi(r.header.Get("Retry-After"))
	if p.Type != hubhttpType("too-many-requests") || err != nil || wait < 1 {
		t.Fatalf("locked login: %+v %v", p, r.header)
	}
	// Other users are not affected; the lockout ends with the clock.
	e.mustJSON(e.do("POST", "/api/auth/login", "", map[string]string{"username": "admin", "password": password}), 200, nil)
	e.clock.Advance(time.Duration(wait) * time.Second)
	e.mustJSON(e.do("POST", "/api/auth/login", "", map[string]string{"username": "viewer", "password": password}), 200, nil)
}

// slowStore blocks ListTickets until released, to hold a request in flight.
type slowStore struct {
	domain.Store
	entered chan struct{}
	release chan struct{}
}

func (s *slowStore) ListTickets(ctx context.Context, f domain.TicketFilter) (domain.Page[domain.Ticket], error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.ListTickets(ctx, f)
}

func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t, openSQLite)
	slow := &slowStore{Store: e.store, entered: make(chan struct{}), release: make(chan struct{})}
	srv := hubhttp.NewServer()
	srv.Addr = "127.0.0.1:0"
	srv.Store, srv.Auth, srv.Now = slow, e.auth, e.clock.Now
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	if srv.Port() == 0 || !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Fatalf("bound %d %q", srv.Port(), srv.URL())
	}
	sess, err := e.auth.Login(context.Background(), "viewer", password, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL()+"/api/tickets", nil)
		req.Header.Set("Authorization", "Bearer "+sess.AccessToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	<-slow.entered // the request is now in the handler
	closed := make(chan error, 1)
	go func() { closed <- srv.Close(context.Background()) }()
	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Get(srv.URL() + "/healthz")
		if err != nil {
			break
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections during shutdown")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the in-flight request finished", err)
	default:
	}
	close(slow.release)
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"items"`) {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestOpenAPICompleteness walks chi's routes and fails if any is missing from the document.
func TestOpenAPICompleteness(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.start()
	r := e.do("GET", "/openapi.json", "", nil)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	e.mustJSON(r, 200, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	routes, ok := e.srv.Handler().(chi.Routes)
	if !ok {
		t.Fatal("handler is not a chi router")
	}
	n := 0
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		n++
		p := route
		if strings.HasSuffix(p, "/*") {
			p = strings.TrimSuffix(p, "*") + "{path}"
		}
		if len(p) > 1 {
			p = strings.TrimSuffix(p, "/")
		}
		op, ok := doc.Paths[p][strings.ToLower(method)]
		if !ok {
			t.Errorf("route %s %s is not in openapi.json", method, route)
			return nil
		}
		if op["summary"] == "" || op["responses"] == nil || op["x-roles"] == nil {
			t.Errorf("%s %s: incomplete operation %v", method, route, op)
		}
		return nil
	})
	if err != nil || n < 25 {
		t.Fatalf("walked %d routes: %v", n, err)
	}
	// Every $ref points at a schema that exists.
	for _, ref := range refsIn(r.body) {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("dangling $ref %s", ref)
		}
	}
	for _, want := range []string{"Ticket", "TicketPatch", "NewTicketInput", "TeamInput", "Problem", "PageTicket"} {
		if _, ok := doc.Components.Schemas[want]; !ok {
			t.Errorf("schema %s missing", want)
		}
	}
	// The docs page renders the document without any external resource.
	d := e.do("GET", "/docs", "", nil)
	if d.status != 200 || !strings.Contains(string(d.body), "/openapi.json") || strings.Contains(string(d.body), "https://") ||
		!strings.Contains(d.header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("docs page: %d %v", d.status, d.header)
	}
}

func refsIn(b []byte) []string {
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, v := range x {
				if s, ok := v.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	var v any
	json.Unmarshal(b, &v)
	walk(v)
	return refs
}

// TestRolesMarkdown keeps ROLES.md equal to what the route table enforces.
func TestRolesMarkdown(t *testing.T) {
	got := hubhttp.RolesMarkdown()
	if *update {
		if err := os.WriteFile("ROLES.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("ROLES.md")
	if err != nil {
		t.Fatalf("%v (run go test -run TestRolesMarkdown -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("ROLES.md is stale; run go test ./hub/http -run TestRolesMarkdown -update (-file +table):\n%s", diff)
	}
	for _, rt := range hubhttp.Routes() {
		if !strings.Contains(got, "`"+rt.Pattern+"`") {
			t.Errorf("ROLES.md lacks %s", rt.Pattern)
		}
	}
	checkReadmeRoles(t, got)
}

// checkReadmeRoles keeps the README's role table (between the roles markers) equal to the
// table part of ROLES.md, so the README never documents rules the server does not enforce.
func checkReadmeRoles(t *testing.T, roles string) {
	t.Helper()
	const begin, end = "<!-- roles:begin -->\n", "\n<!-- roles:end -->"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(roles, "\n\n", 3)
	if len(parts) != 3 {
		t.Fatalf("ROLES.md has no header paragraph to skip")
	}
	want := strings.TrimSpace(parts[2])
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the roles markers")
	}
	if *update {
		s = s[:i+len(begin)] + want + s[j:]
		if err := os.WriteFile("../../README.md", []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, s[i+len(begin):j]); diff != "" {
		t.Errorf("README role table is stale; run go test ./hub/http -run TestRolesMarkdown -update (-ROLES.md +README):\n%s", diff)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.start()
	e.mustJSON(e.do("GET", "/api/tickets/"+e.own.ID, e.tokens["viewer"], nil), 200, nil)
	e.do("GET", "/api/tickets/"+domain.NewID(t0), e.tokens["viewer"], nil)
	m := string(e.do("GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`aiff_http_requests_total{code="200",method="GET",route="/api/tickets/{id}"} 1`,
		`aiff_http_requests_total{code="404",method="GET",route="/api/tickets/{id}"} 1`,
		`aiff_http_request_duration_seconds_bucket{route="/api/tickets/{id}",le="+Inf"} 2`,
		`aiff_db_`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, e.own.ID) {
		t.Error("metrics carry raw ids")
	}
}

func TestWebAndOps(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.start()
	for _, tc := range []struct{ path, ct string }{
		{"/", "text/html; charset=utf-8"},
		{"/field", "text/html; charset=utf-8"},
		{"/sw.js", "text/javascript; charset=utf-8"},
		{"/manifest.webmanifest", "application/manifest+json"},
	} {
		r := e.do("GET", tc.path, "", nil)
		if r.status != 200 || r.header.Get("Content-Type") != tc.ct || r.header.Get("Cache-Control") != "no-cache" || r.header.Get("ETag") == "" {
			t.Errorf("%s: %d %v", tc.path, r.status, r.header)
			continue
		}
		if r2 := e.do("GET", tc.path, "", nil, "If-None-Match", r.header.Get("ETag")); r2.status != 304 {
			t.Errorf("%s revalidation: %d", tc.path, r2.status)
		}
	}
	for _, p := range []string{"/nope.js", "/js/", "/..%2f..%2fetc/passwd", "/api/unknown"} {
		e.problem(e.do("GET", p, "", nil), 404, "")
	}
	if r := e.do("GET", "/healthz", "", nil); r.status != 200 || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("healthz %d %v", r.status, r.header)
	}
	e.mustJSON(e.do("GET", "/readyz", "", nil), 200, nil)
	// A client request id is echoed; a hostile one is replaced.
	if r := e.do("GET", "/healthz", "", nil, "X-Request-ID", "lb-123"); r.header.Get("X-Request-ID") != "lb-123" {
		t.Errorf("request id not kept: %v", r.header)
	}
	if r := e.do("GET", "/healthz", "", nil, "X-Request-ID", "<script>"); r.header.Get("X-Request-ID") == "<script>" {
		t.Error("hostile request id echoed")
	}
	// CORS is off by default.
	if r := e.do("GET", "/api/zones", e.tokens["viewer"], nil, "Origin", "https://evil.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS answered by default")
	}
}

func TestReadyzWhenStoreDown(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.start()
	e.store.Close()
	e.problem(e.do("GET", "/readyz", "", nil), 503, "")
}

// failingStore fails ListTickets with driver-like text that must never reach a client.
type failingStore struct{ domain.Store }

func (failingStore) ListTickets(context.Context, domain.TicketFilter) (domain.Page[domain.Ticket], error) {
	return domain.Page[domain.Ticket]{}, fmt.Errorf("list: %w", errors.New(`pq: relation "secret_table" password=hunter2`))
}

func TestInternalErrorsAndPanics(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.srv.Store = failingStore{e.store}
	e.srv.Mount("/api/boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaboom secret") }))
	e.start()
	for _, path := range []string{"/api/tickets", "/api/boom"} {
		r := e.do("GET", path, e.tokens["viewer"], nil)
		p := e.problem(r, 500, "")
		if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "goroutine") {
			t.Errorf("%s leaks internals: %s", path, r.body)
		}
		if !strings.Contains(e.logs.String(), p.RequestID) {
			t.Errorf("%s: request id %s not logged", path, p.RequestID)
		}
	}
	if !strings.Contains(e.logs.String(), "hunter2") || !strings.Contains(e.logs.String(), "kaboom") {
		t.Error("internal errors not logged")
	}
	// Mounted handlers sit behind authentication.
	e.problem(e.do("GET", "/api/boom", "", nil), 401, "")
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, openSQLite)
	tb := hubhttp.NewTokenBucket(1, 3)
	tb.Now = e.clock.Now
	e.start()
	e.srv.RateLimiter = tb // after the logins; requests here are sequential
	e.mustJSON(e.do("GET", "/api/zones", e.tokens["viewer"], nil), 200, nil)
	e.mustJSON(e.do("GET", "/api/zones", e.tokens["viewer"], nil), 200, nil)
	e.mustJSON(e.do("GET", "/api/zones", e.tokens["viewer"], nil), 200, nil)
	r := e.do("GET", "/api/zones", e.tokens["viewer"], nil)
	e.problem(r, 429, "")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Limits are per caller.
	e.mustJSON(e.do("GET", "/api/zones", e.tokens["admin"], nil), 200, nil)
	e.clock.Advance(time.Second)
	e.mustJSON(e.do("GET", "/api/zones", e.tokens["viewer"], nil), 200, nil)
}
