package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/google/go-cmp/cmp"
)

func testZones(t *testing.T, open Factory) {
	e := newEnv(t, open)
	seq := e.lastSeq()
	z := e.zone("north")
	if !domain.ValidID(z.ID) || !z.CreatedAt.Equal(T0) {
		t.Fatalf("created zone id %q at %v, want a ulid at %v", z.ID, z.CreatedAt, T0)
	}
	ch := e.oneChange(seq, domain.EntityZone, z.ID, domain.OpUpsert)
	if ch.Zone != "north" || string(ch.Patch["name"]) != `"north"` {
		t.Errorf("zone change zone %q patch %v, want zone north with its name", ch.Zone, ch.Patch)
	}
	got := must[domain.Zone](t)(e.s.GetZone(e.ctx, "north"))
	if diff := cmp.Diff(z, got, cmpOpts...); diff != "" {
		t.Errorf("GetZone (-want +got):\n%s", diff)
	}
	e.zone("east")
	list := must[[]domain.Zone](t)(e.s.ListZones(e.ctx))
	var names []string
	for _, z := range list {
		names = append(names, z.Name)
	}
	if diff := cmp.Diff([]string{"east", "north"}, names); diff != "" {
		t.Errorf("ListZones names (-want +got):\n%s", diff)
	}

	_, err := e.s.CreateZone(e.ctx, domain.Zone{Name: "north"})
	wantCode(t, err, domain.CodeConflict, "")
	_, err = e.s.GetZone(e.ctx, "nowhere")
	wantCode(t, err, domain.CodeNotFound, "")
	_, err = e.s.CreateZone(e.ctx, domain.Zone{Name: ""})
	wantCode(t, err, domain.CodeInvalid, "name")
}

func testTeams(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	e.zone("south")
	e.clock.Set(T0.Add(time.Hour + 1234*time.Nanosecond)) // sub-microsecond part must be dropped
	seq := e.lastSeq()
	in := domain.Team{Name: "Alpha", Zone: "north", Description: "first crew", Skills: []string{"electric", "gas"},
		Capacity: 3, ShiftStart: "07:00", ShiftEnd: "15:30", HomeLat: ptr(1.25), HomeLng: ptr(1.75),
		Status: domain.TeamAvailable, IsActive: true}
	created := must[domain.Team](t)(e.s.CreateTeam(e.ctx, in))
	want := in
	want.ID = created.ID
	want.CreatedAt = T0.Add(time.Hour + time.Microsecond)
	want.UpdatedAt = want.CreatedAt
	if diff := cmp.Diff(want, created, cmpOpts...); diff != "" {
		t.Errorf("CreateTeam (-want +got):\n%s", diff)
	}
	ch := e.oneChange(seq, domain.EntityTeam, created.ID, domain.OpUpsert)
	if ch.Zone != "north" || ch.Actor != "system" || ch.Origin != domain.HubOrigin || !ch.At.Equal(want.CreatedAt) {
		t.Errorf("team change = zone %q actor %q origin %q at %v", ch.Zone, ch.Actor, ch.Origin, ch.At)
	}
	got := must[domain.Team](t)(e.s.GetTeam(e.ctx, created.ID))
	if diff := cmp.Diff(created, got, cmpOpts...); diff != "" {
		t.Errorf("GetTeam (-want +got):\n%s", diff)
	}

	// Update: fn's result is stored, UpdatedAt is the store's clock, one change with the diff.
	e.clock.Set(T0.Add(2 * time.Hour))
	seq = e.lastSeq()
	upd := must[domain.Team](t)(e.s.UpdateTeam(e.ctx, created.ID, func(tm domain.Team) (domain.Team, error) {
		return domain.TeamInput{Zone: domain.Some("south"), Capacity: domain.Some(7), Status: domain.Some(domain.TeamBusy)}.Apply(tm, e.clock.Now())
	}))
	want = created
	want.Zone, want.Capacity, want.Status, want.UpdatedAt = "south", 7, domain.TeamBusy, T0.Add(2*time.Hour)
	if diff := cmp.Diff(want, upd, cmpOpts...); diff != "" {
		t.Errorf("UpdateTeam (-want +got):\n%s", diff)
	}
	ch = e.oneChange(seq, domain.EntityTeam, created.ID, domain.OpUpsert)
	wantPatch := map[string]json.RawMessage{"zone": json.RawMessage(`"south"`), "capacity": json.RawMessage(`7`),
		"status": json.RawMessage(`"busy"`), "updated_at": json.RawMessage(`"2025-03-10T02:00:00Z"`)}
	if diff := cmp.Diff(wantPatch, ch.Patch); diff != "" {
		t.Errorf("update patch (-want +got):\n%s", diff)
	}
	if ch.Zone != "south" {
		t.Errorf("update change zone = %q, want south", ch.Zone)
	}
	got = must[domain.Team](t)(e.s.GetTeam(e.ctx, created.ID))
	if diff := cmp.Diff(upd, got, cmpOpts...); diff != "" {
		t.Errorf("GetTeam after update (-want +got):\n%s", diff)
	}

	// A no-op update writes nothing and returns the team unchanged.
	e.clock.Set(T0.Add(3 * time.Hour))
	seq = e.lastSeq()
	same := must[domain.Team](t)(e.s.UpdateTeam(e.ctx, created.ID, func(tm domain.Team) (domain.Team, error) {
		return domain.TeamInput{Capacity: domain.Some(7)}.Apply(tm, e.clock.Now())
	}))
	if diff := cmp.Diff(upd, same, cmpOpts...); diff != "" {
		t.Errorf("no-op UpdateTeam (-want +got):\n%s", diff)
	}
	e.noChange(seq)

	// Errors: unknown zone (create and update), invalid fields, fn error, not found.
	bad := in
	bad.Zone = "atlantis"
	_, err := e.s.CreateTeam(e.ctx, bad)
	wantCode(t, err, domain.CodeInvalid, "zone")
	_, err = e.s.UpdateTeam(e.ctx, created.ID, func(tm domain.Team) (domain.Team, error) {
		tm.Zone = "atlantis"
		return tm, nil
	})
	wantCode(t, err, domain.CodeInvalid, "zone")
	_, err = e.s.UpdateTeam(e.ctx, created.ID, func(tm domain.Team) (domain.Team, error) {
		tm.Capacity = 0
		return tm, nil
	})
	wantCode(t, err, domain.CodeInvalid, "capacity")
	_, err = e.s.UpdateTeam(e.ctx, created.ID, func(tm domain.Team) (domain.Team, error) {
		return tm, domain.Errorf(domain.CodeConflict, "fn refused")
	})
	wantCode(t, err, domain.CodeConflict, "")
	e.noChange(seq)
	_, err = e.s.GetTeam(e.ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	wantCode(t, err, domain.CodeNotFound, "")
	_, err = e.s.UpdateTeam(e.ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV", func(tm domain.Team) (domain.Team, error) { return tm, nil })
	wantCode(t, err, domain.CodeNotFound, "")
	dup := in
	dup.ID = created.ID
	_, err = e.s.CreateTeam(e.ctx, dup)
	wantCode(t, err, domain.CodeConflict, "")
}

func testTeamDelete(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	team := e.team("Alpha", "north")
	tk := e.ticket("fix", "north", domain.PriorityHigh)
	must[[]domain.Ticket](t)(e.s.AssignTickets(e.ctx, []string{tk.ID}, team.ID, "manual"))
	if got := must[domain.Team](t)(e.s.GetTeam(e.ctx, team.ID)); got.ActiveTickets != 1 {
		t.Fatalf("active tickets = %d, want 1", got.ActiveTickets)
	}
	seq := e.lastSeq()
	wantCode(t, e.s.DeleteTeam(e.ctx, team.ID), domain.CodeConflict, "")
	e.noChange(seq)

	// Starting and holding still count as active; resolving frees the team.
	e.transition(tk.ID, domain.StatusInProgress)
	e.transition(tk.ID, domain.StatusOnHold)
	if got := must[domain.Team](t)(e.s.GetTeam(e.ctx, team.ID)); got.ActiveTickets != 1 {
		t.Fatalf("active tickets on hold = %d, want 1", got.ActiveTickets)
	}
	e.transition(tk.ID, domain.StatusInProgress)
	e.transition(tk.ID, domain.StatusResolved)
	if got := must[domain.Team](t)(e.s.GetTeam(e.ctx, team.ID)); got.ActiveTickets != 0 {
		t.Fatalf("active tickets after resolve = %d, want 0", got.ActiveTickets)
	}
	e.clock.Set(T0.Add(5 * time.Hour))
	seq = e.lastSeq()
	if err := e.s.DeleteTeam(e.ctx, team.ID); err != nil {
		t.Fatalf("delete team: %v", err)
	}
	ch := e.oneChange(seq, domain.EntityTeam, team.ID, domain.OpDelete)
	if ch.Zone != "north" {
		t.Errorf("delete change zone = %q, want north", ch.Zone)
	}
	if _, ok := ch.Patch["deleted_at"]; !ok {
		t.Errorf("delete patch %v lacks deleted_at", ch.Patch)
	}
	_, err := e.s.GetTeam(e.ctx, team.ID)
	wantCode(t, err, domain.CodeNotFound, "")
	if list := must[[]domain.Team](t)(e.s.ListTeams(e.ctx, domain.TeamFilter{})); len(list) != 0 {
		t.Errorf("ListTeams after delete = %d teams, want 0", len(list))
	}
	wantCode(t, e.s.DeleteTeam(e.ctx, team.ID), domain.CodeNotFound, "")
	// A deleted team can no longer take tickets.
	other := e.ticket("other", "north", domain.PriorityLow)
	_, err = e.s.AssignTickets(e.ctx, []string{other.ID}, team.ID, "manual")
	wantCode(t, err, domain.CodeInvalid, "team_id")
}

func testTeamList(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	e.zone("south")
	a := e.team("Alpha", "north")
	b := e.team("Bravo", "north")
	c := e.team("Charlie", "south")
	d := e.team("Delta", "south")
	b = must[domain.Team](t)(e.s.UpdateTeam(e.ctx, b.ID, func(tm domain.Team) (domain.Team, error) {
		tm.Status = domain.TeamBusy
		return tm, nil
	}))
	d = must[domain.Team](t)(e.s.UpdateTeam(e.ctx, d.ID, func(tm domain.Team) (domain.Team, error) {
		tm.IsActive = false
		tm.Status = domain.TeamOffline
		return tm, nil
	}))
	names := func(ts []domain.Team) []string {
		var out []string
		for _, tm := range ts {
			out = append(out, tm.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    domain.TeamFilter
		want []string
	}{
		{"all", domain.TeamFilter{}, []string{"Alpha", "Bravo", "Charlie", "Delta"}},
		{"zone", domain.TeamFilter{Zone: []string{"south"}}, []string{"Charlie", "Delta"}},
		{"status", domain.TeamFilter{Status: []domain.TeamStatus{domain.TeamBusy, domain.TeamOffline}}, []string{"Bravo", "Delta"}},
		{"active", domain.TeamFilter{Active: ptr(true)}, []string{"Alpha", "Bravo", "Charlie"}},
		{"inactive", domain.TeamFilter{Active: ptr(false)}, []string{"Delta"}},
		{"scope", domain.TeamFilter{ScopeZones: []string{"north"}}, []string{"Alpha", "Bravo"}},
		{"zone outside scope", domain.TeamFilter{Zone: []string{"south"}, ScopeZones: []string{"north"}}, nil},
	} {
		got := must[[]domain.Team](t)(e.s.ListTeams(e.ctx, tc.f))
		if diff := cmp.Diff(tc.want, names(got), cmpOpts...); diff != "" {
			t.Errorf("%s: ListTeams (-want +got):\n%s", tc.name, diff)
		}
	}
	all := must[[]domain.Team](t)(e.s.ListTeams(e.ctx, domain.TeamFilter{}))
	if diff := cmp.Diff([]domain.Team{a, b, c, d}, all, cmpOpts...); diff != "" {
		t.Errorf("ListTeams rows (-want +got):\n%s", diff)
	}
}

func testUsers(t *testing.T, open Factory) {
	e := newEnv(t, open)
	e.zone("north")
	team := e.team("Alpha", "north")
	seq := e.lastSeq()
	in := domain.User{Username: "fieldy", Email: "fieldy@example.com", Role: domain.RoleField, TeamID: &team.ID,
		IsActive: true, PasswordHash: "hash-1"}
	u := must[domain.User](t)(e.s.CreateUser(e.ctx, in))
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = u.ID, T0, T0
	if diff := cmp.Diff(want, u, cmpOpts...); diff != "" {
		t.Errorf("CreateUser (-want +got):\n%s", diff)
	}
	ch := e.oneChange(seq, domain.EntityUser, u.ID, domain.OpUpsert)
	if ch.Zone != "north" {
		t.Errorf("user change zone = %q, want the team's zone north", ch.Zone)
	}
	if _, leaked := ch.Patch["password_hash"]; leaked {
		t.Errorf("user change patch leaks the password hash: %v", ch.Patch)
	}
	for _, get := range []func() (domain.User, error){
		func() (domain.User, error) { return e.s.GetUser(e.ctx, u.ID) },
		func() (domain.User, error) { return e.s.GetUserByUsername(e.ctx, "fieldy") },
	} {
		if diff := cmp.Diff(u, must[domain.User](t)(get()), cmpOpts...); diff != "" {
			t.Errorf("get user (-want +got):\n%s", diff)
		}
	}
	admin := must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "boss", Role: domain.RoleAdmin, IsActive: true, PasswordHash: "h"}))
	if chs := e.changesAfter(seq + 1); len(chs) != 1 || chs[0].Zone != "" {
		t.Errorf("teamless user change = %+v, want one change with zone \"\"", chs)
	}

	// Conflicts and references.
	dupName := in
	dupName.Email = "other@example.com"
	_, err := e.s.CreateUser(e.ctx, dupName)
	wantCode(t, err, domain.CodeConflict, "")
	dupMail := in
	dupMail.Username = "other"
	dupMail.Email = "FIELDY@example.com"
	_, err = e.s.CreateUser(e.ctx, dupMail)
	wantCode(t, err, domain.CodeConflict, "")
	noTeam := in
	noTeam.Username, noTeam.Email, noTeam.TeamID = "lost", "", ptr("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	_, err = e.s.CreateUser(e.ctx, noTeam)
	wantCode(t, err, domain.CodeInvalid, "team_id")
	_, err = e.s.GetUser(e.ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	wantCode(t, err, domain.CodeNotFound, "")
	_, err = e.s.GetUserByUsername(e.ctx, "nobody")
	wantCode(t, err, domain.CodeNotFound, "")

	// Update, no-op update, password-only update, conflicting update.
	e.clock.Set(T0.Add(time.Hour))
	seq = e.lastSeq()
	upd := must[domain.User](t)(e.s.UpdateUser(e.ctx, u.ID, func(u domain.User) (domain.User, error) {
		u.Role = domain.RoleDispatcher
		u.TeamID = nil
		return u, nil
	}))
	want = u
	want.Role, want.TeamID, want.UpdatedAt = domain.RoleDispatcher, nil, T0.Add(time.Hour)
	if diff := cmp.Diff(want, upd, cmpOpts...); diff != "" {
		t.Errorf("UpdateUser (-want +got):\n%s", diff)
	}
	e.oneChange(seq, domain.EntityUser, u.ID, domain.OpUpsert)
	seq = e.lastSeq()
	must[domain.User](t)(e.s.UpdateUser(e.ctx, u.ID, func(u domain.User) (domain.User, error) { return u, nil }))
	e.noChange(seq)
	e.clock.Set(T0.Add(2 * time.Hour))
	must[domain.User](t)(e.s.UpdateUser(e.ctx, u.ID, func(u domain.User) (domain.User, error) {
		u.PasswordHash = "hash-2"
		return u, nil
	}))
	e.oneChange(seq, domain.EntityUser, u.ID, domain.OpUpsert)
	if got := must[domain.User](t)(e.s.GetUser(e.ctx, u.ID)); got.PasswordHash != "hash-2" {
		t.Errorf("password hash = %q, want hash-2", got.PasswordHash)
	}
	_, err = e.s.UpdateUser(e.ctx, u.ID, func(u domain.User) (domain.User, error) {
		u.Username = "boss"
		return u, nil
	})
	wantCode(t, err, domain.CodeConflict, "")

	list := must[[]domain.User](t)(e.s.ListUsers(e.ctx))
	if len(list) != 2 || list[0].ID != admin.ID || list[1].ID != u.ID {
		t.Errorf("ListUsers = %+v, want boss then fieldy", list)
	}
}

func testRefreshTokens(t *testing.T, open Factory) {
	e := newEnv(t, open)
	u := must[domain.User](t)(e.s.CreateUser(e.ctx, domain.User{Username: "boss", Role: domain.RoleAdmin, IsActive: true, PasswordHash: "h"}))
	seq := e.lastSeq()
	tok := domain.RefreshToken{Hash: "abc", UserID: u.ID, ExpiresAt: T0.Add(24 * time.Hour), CreatedAt: T0}
	if err := e.s.CreateRefreshToken(e.ctx, tok); err != nil {
		t.Fatalf("create refresh token: %v", err)
	}
	got := must[domain.RefreshToken](t)(e.s.GetRefreshToken(e.ctx, "abc"))
	if diff := cmp.Diff(tok, got, cmpOpts...); diff != "" {
		t.Errorf("GetRefreshToken (-want +got):\n%s", diff)
	}
	wantCode(t, e.s.CreateRefreshToken(e.ctx, tok), domain.CodeConflict, "")
	_, err := e.s.GetRefreshToken(e.ctx, "nope")
	wantCode(t, err, domain.CodeNotFound, "")
	wantCode(t, e.s.CreateRefreshToken(e.ctx, domain.RefreshToken{Hash: "x", UserID: "nobody", ExpiresAt: T0}), domain.CodeInvalid, "user_id")

	e.clock.Set(T0.Add(time.Hour))
	if err := e.s.RevokeRefreshToken(e.ctx, "abc"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	e.clock.Set(T0.Add(2 * time.Hour))
	if err := e.s.RevokeRefreshToken(e.ctx, "abc"); err != nil {
		t.Fatalf("revoke again: %v", err)
	}
	got = must[domain.RefreshToken](t)(e.s.GetRefreshToken(e.ctx, "abc"))
	if got.RevokedAt == nil || !got.RevokedAt.Equal(T0.Add(time.Hour)) {
		t.Errorf("revoked at %v, want the first revocation %v", got.RevokedAt, T0.Add(time.Hour))
	}
	if err := e.s.RevokeRefreshToken(e.ctx, "unknown"); err != nil {
		t.Errorf("revoke unknown token: %v, want nil (idempotent)", err)
	}
	e.noChange(seq) // tokens never enter the change log
}
