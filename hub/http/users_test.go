package http_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aiff/aiff/domain"
	hubhttp "github.com/aiff/aiff/hub/http"
)

type userList struct {
	Items []domain.User `json:"items"`
}

func usernames(us []domain.User) string {
	var out []string
	for _, u := range us {
		out = append(out, u.Username)
	}
	return strings.Join(out, ",")
}

func TestUserListGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		adm := e.tokens["admin"]
		var l userList
		e.mustJSON(e.do("GET", "/api/users", adm, nil), 200, &l)
		if got := usernames(l.Items); got != "admin,dispatcher,field,field2,viewer" {
			t.Fatalf("users = %s", got)
		}
		if strings.Contains(string(e.do("GET", "/api/users", adm, nil).body), "argon2") {
			t.Fatal("user list leaks password hashes")
		}
		for q, want := range map[string]string{
			"?role=field":                         "field,field2",
			"?role=admin,viewer":                  "admin,viewer",
			"?team=" + e.teamN.ID:                 "field",
			"?team=none":                          "admin,dispatcher,viewer",
			"?active=false":                       "",
			"?active=true&role=field":             "field,field2",
			"?team=" + e.teamS.ID + "&role=field": "field2",
		} {
			var l userList
			e.mustJSON(e.do("GET", "/api/users"+q, adm, nil), 200, &l)
			if got := usernames(l.Items); got != want {
				t.Errorf("GET /api/users%s = %q, want %q", q, got, want)
			}
		}
		e.problem(e.do("GET", "/api/users?role=root", adm, nil), 400, "role")
		e.problem(e.do("GET", "/api/users?active=maybe", adm, nil), 400, "active")
		e.problem(e.do("GET", "/api/users?team=x", adm, nil), 400, "team")
		e.problem(e.do("GET", "/api/users?sort=name", adm, nil), 400, "sort")

		var u domain.User
		e.mustJSON(e.do("GET", "/api/users/"+e.userID("field"), adm, nil), 200, &u)
		if u.Username != "field" || u.TeamID == nil || *u.TeamID != e.teamN.ID || !u.IsActive {
			t.Fatalf("GET user = %+v", u)
		}
		e.problem(e.do("GET", "/api/users/"+domain.NewID(t0), adm, nil), 404, "")
		e.problem(e.do("GET", "/api/users/nope", adm, nil), 404, "")
	})
}

func TestUserUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		adm, id := e.tokens["admin"], e.userID("viewer")
		put := func(body any) resp { return e.do("PUT", "/api/users/"+id, adm, body) }

		// Bad input is refused with a problem naming the field, and writes nothing.
		before := e.digest()
		e.problem(put(map[string]any{"team_id": domain.NewID(t0)}), 400, "team_id") // unknown team
		e.problem(put(map[string]any{"team_id": "not-an-id"}), 400, "team_id")
		e.problem(put(map[string]any{"role": "root"}), 400, "role")
		e.problem(put(map[string]any{"role": nil}), 400, "role")
		e.problem(put(map[string]any{"role": "field"}), 400, "team_id") // a field user needs a team
		e.problem(put(map[string]any{"username": "v2"}), 400, "username")
		e.problem(put(map[string]any{"password": "secret"}), 400, "password")
		e.problem(put(map[string]any{"is_active": "no"}), 400, "is_active")
		e.problem(put(map[string]any{"is_active": nil}), 400, "is_active")
		e.problem(put(map[string]any{"email": "nope"}), 400, "email")
		e.problem(put(map[string]any{}), 400, "")
		e.problem(put(`{"is_active":false`), 400, "")
		e.problem(e.do("PUT", "/api/users/"+domain.NewID(t0), adm, map[string]any{"is_active": false}), 404, "")
		// An admin cannot lock themself out.
		me := "/api/users/" + e.userID("admin")
		e.problem(e.do("PUT", me, adm, map[string]any{"is_active": false}), 403, "is_active")
		e.problem(e.do("PUT", me, adm, map[string]any{"role": "viewer"}), 403, "role")
		e.unchanged(before)

		// A valid partial update changes only what it names and is logged for sync.
		seq, _ := e.store.LastSeq(context.Background())
		var u domain.User
		e.mustJSON(put(map[string]any{"role": "field", "team_id": e.teamS.ID, "email": "v@example.com"}), 200, &u)
		if u.Role != domain.RoleField || u.TeamID == nil || *u.TeamID != e.teamS.ID || u.Email != "v@example.com" || !u.IsActive || u.Username != "viewer" {
			t.Fatalf("updated user = %+v", u)
		}
		chs, _ := e.store.ListChanges(context.Background(), seq, []string{"south"}, 10)
		if len(chs) != 1 || chs[0].Entity != domain.EntityUser || chs[0].EntityID != id {
			t.Fatalf("changes in south after the update = %+v", chs)
		}
		// The new role and team apply to the token issued before them: as a field user of the
		// south team, the viewer no longer sees the unassigned north ticket.
		e.problem(e.do("GET", "/api/tickets/"+e.unassd.ID, e.tokens["viewer"], nil), 404, "")
		e.mustJSON(put(map[string]any{"role": "viewer", "team_id": nil, "email": nil}), 200, &u)
		if u.TeamID != nil || u.Email != "" || u.Role != domain.RoleViewer {
			t.Fatalf("cleared user = %+v", u)
		}
		e.mustJSON(e.do("GET", "/api/tickets/"+e.unassd.ID, e.tokens["viewer"], nil), 200, nil)
		// Taken email: conflict.
		e.mustJSON(e.do("PUT", "/api/users/"+e.userID("dispatcher"), adm, map[string]any{"email": "d@example.com"}), 200, nil)
		e.problem(put(map[string]any{"email": "D@example.com"}), 409, "")
	})
}

// TestUserDeactivate: a deactivated user loses the hub at once on the replica that took the
// update: their access token is refused, their refresh token is dead (also after
// reactivation), and they cannot log in; other users are unaffected.
func TestUserDeactivate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		adm, id, tok := e.tokens["admin"], e.userID("field"), e.tokens["field"]
		e.mustJSON(e.do("GET", "/api/tickets", tok, nil), 200, nil) // cached as active
		var u domain.User
		e.mustJSON(e.do("PUT", "/api/users/"+id, adm, map[string]any{"is_active": false}), 200, &u)
		if u.IsActive {
			t.Fatalf("PUT answered %+v", u)
		}
		p := e.problem(e.do("GET", "/api/tickets", tok, nil), 401, "")
		if !strings.Contains(p.Detail, "deactivated") {
			t.Fatalf("problem detail %q does not say why", p.Detail)
		}
		e.problem(e.do("GET", "/api/auth/me", tok, nil), 401, "")
		e.problem(e.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": e.refresh["field"]}), 401, "")
		e.problem(e.do("POST", "/api/auth/login", "", map[string]string{"username": "field", "password": password}), 401, "")
		e.mustJSON(e.do("GET", "/api/tickets", e.tokens["field2"], nil), 200, nil)
		var l userList
		e.mustJSON(e.do("GET", "/api/users?active=false", adm, nil), 200, &l)
		if usernames(l.Items) != "field" {
			t.Fatalf("inactive users = %s", usernames(l.Items))
		}

		// Reactivated: a new login works, the old refresh token stays revoked.
		e.mustJSON(e.do("PUT", "/api/users/"+id, adm, map[string]any{"is_active": true}), 200, nil)
		e.problem(e.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": e.refresh["field"]}), 401, "")
		e.mustJSON(e.do("GET", "/api/tickets", tok, nil), 200, nil)
		e.mustJSON(e.do("POST", "/api/auth/login", "", map[string]string{"username": "field", "password": password}), 200, nil)
	})
}

// TestUserDeactivateElsewhere: a deactivation this replica did not make (another replica, the
// CLI) stops a live access token within the user cache TTL, not at the token's expiry.
func TestUserDeactivateElsewhere(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		tok := e.tokens["field"]
		e.mustJSON(e.do("GET", "/api/tickets", tok, nil), 200, nil)
		if _, err := e.store.UpdateUser(context.Background(), e.userID("field"), func(u domain.User) (domain.User, error) {
			u.IsActive = false
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(hubhttp.DefaultUserCacheTTL / 2)
		e.mustJSON(e.do("GET", "/api/tickets", tok, nil), 200, nil) // still cached: the price of no query per request
		e.clock.Advance(hubhttp.DefaultUserCacheTTL / 2)
		e.problem(e.do("GET", "/api/tickets", tok, nil), 401, "")
	})
}

// countingStore counts GetUser calls, the store read of the active-user check.
type countingStore struct {
	domain.Store
	getUser atomic.Int64
}

func (s *countingStore) GetUser(ctx context.Context, id string) (domain.User, error) {
	s.getUser.Add(1)
	return s.Store.GetUser(ctx, id)
}

// TestActiveCheckCached: checking that callers are active reads each user once per TTL, not
// once per request, also under concurrent requests.
func TestActiveCheckCached(t *testing.T) {
	e := newEnv(t, openSQLite)
	cs := &countingStore{Store: e.store}
	e.srv.Store = cs
	e.start()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				if r := e.do("GET", "/api/tickets?limit=1", e.tokens["dispatcher"], nil); r.status != 200 {
					t.Errorf("status %d %s", r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	// Concurrent first requests may each miss the empty cache; after that, none.
	if n := cs.getUser.Load(); n > 50 {
		t.Fatalf("%d GetUser calls for 200 requests of one user", n)
	}
	n := cs.getUser.Load()
	for range 20 {
		e.mustJSON(e.do("GET", "/api/tickets?limit=1", e.tokens["dispatcher"], nil), 200, nil)
	}
	if d := cs.getUser.Load() - n; d != 0 {
		t.Fatalf("%d GetUser calls for 20 requests within the TTL, want 0", d)
	}
	e.clock.Advance(hubhttp.DefaultUserCacheTTL)
	e.mustJSON(e.do("GET", "/api/tickets?limit=1", e.tokens["dispatcher"], nil), 200, nil)
	if d := cs.getUser.Load() - n; d != 1 {
		t.Fatalf("%d GetUser calls after the TTL, want 1", d)
	}
}
