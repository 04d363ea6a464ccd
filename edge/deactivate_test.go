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
