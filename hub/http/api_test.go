package http_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
)

func TestAuthFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		// JSON login answered OAuth2-style, with the user and no password hash.
		r := e.do("POST", "/api/auth/login", "", map[string]string{"username": "dispatcher", "password": password})
		var s map[string]any
		e.mustJSON(r, 200, &s)
		if s["token_type"] != "bearer" || s["expires_in"] != float64(1800) || s["access_token"] == "" || s["refresh_token"] == "" {
			t.Fatalf("login response %s", r.body)
		}
		if strings.Contains(string(r.body), "argon2") || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("login leaks the hash or is cacheable: %s %v", r.body, r.header)
		}
		// Form-encoded OAuth2 password grant.
		form := url.Values{"grant_type": {"password"}, "username": {"viewer"}, "password": {password}}.Encode()
		r = e.do("POST", "/api/auth/login", "", form, "Content-Type", "application/x-www-form-urlencoded")
		var fs auth.Session
		e.mustJSON(r, 200, &fs)
		if fs.User.Role != domain.RoleViewer {
			t.Fatalf("form login user %+v", fs.User)
		}
		e.problem(e.do("POST", "/api/auth/login", "", url.Values{"grant_type": {"client_credentials"}, "username": {"a"}, "password": {"b"}}.Encode(),
			"Content-Type", "application/x-www-form-urlencoded"), 400, "grant_type")
		// Wrong password and unknown user: the same 401.
		p1 := e.problem(e.do("POST", "/api/auth/login", "", map[string]string{"username": "viewer", "password": "nope"}), 401, "")
		p2 := e.problem(e.do("POST", "/api/auth/login", "", map[string]string{"username": "ghost", "password": "nope"}), 401, "")
		if p1.Detail != p2.Detail || p1.Type != hubhttpType("unauthorized") {
			t.Fatalf("login failures differ: %+v vs %+v", p1, p2)
		}
		// me
		var me domain.User
		e.mustJSON(e.do("GET", "/api/auth/me", fs.AccessToken, nil), 200, &me)
		if me.Username != "viewer" {
			t.Fatalf("me = %+v", me)
		}
		// Refresh rotates; the old refresh token is dead; logout revokes the new one.
		var s2 auth.Session
		e.mustJSON(e.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": fs.RefreshToken}), 200, &s2)
		e.problem(e.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": fs.RefreshToken}), 401, "")
		if r := e.do("POST", "/api/auth/logout", "", map[string]string{"refresh_token": s2.RefreshToken}); r.status != 204 {
			t.Fatalf("logout = %d %s", r.status, r.body)
		}
		e.problem(e.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": s2.RefreshToken}), 401, "")
		// Form refresh.
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.refresh["admin"]}}.Encode()
		e.mustJSON(e.do("POST", "/api/auth/refresh", "", form, "Content-Type", "application/x-www-form-urlencoded"), 200, nil)
		// Access tokens expire with the clock.
		e.clock.Advance(31 * time.Minute)
		p := e.problem(e.do("GET", "/api/auth/me", fs.AccessToken, nil), 401, "")
		if r := e.do("GET", "/api/auth/me", fs.AccessToken, nil); !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without WWW-Authenticate: %v", r.header)
		}
		if p.Detail != "access token expired" {
			t.Fatalf("expired token detail %q", p.Detail)
		}
	})
}

func hubhttpType(slug string) string { return "https://aiff.dev/problems/" + slug }

func TestRegister(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		in := map[string]any{"username": "newbie", "email": "n@example.com", "password": "longenough", "role": "field", "team_id": e.teamN.ID}
		e.problem(e.do("POST", "/api/auth/register", e.tokens["dispatcher"], in), 403, "")
		var u map[string]any
		e.mustJSON(e.do("POST", "/api/auth/register", e.tokens["admin"], in), 201, &u)
		if u["username"] != "newbie" || u["role"] != "field" || u["team_id"] != e.teamN.ID || u["password_hash"] != nil {
			t.Fatalf("registered %v", u)
		}
		e.mustJSON(e.do("POST", "/api/auth/login", "", map[string]string{"username": "newbie", "password": "longenough"}), 200, nil)
		before := e.digest()
		e.problem(e.do("POST", "/api/auth/register", e.tokens["admin"], in), 409, "")
		bad := map[string]any{"username": "x y", "password": "longenough", "role": "viewer"}
		e.problem(e.do("POST", "/api/auth/register", e.tokens["admin"], bad), 400, "username")
		bad = map[string]any{"username": "okname", "password": "longenough", "role": "root"}
		e.problem(e.do("POST", "/api/auth/register", e.tokens["admin"], bad), 400, "role")
		bad = map[string]any{"username": "okname", "password": "1", "role": "viewer"}
		e.problem(e.do("POST", "/api/auth/register", e.tokens["admin"], bad), 400, "password")
		bad = map[string]any{"username": "okname", "password": "longenough", "role": "field"}
		e.problem(e.do("POST", "/api/auth/register", e.tokens["admin"], bad), 400, "team_id")
		bad = map[string]any{"username": "okname", "password": "longenough", "role": "field", "team_id": domain.NewID(t0)}
		e.problem(e.do("POST", "/api/auth/register", e.tokens["admin"], bad), 400, "team_id")
		e.unchanged(before)
	})
}

func TestTeamsAndZones(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		var zl struct{ Items []domain.Zone }
		e.mustJSON(e.do("GET", "/api/zones", e.tokens["field"], nil), 200, &zl)
		if len(zl.Items) != 2 {
			t.Fatalf("zones %+v", zl)
		}
		var tm domain.Team
		e.mustJSON(e.do("POST", "/api/auth/teams", e.tokens["dispatcher"], map[string]any{"name": "Night crew", "zone": "south", "skills": []string{"Fiber"}, "capacity": 3}), 201, &tm)
		if tm.ID == "" || tm.Capacity != 3 || tm.Skills[0] != "fiber" {
			t.Fatalf("created %+v", tm)
		}
		var tl struct{ Items []domain.Team }
		e.mustJSON(e.do("GET", "/api/auth/teams?zone=south", e.tokens["viewer"], nil), 200, &tl)
		if len(tl.Items) != 2 {
			t.Fatalf("south teams %+v", tl.Items)
		}
		e.mustJSON(e.do("GET", "/api/auth/teams?zone=south&status=available&active=true", e.tokens["field"], nil), 200, &tl)
		e.mustJSON(e.do("PUT", "/api/auth/teams/"+tm.ID, e.tokens["dispatcher"], map[string]any{"status": "busy"}), 200, &tm)
		if tm.Status != domain.TeamBusy || tm.Name != "Night crew" {
			t.Fatalf("updated %+v", tm)
		}
		e.problem(e.do("PUT", "/api/auth/teams/"+tm.ID, e.tokens["dispatcher"], map[string]any{"capacity": 0}), 400, "capacity")
		e.problem(e.do("PUT", "/api/auth/teams/"+tm.ID, e.tokens["dispatcher"], map[string]any{}), 400, "")
		e.problem(e.do("POST", "/api/auth/teams", e.tokens["dispatcher"], map[string]any{"name": "Ghost", "zone": "atlantis"}), 400, "zone")
		var got domain.Team
		e.mustJSON(e.do("GET", "/api/auth/teams/"+tm.ID, e.tokens["field"], nil), 200, &got)
		// A team with active tickets cannot go.
		e.problem(e.do("DELETE", "/api/auth/teams/"+e.teamN.ID, e.tokens["dispatcher"], nil), 409, "")
		if r := e.do("DELETE", "/api/auth/teams/"+tm.ID, e.tokens["dispatcher"], nil); r.status != 204 {
			t.Fatalf("delete team %d %s", r.status, r.body)
		}
		e.problem(e.do("GET", "/api/auth/teams/"+tm.ID, e.tokens["admin"], nil), 404, "")
		e.problem(e.do("GET", "/api/auth/teams/nope", e.tokens["admin"], nil), 404, "")
		for _, p := range []string{"/api/auth/teams/analytics/zones", "/api/auth/teams/analytics/performance?from=2030-01-01&to=2030-12-31"} {
			var l struct{ Items []map[string]any }
			e.mustJSON(e.do("GET", p, e.tokens["viewer"], nil), 200, &l)
			if len(l.Items) == 0 {
				t.Errorf("%s: empty", p)
			}
		}
	})
}

func TestTickets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		d := e.tokens["dispatcher"]
		var tk domain.Ticket
		r := e.do("POST", "/api/tickets", d, map[string]any{"title": "Broken valve", "zone": "south", "priority": "critical", "skills": []string{"plumbing"}, "lat": 1.5, "lng": 2.5})
		e.mustJSON(r, 201, &tk)
		if tk.Number == "" || tk.Status != domain.StatusOpen || tk.Priority != domain.PriorityCritical || !tk.DueDate.Equal(t0.Add(4*time.Hour)) {
			t.Fatalf("created %+v", tk)
		}
		if r.header.Get("Location") != "/api/tickets/"+tk.ID {
			t.Fatalf("Location %q", r.header.Get("Location"))
		}
		var got domain.Ticket
		e.mustJSON(e.do("GET", "/api/tickets/"+tk.ID, e.tokens["viewer"], nil), 200, &got)
		if got.ID != tk.ID || got.Title != "Broken valve" {
			t.Fatalf("get %+v", got)
		}
		// Assign, start, resolve; rating only once resolved.
		var al struct{ Items []domain.Ticket }
		e.mustJSON(e.do("POST", "/api/tickets/assign", d, map[string]any{"ticket_ids": []string{tk.ID, e.unassd.ID}, "team_id": e.teamS.ID}), 200, &al)
		if len(al.Items) != 2 || al.Items[0].Status != domain.StatusAssigned || *al.Items[0].AssignedTeam != e.teamS.ID {
			t.Fatalf("assign %+v", al)
		}
		e.clock.Advance(10 * time.Minute)
		e.mustJSON(e.do("PUT", "/api/tickets/"+tk.ID, e.tokens["field2"], map[string]any{"status": "in_progress"}), 200, &got)
		if got.Status != domain.StatusInProgress || got.StartedAt == nil {
			t.Fatalf("start %+v", got)
		}
		e.mustJSON(e.do("PUT", "/api/tickets/"+tk.ID, e.tokens["field2"], map[string]any{"status": "resolved", "customer_rating": 5}), 200, &got)
		if got.Status != domain.StatusResolved || *got.CustomerRating != 5 {
			t.Fatalf("resolve %+v", got)
		}
		// Partial update by a dispatcher leaves other fields alone.
		e.mustJSON(e.do("PUT", "/api/tickets/"+e.unassd.ID, d, map[string]any{"title": "Renamed", "priority": "low"}), 200, &got)
		if got.Title != "Renamed" || got.Priority != domain.PriorityLow || got.Zone != "north" {
			t.Fatalf("patch %+v", got)
		}
		// List: filters, sort, paging with cursor and total.
		var page domain.Page[domain.Ticket]
		e.mustJSON(e.do("GET", "/api/tickets?status=assigned,resolved&sort=ticket_number&limit=1&total=true", e.tokens["viewer"], nil), 200, &page)
		if len(page.Items) != 1 || page.Total == nil || *page.Total != 4 || page.NextCursor == "" {
			t.Fatalf("page 1 %+v", page)
		}
		seen := []string{page.Items[0].ID}
		for page.NextCursor != "" {
			c := page.NextCursor
			page = domain.Page[domain.Ticket]{}
			e.mustJSON(e.do("GET", "/api/tickets?status=assigned,resolved&sort=ticket_number&limit=1&cursor="+url.QueryEscape(c), e.tokens["viewer"], nil), 200, &page)
			for _, it := range page.Items {
				seen = append(seen, it.ID)
			}
		}
		if len(seen) != 4 {
			t.Fatalf("paged %v", seen)
		}
		e.mustJSON(e.do("GET", "/api/tickets?zone=south&priority=critical&q=valve", e.tokens["viewer"], nil), 200, &page)
		if len(page.Items) != 1 || page.Items[0].ID != tk.ID || page.Total != nil {
			t.Fatalf("search %+v", page)
		}
		e.mustJSON(e.do("GET", "/api/tickets?team=none", e.tokens["viewer"], nil), 200, &page)
		if len(page.Items) != 0 {
			t.Fatalf("unassigned %+v", page.Items)
		}
		e.mustJSON(e.do("GET", "/api/tickets?due_before=2030-03-01T14:00:00Z&due_after=2030-01-01", e.tokens["viewer"], nil), 200, &page)
		if len(page.Items) != 1 || page.Items[0].ID != tk.ID {
			t.Fatalf("due window %+v", page.Items)
		}
		// Analytics.
		var ov domain.TicketOverview
		e.mustJSON(e.do("GET", "/api/tickets/analytics/overview", e.tokens["viewer"], nil), 200, &ov)
		if ov.Total != 4 || ov.ByStatus[domain.StatusResolved] != 1 {
			t.Fatalf("overview %+v", ov)
		}
		var perf struct {
			Trends []domain.TrendPoint
			Teams  []domain.TeamPerformance
		}
		e.mustJSON(e.do("GET", "/api/tickets/analytics/performance?zone=south", e.tokens["dispatcher"], nil), 200, &perf)
		if perf.Trends == nil || perf.Teams == nil {
			t.Fatalf("performance %+v", perf)
		}
		// Delete, then it is gone.
		if r := e.do("DELETE", "/api/tickets/"+e.unassd.ID, d, nil); r.status != 204 {
			t.Fatalf("delete %d %s", r.status, r.body)
		}
		e.problem(e.do("GET", "/api/tickets/"+e.unassd.ID, d, nil), 404, "")
		e.problem(e.do("DELETE", "/api/tickets/"+e.unassd.ID, d, nil), 404, "")
	})
}

// TestFieldScope: a field user sees and changes only their own team's tickets, and only
// status and rating.
func TestFieldScope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		f := e.tokens["field"]
		var page domain.Page[domain.Ticket]
		e.mustJSON(e.do("GET", "/api/tickets?total=true", f, nil), 200, &page)
		if len(page.Items) != 1 || page.Items[0].ID != e.own.ID || *page.Total != 1 {
			t.Fatalf("field list %+v", page)
		}
		// Asking for another team does not widen the scope.
		e.mustJSON(e.do("GET", "/api/tickets?team="+e.teamS.ID, f, nil), 200, &page)
		if len(page.Items) != 0 {
			t.Fatalf("field list of other team %+v", page.Items)
		}
		e.mustJSON(e.do("GET", "/api/tickets/"+e.own.ID, f, nil), 200, nil)
		before := e.digest()
		e.problem(e.do("GET", "/api/tickets/"+e.other.ID, f, nil), 404, "")
		e.problem(e.do("GET", "/api/tickets/"+e.unassd.ID, f, nil), 404, "")
		e.problem(e.do("PUT", "/api/tickets/"+e.other.ID, f, map[string]any{"status": "in_progress"}), 404, "")
		e.problem(e.do("PUT", "/api/tickets/"+e.own.ID, f, map[string]any{"status": "in_progress", "title": "mine now"}), 403, "title")
		e.problem(e.do("PUT", "/api/tickets/"+e.own.ID, f, map[string]any{"assigned_team": e.teamS.ID}), 403, "assigned_team")
		e.problem(e.do("PUT", "/api/tickets/"+e.own.ID, f, map[string]any{"status": "cancelled"}), 403, "status")
		e.problem(e.do("DELETE", "/api/tickets/"+e.own.ID, f, nil), 403, "")
		e.problem(e.do("POST", "/api/tickets/assign", f, map[string]any{"ticket_ids": []string{e.other.ID}, "team_id": e.teamN.ID}), 403, "")
		e.problem(e.do("GET", "/api/tickets/analytics/overview", f, nil), 403, "")
		e.problem(e.do("PUT", "/api/tickets/"+e.own.ID, e.tokens["viewer"], map[string]any{"status": "in_progress"}), 403, "")
		e.unchanged(before)
		var got domain.Ticket
		e.mustJSON(e.do("PUT", "/api/tickets/"+e.own.ID, f, map[string]any{"status": "in_progress"}), 200, &got)
		if got.Status != domain.StatusInProgress {
			t.Fatalf("field start %+v", got)
		}
	})
}

// TestStoredVerbatim: injection strings are data: stored as sent, returned JSON-escaped, and
// they match nothing when used as a search.
func TestStoredVerbatim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		evil := []string{
			`'; DROP TABLE tickets; --`,
			`<script>alert("x")</script>`,
			`" OR 1=1 --`,
			`Robert'); DELETE FROM users WHERE ('1'='1`,
			"emoji 🚒 and ünïcödé and \\u0000 spelled out",
		}
		for i, s := range evil {
			var tk domain.Ticket
			r := e.do("POST", "/api/tickets", e.tokens["dispatcher"], map[string]any{"title": fmt.Sprintf("evil %d", i), "description": s, "location": s, "zone": "north"})
			e.mustJSON(r, 201, &tk)
			if strings.Contains(string(r.body), "<script>") {
				t.Fatalf("markup not escaped in JSON: %s", r.body)
			}
			var got domain.Ticket
			e.mustJSON(e.do("GET", "/api/tickets/"+tk.ID, e.tokens["viewer"], nil), 200, &got)
			if got.Description != s || got.Location != s {
				t.Fatalf("stored %q as %q / %q", s, got.Description, got.Location)
			}
		}
		// NUL cannot be stored as text on every backend: 400 naming the field, nothing written.
		before := e.digest()
		e.problem(e.do("POST", "/api/tickets", e.tokens["dispatcher"], map[string]any{"title": "nul", "description": "a\u0000b", "zone": "north"}), 400, "description")
		e.unchanged(before)
		var page domain.Page[domain.Ticket]
		e.mustJSON(e.do("GET", "/api/tickets?q="+url.QueryEscape(`' OR '1'='1`), e.tokens["viewer"], nil), 200, &page)
		if len(page.Items) != 0 {
			t.Fatalf("injection search matched %d tickets", len(page.Items))
		}
		e.mustJSON(e.do("GET", "/api/tickets?q="+url.QueryEscape(`%`), e.tokens["viewer"], nil), 200, &page)
		if len(page.Items) != 0 {
			t.Fatalf("%% search matched %d tickets (LIKE wildcard not escaped)", len(page.Items))
		}
		// The tables are still there.
		e.mustJSON(e.do("GET", "/api/tickets?limit=500&total=true", e.tokens["viewer"], nil), 200, &page)
		if *page.Total != 3+len(evil) {
			t.Fatalf("total %d", *page.Total)
		}
	})
}
