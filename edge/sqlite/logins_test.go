package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

// TestRevokedLogins: the cached logins the edge must ask the hub about are those of users it
// does not replicate; revoking one deletes its hash and records the refusal, which survives a
// restart until cleared or pruned; an answer older than a login cached since changes nothing;
// a refresh takes the hub's role and keeps the hash.
func TestRevokedLogins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openStore(t, path, "edge-a")
	h := newHub()
	f := genesis(t, h)
	now := time.Now().UTC().Truncate(time.Microsecond)
	team := f.team.ID
	field := domain.User{ID: domain.NewID(now), Username: "tech", Role: domain.RoleField, TeamID: &team, IsActive: true, CreatedAt: now, UpdatedAt: now}
	f.changes = append(f.changes, h.change(t, domain.EntityUser, field.ID, "North", nil, field))
	if err := s.ApplyRemote(ctx, f.changes, h.seq); err != nil {
		t.Fatal(err)
	}
	disp := domain.User{ID: domain.NewID(now), Username: "disp", Role: domain.RoleDispatcher, IsActive: true, CreatedAt: now, UpdatedAt: now}
	viewer := domain.User{ID: domain.NewID(now), Username: "viewer", Role: domain.RoleViewer, IsActive: true, CreatedAt: now, UpdatedAt: now}
	for _, u := range []domain.User{field, disp, viewer} {
		if err := s.SaveCredential(ctx, u, "hash-"+u.Username); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		t.Helper()
		cs, err := s.UnreplicatedLogins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.User.Username)
		}
		return out
	}
	if got := ids(); len(got) != 2 || got[0] != "disp" || got[1] != "viewer" {
		t.Fatalf("unreplicated logins %v, want [disp viewer] (tech is replicated)", got)
	}

	// An answer from before the viewer's login was cached is stale: nothing happens.
	if done, err := s.RevokeLogin(ctx, viewer.ID, viewer.Username, "deactivated", now.Add(-time.Hour)); err != nil || done {
		t.Fatalf("stale revoke: %v %v, want false", done, err)
	}
	if _, err := s.GetCredential(ctx, "viewer"); err != nil {
		t.Fatalf("stale revoke deleted the login: %v", err)
	}
	if done, err := s.RevokeLogin(ctx, disp.ID, disp.Username, "deactivated", time.Now().Add(time.Second)); err != nil || !done {
		t.Fatalf("revoke: %v %v", done, err)
	}
	if _, err := s.GetCredential(ctx, "disp"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("revoked login still cached: %v", err)
	}
	if got := ids(); len(got) != 1 || got[0] != "viewer" {
		t.Fatalf("unreplicated logins after the revoke %v, want [viewer]", got)
	}

	// Restart: the refusal is in the file.
	s.Close()
	s = openStore(t, path, "edge-a")
	check := func(id string, want bool) {
		t.Helper()
		reason, revoked, err := s.LoginRevoked(ctx, id)
		if err != nil || revoked != want || (want && reason != "deactivated") {
			t.Fatalf("LoginRevoked(%s) = %q %v %v, want revoked %v", id, reason, revoked, err, want)
		}
	}
	check(disp.ID, true)
	check(viewer.ID, false)
	if err := s.PruneRevokedLogins(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	check(disp.ID, true)
	if err := s.ClearRevokedLogin(ctx, disp.ID); err != nil {
		t.Fatal(err)
	}
	check(disp.ID, false)
	if _, err := s.RevokeLogin(ctx, disp.ID, disp.Username, "deactivated", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.PruneRevokedLogins(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	check(disp.ID, false)

	other := "team-x"
	if err := s.RefreshLogin(ctx, domain.User{ID: viewer.ID, Role: domain.RoleField, TeamID: &other}); err != nil {
		t.Fatal(err)
	}
	c, err := s.GetCredential(ctx, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	if c.User.Role != domain.RoleField || c.User.TeamID == nil || *c.User.TeamID != other || c.PasswordHash != "hash-viewer" || c.User.Username != "viewer" {
		t.Fatalf("refreshed login %+v hash %q", c.User, c.PasswordHash)
	}
}
