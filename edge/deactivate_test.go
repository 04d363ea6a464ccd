package edge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
)

// TestUserDeactivation: an admin deactivates a field user on the hub while the user has a
// session on their zone's edge. Once the change syncs, the edge refuses the session's token
// (401 saying why), the cached password hash is gone from the edge's database, and the user
// cannot log in at the edge, neither through the hub nor offline. A cached login left behind
// by some other path is deleted at the next login attempt.
func TestUserDeactivation(t *testing.T) {
	h := newScopeHub(t)
	north, _ := h.edge(t, "edge-north", "North")
	h.waitHolds(t, "initial sync", north, "North")
	user := h.users["North"]

	tech := api{t: t, base: north.URL()}.login("tech.north", "secret") // through the hub; cached
	if code := tech.do("GET", "/api/tickets", nil, nil); code != 200 {
		t.Fatalf("field user's tickets before deactivation: %d", code)
	}
	if _, err := north.Store.GetCredential(bg, "tech.north"); err != nil {
		t.Fatalf("login not cached on the edge: %v", err)
	}
	// Another user of the edge, who must keep their session.
	disp := api{t: t, base: north.URL()}.login("disp", "secret")

	var u domain.User
	if code := h.admin.do("PUT", "/api/users/"+user.ID, map[string]any{"is_active": false}, &u); code != 200 || u.IsActive {
		t.Fatalf("deactivate on the hub: %d %+v", code, u)
	}
	checkFor(t, 15*time.Second, "the deactivation to reach the edge", func() bool {
		ru, err := north.Store.GetUser(bg, user.ID)
		return err == nil && !ru.IsActive
	})

	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if code := tech.do("GET", "/api/tickets", nil, &p); code != 401 || !strings.Contains(p.Detail, "deactivated") {
		t.Fatalf("deactivated user's edge session: %d %+v, want 401 saying deactivated", code, p)
	}
	if code := tech.do("GET", "/api/auth/me", nil, nil); code != 401 {
		t.Fatalf("deactivated user's /api/auth/me: %d", code)
	}
	if _, err := north.Store.GetCredential(bg, "tech.north"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("cached login of the deactivated user still on the edge: %v", err)
	}
	if code := disp.do("GET", "/api/tickets", nil, nil); code != 200 {
		t.Fatalf("another user's edge session after the deactivation: %d", code)
	}
	login := func() int {
		return api{t: t, base: north.URL()}.do("POST", "/api/auth/login", map[string]string{"username": "tech.north", "password": "secret"}, nil)
	}
	if code := login(); code != 401 {
		t.Fatalf("login through the hub: %d, want 401", code)
	}

	// Offline: the hub is down, and a cached login survived somehow (say, from a version
	// without the purge on arrival); the replica's inactive row refuses it and deletes it.
	h.stop()
	hash, err := auth.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := north.Store.SaveCredential(bg, user, hash); err != nil {
		t.Fatal(err)
	}
	if code := login(); code != 401 {
		t.Fatalf("offline login of the deactivated user: %d, want 401", code)
	}
	if _, err := north.Store.GetCredential(bg, "tech.north"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("cached login kept after a refused offline login: %v", err)
	}
	if code := login(); code != 401 {
		t.Fatalf("second offline login: %d, want 401", code)
	}
	// The dispatcher still logs in offline: the deletion was the deactivated user's only.
	anon := api{t: t, base: north.URL()}
	if code := anon.do("POST", "/api/auth/login", map[string]string{"username": "disp", "password": "secret"}, nil); code != 200 {
		t.Fatalf("offline login of another user: %d", code)
	}
}

// TestRoleChangeReachesEdgeSessions: an admin changes a user's role on the hub while the user
// has a session on their zone's edge. Once the change syncs, the same token acts in the new
// role: promoted, it may create tickets; demoted again, it may not, hours before the token
// would expire.
func TestRoleChangeReachesEdgeSessions(t *testing.T) {
	h := newScopeHub(t)
	north, _ := h.edge(t, "edge-north", "North")
	h.waitHolds(t, "initial sync", north, "North")
	user := h.users["North"]
	tech := api{t: t, base: north.URL()}.login("tech.north", "secret")

	setRole := func(role domain.Role) {
		t.Helper()
		var u domain.User
		if code := h.admin.do("PUT", "/api/users/"+user.ID, map[string]any{"role": role}, &u); code != 200 || u.Role != role {
			t.Fatalf("set role %s on the hub: %d %+v", role, code, u)
		}
		checkFor(t, 15*time.Second, "the role change to reach the edge", func() bool {
			ru, err := north.Store.GetUser(bg, user.ID)
			return err == nil && ru.Role == role
		})
	}
	create := func() int {
		t.Helper()
		return tech.do("POST", "/api/tickets", map[string]any{"title": "Valve stuck", "zone": "North"}, nil)
	}
	me := func() domain.Role {
		t.Helper()
		var u domain.User
		if code := tech.do("GET", "/api/auth/me", nil, &u); code != 200 {
			t.Fatalf("/api/auth/me: %d", code)
		}
		return u.Role
	}

	if code := create(); code != 403 {
		t.Fatalf("field user creating a ticket on the edge: %d, want 403", code)
	}
	setRole(domain.RoleDispatcher)
	if code := create(); code != 201 {
		t.Fatalf("the same session after promotion to dispatcher: %d, want 201", code)
	}
	if r := me(); r != domain.RoleDispatcher {
		t.Fatalf("/api/auth/me after promotion says %s", r)
	}
	setRole(domain.RoleField)
	if code := create(); code != 403 {
		t.Fatalf("the same session after demotion to field: %d, want 403", code)
	}
	if r := me(); r != domain.RoleField {
		t.Fatalf("/api/auth/me after demotion says %s", r)
	}
}
