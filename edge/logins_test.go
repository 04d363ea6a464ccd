package edge_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUnreplicatedUserDeactivation: dispatchers have no team, so the edge does not replicate
// them and never hears of their deactivation through the log. A dispatcher logs in at an edge
// (through the hub, so their login is cached), the admin deactivates them on the hub, and
// within a login check or two the edge refuses their edge token (401 saying why), their
// cached login is gone, one line says so, and they cannot log in, through the hub or, with
// the hub down and the edge restarted, offline; the refusal survives the restart. Another
// dispatcher's session and offline login are unaffected. A reactivated user who logs in
// through the hub again is let in, and a second deactivation is caught again.
func TestUnreplicatedUserDeactivation(t *testing.T) {
	h := newScopeHub(t)
	first, err := h.store.GetUserByUsername(bg, "disp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CreateUser(bg, domain.User{Username: "disp2", Role: domain.RoleDispatcher, IsActive: true, PasswordHash: first.PasswordHash}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := h.store.CreateEdgeCredential(bg, syncstore.EdgeCredential{Name: "edge-north", Zones: []string{"North"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var logs lockedBuffer
	start := func() *edge.Node {
		t.Helper()
		n := edge.New(edge.Config{HubURL: h.url(), Token: tok, DataDir: dir, Addr: "127.0.0.1:0",
			Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			LoginCheckInterval: 100 * time.Millisecond})
		if err := n.Open(bg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(bg) })
		return n
	}
	north := start()
	h.waitHolds(t, "initial sync", north, "North")

	disp := api{t: t, base: north.URL()}.login("disp", "secret") // through the hub; cached
	disp2 := api{t: t, base: north.URL()}.login("disp2", "secret")
	for _, a := range []api{disp, disp2} {
		if code := a.do("GET", "/api/tickets", nil, nil); code != 200 {
			t.Fatalf("dispatcher's tickets before the deactivation: %d", code)
		}
	}
	dc, err := north.Store.GetCredential(bg, "disp")
	if err != nil {
		t.Fatalf("login not cached on the edge: %v", err)
	}
	user := dc.User
	if _, err := north.Store.GetUser(bg, user.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("the dispatcher is replicated to the edge (%v); this test needs one who is not", err)
	}
	// Some checks run while nothing changes: they revoke nothing.
	time.Sleep(300 * time.Millisecond)
	if code := disp.do("GET", "/api/tickets", nil, nil); code != 200 {
		t.Fatalf("active dispatcher refused by the login check: %d", code)
	}

	deactivate := func(active bool) {
		t.Helper()
		var u domain.User
		if code := h.admin.do("PUT", "/api/users/"+user.ID, map[string]any{"is_active": active}, &u); code != 200 || u.IsActive != active {
			t.Fatalf("set is_active %v on the hub: %d %+v", active, code, u)
		}
	}
	refused := func(a api) bool {
		var p struct {
			Detail string `json:"detail"`
		}
		code := a.do("GET", "/api/tickets", nil, &p)
		return code == 401 && strings.Contains(p.Detail, "deactivated")
	}
	deactivate(false)
	checkFor(t, 10*time.Second, "the edge to refuse the deactivated dispatcher's token", func() bool { return refused(disp) })
	if code := disp.do("GET", "/api/auth/me", nil, nil); code != 401 {
		t.Fatalf("deactivated dispatcher's /api/auth/me: %d", code)
	}
	if _, err := north.Store.GetCredential(bg, "disp"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("cached login of the deactivated dispatcher still on the edge: %v", err)
	}
	if n := strings.Count(logs.String(), "revoked cached login"); n != 1 {
		t.Errorf("%d log lines about revoked logins, want 1:\n%s", n, logs.String())
	}
	if code := disp2.do("GET", "/api/tickets", nil, nil); code != 200 {
		t.Fatalf("the other dispatcher's session: %d", code)
	}
	if _, err := north.Store.GetCredential(bg, "disp2"); err != nil {
		t.Fatalf("the other dispatcher's cached login: %v", err)
	}
	login := func(username string) int {
		return api{t: t, base: north.URL()}.do("POST", "/api/auth/login", map[string]string{"username": username, "password": "secret"}, nil)
	}
	if code := login("disp"); code != 401 {
		t.Fatalf("deactivated dispatcher's login through the hub: %d, want 401", code)
	}

	// Reactivated, they log in through the hub again and are let in; deactivated once more,
	// the next checks catch it again.
	deactivate(true)
	disp = api{t: t, base: north.URL()}.login("disp", "secret")
	time.Sleep(300 * time.Millisecond)
	if code := disp.do("GET", "/api/tickets", nil, nil); code != 200 {
		t.Fatalf("reactivated dispatcher's new session: %d", code)
	}
	deactivate(false)
	checkFor(t, 10*time.Second, "the edge to refuse the dispatcher deactivated again", func() bool { return refused(disp) })

	// Hub down, edge restarted: the refusal is in the edge's file, offline login has no
	// cached hash to check, and the other dispatcher still works offline.
	h.stop()
	north.Close(bg)
	north = start()
	for _, a := range []*api{&disp, &disp2} {
		a.base = north.URL()
	}
	if !refused(disp) {
		t.Fatal("the deactivated dispatcher's token is accepted after an edge restart")
	}
	if code := login("disp"); code != 401 {
		t.Fatalf("offline login of the deactivated dispatcher: %d, want 401", code)
	}
	if code := disp2.do("GET", "/api/tickets", nil, nil); code != 200 {
		t.Fatalf("the other dispatcher's session after the restart: %d", code)
	}
	if code := login("disp2"); code != 200 {
		t.Fatalf("offline login of the other dispatcher: %d", code)
	}
}
