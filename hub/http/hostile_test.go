package http_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aiff/aiff/domain"
)

// TestHostileInput sends malformed, oversized, mistyped and out-of-scope requests. Each must
// get a 4xx problem+json naming the field where there is one, never a 5xx, and stored data
// must be exactly as before.
func TestHostileInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		d := e.tokens["dispatcher"]
		tk := "/api/tickets/" + e.own.ID
		unknownTeam := domain.NewID(t0)
		cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		cases := []struct {
			name         string
			method, path string
			body         any
			status       int
			field        string
			hdr          []string
		}{
			{"malformed json", "POST", "/api/tickets", `{"title": "x", `, 400, "", nil},
			{"not json", "POST", "/api/tickets", `title=x`, 400, "", nil},
			{"empty body", "POST", "/api/tickets", ``, 400, "", nil},
			{"array body", "POST", "/api/tickets", `[{"title":"x","zone":"north"}]`, 400, "", nil},
			{"null body", "PUT", tk, `null`, 400, "", nil},
			{"trailing garbage", "POST", "/api/tickets", `{"title":"x","zone":"north"} {"title":"y"}`, 400, "", nil},
			{"trailing text", "POST", "/api/tickets", `{"title":"x","zone":"north"}xyz`, 400, "", nil},
			{"10 MB body", "POST", "/api/tickets", `{"title":"` + strings.Repeat("a", 10<<20) + `","zone":"north"}`, 413, "", nil},
			{"deep nesting", "POST", "/api/tickets", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), 400, "", nil},
			{"wrong type title", "POST", "/api/tickets", `{"title":5,"zone":"north"}`, 400, "title", nil},
			{"wrong type skills", "POST", "/api/tickets", `{"title":"x","zone":"north","skills":"fiber"}`, 400, "skills", nil},
			{"wrong type due_date", "POST", "/api/tickets", `{"title":"x","zone":"north","due_date":"tomorrow"}`, 400, "due_date", nil},
			{"patch wrong type priority", "PUT", tk, `{"priority":3}`, 400, "priority", nil},
			{"patch wrong type lat", "PUT", tk, `{"lat":"north"}`, 400, "lat", nil},
			{"patch rating string", "PUT", tk, `{"customer_rating":"5"}`, 400, "customer_rating", nil},
			{"number overflow", "POST", "/api/auth/teams", `{"name":"x","zone":"north","capacity":1e400}`, 400, "capacity", nil},
			{"unknown field", "POST", "/api/tickets", `{"title":"x","zone":"north","is_admin":true}`, 400, "is_admin", nil},
			{"unknown patch field", "PUT", tk, `{"ticket_number":"TKT-1"}`, 400, "ticket_number", nil},
			{"unknown team field", "PUT", "/api/auth/teams/" + e.teamN.ID, `{"tickets_completed":99}`, 400, "tickets_completed", nil},
			{"text/plain", "POST", "/api/tickets", `{"title":"x","zone":"north"}`, 415, "", []string{"Content-Type", "text/plain"}},
			{"unknown priority", "POST", "/api/tickets", `{"title":"x","zone":"north","priority":"urgent!!"}`, 400, "priority", nil},
			{"unknown zone", "POST", "/api/tickets", `{"title":"x","zone":"atlantis"}`, 400, "zone", nil},
			{"long title", "POST", "/api/tickets", `{"title":"` + strings.Repeat("é", 201) + `","zone":"north"}`, 400, "title", nil},
			{"null title", "PUT", tk, `{"title":null}`, 400, "title", nil},
			{"empty patch", "PUT", tk, `{}`, 400, "", nil},
			{"illegal transition", "PUT", tk, `{"status":"closed"}`, 409, "status", nil},
			{"unknown status", "PUT", tk, `{"status":"teleported"}`, 400, "status", nil},
			{"rating on open ticket", "PUT", tk, `{"customer_rating":5}`, 400, "customer_rating", nil},
			{"rating out of range", "PUT", tk, `{"customer_rating":11}`, 400, "customer_rating", nil},
			{"foreign team in patch", "PUT", tk, `{"assigned_team":"` + unknownTeam + `"}`, 400, "assigned_team", nil},
			{"foreign zone in patch", "PUT", tk, `{"zone":"atlantis"}`, 400, "zone", nil},
			{"assign unknown team", "POST", "/api/tickets/assign", `{"ticket_ids":["` + e.unassd.ID + `"],"team_id":"` + unknownTeam + `"}`, 400, "team_id", nil},
			{"assign bad team id", "POST", "/api/tickets/assign", `{"ticket_ids":["` + e.unassd.ID + `"],"team_id":"1; DROP TABLE teams"}`, 400, "team_id", nil},
			{"assign bad ticket id", "POST", "/api/tickets/assign", `{"ticket_ids":["` + e.unassd.ID + `", "../../etc"],"team_id":"` + e.teamN.ID + `"}`, 400, "ticket_ids", nil},
			{"assign duplicate ids", "POST", "/api/tickets/assign", `{"ticket_ids":["` + e.unassd.ID + `","` + e.unassd.ID + `"],"team_id":"` + e.teamN.ID + `"}`, 400, "ticket_ids", nil},
			{"assign missing ticket (all or none)", "POST", "/api/tickets/assign", `{"ticket_ids":["` + e.unassd.ID + `","` + domain.NewID(t0) + `"],"team_id":"` + e.teamN.ID + `"}`, 400, "ticket_ids", nil},
			{"assign empty", "POST", "/api/tickets/assign", `{"ticket_ids":[],"team_id":"` + e.teamN.ID + `"}`, 400, "ticket_ids", nil},
			{"get non-ulid id", "GET", "/api/tickets/1%20OR%201=1", nil, 404, "", nil},
			{"get unknown id", "GET", "/api/tickets/" + domain.NewID(t0), nil, 404, "", nil},
			{"put unknown id", "PUT", "/api/tickets/" + domain.NewID(t0), `{"title":"x"}`, 404, "", nil},
			{"lowercase ulid", "GET", "/api/tickets/" + strings.ToLower(e.own.ID), nil, 404, "", nil},
			{"team non-ulid", "PUT", "/api/auth/teams/zzz", `{"name":"x"}`, 404, "", nil},
			{"limit negative", "GET", "/api/tickets?limit=-1", nil, 400, "limit", nil},
			{"limit zero", "GET", "/api/tickets?limit=0", nil, 400, "limit", nil},
			{"limit huge", "GET", "/api/tickets?limit=99999999999999999999", nil, 400, "limit", nil},
			{"limit text", "GET", "/api/tickets?limit=ten", nil, 400, "limit", nil},
			{"cursor garbage", "GET", "/api/tickets?cursor=%%%", nil, 400, "", nil},
			{"cursor not base64", "GET", "/api/tickets?cursor=!!!notbase64", nil, 400, "cursor", nil},
			{"cursor base64 non-json", "GET", "/api/tickets?cursor=" + cursor("hello"), nil, 400, "cursor", nil},
			{"cursor foreign json", "GET", "/api/tickets?cursor=" + cursor(`{"x":1}`), nil, 400, "cursor", nil},
			{"cursor wrong sort", "GET", "/api/tickets?sort=due_date&cursor=" + cursor(`{"s":"ticket_number","v":1,"id":"`+e.own.ID+`"}`), nil, 400, "cursor", nil},
			{"cursor injection", "GET", "/api/tickets?cursor=" + cursor(`{"s":"ticket_number","v":"1 OR 1=1","id":"'; DROP TABLE tickets;--"}`), nil, 400, "cursor", nil},
			{"bad status filter", "GET", "/api/tickets?status=open,bogus", nil, 400, "status", nil},
			{"bad priority filter", "GET", "/api/tickets?priority=meh", nil, 400, "priority", nil},
			{"bad sort", "GET", "/api/tickets?sort=password_hash", nil, 400, "sort", nil},
			{"bad team filter", "GET", "/api/tickets?team=x'--", nil, 400, "team", nil},
			{"bad date", "GET", "/api/tickets?due_before=yesterday", nil, 400, "due_before", nil},
			{"bad total", "GET", "/api/tickets?total=maybe", nil, 400, "total", nil},
			{"unknown query param", "GET", "/api/tickets?stauts=open", nil, 400, "stauts", nil},
			{"repeated query param", "GET", "/api/tickets?status=open&status=closed", nil, 400, "status", nil},
			{"long search", "GET", "/api/tickets?q=" + strings.Repeat("x", 201), nil, 400, "q", nil},
			{"analytics bad range", "GET", "/api/tickets/analytics/overview?from=2030-02-01&to=2030-01-01", nil, 400, "to", nil},
			{"team bad status filter", "GET", "/api/auth/teams?status=asleep", nil, 400, "status", nil},
			{"unknown route", "GET", "/api/nope", nil, 404, "", nil},
			{"wrong method", "PATCH", tk, `{"title":"x"}`, 405, "", nil},
			{"login wrong types", "POST", "/api/auth/login", `{"username":["admin"],"password":1}`, 400, "username", nil},
			{"login extra field", "POST", "/api/auth/login", `{"username":"admin","password":"x","role":"admin"}`, 400, "role", nil},
			{"refresh garbage", "POST", "/api/auth/refresh", `{"refresh_token":"' OR 1=1"}`, 401, "", nil},
		}
		before := e.digest()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := *e
				e.t = t
				var body any
				if tc.body != nil {
					body = tc.body
				}
				e.problem(e.do(tc.method, tc.path, d, body, tc.hdr...), tc.status, tc.field)
			})
		}
		// Illegal transition names both states.
		p := e.problem(e.do("PUT", tk, d, `{"status":"closed"}`), 409, "status")
		if !strings.Contains(p.Detail, "closed") || !strings.Contains(p.Detail, "assigned") {
			t.Errorf("transition detail %q does not name both states", p.Detail)
		}
		e.unchanged(before)
		if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
			t.Errorf("hostile input logged internal errors:\n%s", e.logs.String())
		}
	})
}
