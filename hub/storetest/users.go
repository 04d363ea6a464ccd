package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

// testUserDeactivate: deactivating a user is one logged change in their team's zone (so the
// edges holding that zone hear of it) that carries is_active false, and it revokes the user's
// live refresh tokens — only theirs, keeping earlier revocation times — so that reactivating
// them later does not bring old sessions back. Reactivation is logged too.
func testUserDeactivate(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	team := e.team("Alpha", "north")
	u := must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "fieldy", Role: domain.RoleField, TeamID: &team.ID,
		IsActive: true, PasswordHash: "h"}))
	other := must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "boss", Role: domain.RoleAdmin, IsActive: true, PasswordHash: "h"}))
	for _, tok := range []domain.RefreshToken{
		{Hash: "live-1", UserID: u.ID, ExpiresAt: T0.Add(24 * time.Hour), CreatedAt: T0},
		{Hash: "live-2", UserID: u.ID, ExpiresAt: T0.Add(24 * time.Hour), CreatedAt: T0},
		{Hash: "old", UserID: u.ID, ExpiresAt: T0.Add(24 * time.Hour), CreatedAt: T0},
		{Hash: "boss", UserID: other.ID, ExpiresAt: T0.Add(24 * time.Hour), CreatedAt: T0},
	} {
		if err := e.s.CreateRefreshToken(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(T0.Add(time.Minute))
	if err := e.s.RevokeRefreshToken(e.ctx, "old"); err != nil {
		t.Fatal(err)
	}

	e.clock.Set(T0.Add(time.Hour))
	seq := e.lastSeq()
	got := must[domain.User](t)(e.s.UpdateUser(e.ctx, u.ID, func(u domain.User) (domain.User, error) {
		u.IsActive = false
		return u, nil
	}))
	if got.IsActive || !got.UpdatedAt.Equal(T0.Add(time.Hour)) {
		t.Errorf("deactivated user = active %v updated %v, want inactive at %v", got.IsActive, got.UpdatedAt, T0.Add(time.Hour))
	}
	if stored := must[domain.User](t)(e.s.GetUser(e.ctx, u.ID)); stored.IsActive {
		t.Error("GetUser after deactivation: still active")
	}
	ch := e.oneChange(seq, domain.EntityUser, u.ID, domain.OpUpsert)
	if ch.Zone != "north" {
		t.Errorf("deactivation change zone = %q, want the team's zone north", ch.Zone)
	}
	if string(ch.Patch["is_active"]) != "false" {
		t.Errorf("deactivation patch = %v, want is_active false", ch.Patch)
	}
	if _, ok := ch.Patch["team_id"]; ok {
		t.Errorf("deactivation patch %v carries team_id: it would look like a move to sync", ch.Patch)
	}
	for hash, want := range map[string]*time.Time{
		"live-1": ptr(T0.Add(time.Hour)), "live-2": ptr(T0.Add(time.Hour)), "old": ptr(T0.Add(time.Minute)), "boss": nil,
	} {
		rt := must[domain.RefreshToken](t)(e.s.GetRefreshToken(e.ctx, hash))
		switch {
		case want == nil && rt.RevokedAt != nil:
			t.Errorf("refresh token %s of another user revoked at %v", hash, rt.RevokedAt)
		case want != nil && (rt.RevokedAt == nil || !rt.RevokedAt.Equal(*want)):
			t.Errorf("refresh token %s revoked at %v, want %v", hash, rt.RevokedAt, *want)
		}
	}

	// Deactivating again changes nothing; reactivating is logged and leaves the tokens revoked.
	seq = e.lastSeq()
	must[domain.User](t)(e.s.UpdateUser(e.ctx, u.ID, func(u domain.User) (domain.User, error) {
		u.IsActive = false
		return u, nil
	}))
	e.noChange(seq)
	e.clock.Set(T0.Add(2 * time.Hour))
	must[domain.User](t)(e.s.UpdateUser(e.ctx, u.ID, func(u domain.User) (domain.User, error) {
		u.IsActive = true
		return u, nil
	}))
	ch = e.oneChange(seq, domain.EntityUser, u.ID, domain.OpUpsert)
	var active bool
	if err := json.Unmarshal(ch.Patch["is_active"], &active); err != nil || !active || ch.Zone != "north" {
		t.Errorf("reactivation change = zone %q patch %v, want north with is_active true", ch.Zone, ch.Patch)
	}
	if rt := must[domain.RefreshToken](t)(e.s.GetRefreshToken(e.ctx, "live-1")); rt.RevokedAt == nil {
		t.Error("reactivation revived a refresh token")
	}
}
