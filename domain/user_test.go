package domain_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

func validUser() domain.User {
	return domain.User{
		ID:           "01JP0000000000000000000002",
		Username:     "alice",
		Email:        "alice@example.com",
		Role:         domain.RoleDispatcher,
		IsActive:     true,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func TestUserValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*domain.User)
		field string
	}{
		{"fixture", func(*domain.User) {}, ""},
		{"username 2 chars", func(u *domain.User) { u.Username = "ab" }, ""},
		{"username 50 chars", func(u *domain.User) { u.Username = strings.Repeat("a", 50) }, ""},
		{"username with . _ -", func(u *domain.User) { u.Username = "Jane.Doe_2-x" }, ""},
		{"username empty", func(u *domain.User) { u.Username = "" }, "username"},
		{"username 1 char", func(u *domain.User) { u.Username = "a" }, "username"},
		{"username 51 chars", func(u *domain.User) { u.Username = strings.Repeat("a", 51) }, "username"},
		{"username leading dot", func(u *domain.User) { u.Username = ".alice" }, "username"},
		{"username leading dash", func(u *domain.User) { u.Username = "-alice" }, "username"},
		{"username space", func(u *domain.User) { u.Username = "al ice" }, "username"},
		{"username at", func(u *domain.User) { u.Username = "al@ice" }, "username"},
		{"username non-ascii", func(u *domain.User) { u.Username = "jürgen" }, "username"},
		{"username trailing newline", func(u *domain.User) { u.Username = "alice\n" }, "username"},
		{"no email", func(u *domain.User) { u.Email = "" }, ""},
		{"email subdomain", func(u *domain.User) { u.Email = "a.b+c@mail.example.co.uk" }, ""},
		{"email no at", func(u *domain.User) { u.Email = "alice.example.com" }, "email"},
		{"email no dot in domain", func(u *domain.User) { u.Email = "alice@localhost" }, "email"},
		{"email space", func(u *domain.User) { u.Email = "al ice@example.com" }, "email"},
		{"email two ats", func(u *domain.User) { u.Email = "a@b@example.com" }, "email"},
		{"email empty local part", func(u *domain.User) { u.Email = "@example.com" }, "email"},
		{"role admin", func(u *domain.User) { u.Role = domain.RoleAdmin }, ""},
		{"role viewer", func(u *domain.User) { u.Role = domain.RoleViewer }, ""},
		{"role empty", func(u *domain.User) { u.Role = "" }, "role"},
		{"role unknown", func(u *domain.User) { u.Role = "root" }, "role"},
		{"field with team", func(u *domain.User) { u.Role, u.TeamID = domain.RoleField, ptr("team-a") }, ""},
		{"field without team", func(u *domain.User) { u.Role, u.TeamID = domain.RoleField, nil }, "team_id"},
		{"field with empty team", func(u *domain.User) { u.Role, u.TeamID = domain.RoleField, ptr("") }, "team_id"},
		{"dispatcher with team", func(u *domain.User) { u.TeamID = ptr("team-a") }, ""},
		{"no password hash", func(u *domain.User) { u.PasswordHash = "" }, "password"},
		{"inactive", func(u *domain.User) { u.IsActive = false }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := validUser()
			tt.mod(&u)
			err := u.Validate()
			if tt.field == "" {
				checkErr(t, err, "", "")
				return
			}
			checkErr(t, err, domain.CodeInvalid, tt.field)
		})
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name string
		p    string
		ok   bool
	}{
		{"empty", "", false},
		{"3 chars", "abc", false},
		{"4 chars", "abcd", true},
		{"3 multibyte chars", "äöü", false},
		{"4 multibyte chars", "äöüß", true},
		{"128 chars", strings.Repeat("p", 128), true},
		{"129 chars", strings.Repeat("p", 129), false},
		{"128 multibyte chars", strings.Repeat("ß", 128), true},
		{"spaces count", "    ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := domain.ValidatePassword(tt.p)
			if tt.ok {
				checkErr(t, err, "", "")
				return
			}
			checkErr(t, err, domain.CodeInvalid, "password")
		})
	}
}

func TestUserJSONHidesPasswordHash(t *testing.T) {
	b, err := json.Marshal(validUser())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "argon2") || strings.Contains(string(b), "password") {
		t.Errorf("user JSON leaks the password hash: %s", b)
	}
}

func TestRoles(t *testing.T) {
	want := []domain.Role{"admin", "dispatcher", "field", "viewer"}
	if diff := cmp.Diff(want, domain.Roles); diff != "" {
		t.Errorf("Roles mismatch (-want +got):\n%s", diff)
	}
	for _, r := range domain.Roles {
		if !r.Valid() {
			t.Errorf("%q.Valid() = false", r)
		}
	}
	if domain.Role("Admin").Valid() {
		t.Error(`"Admin".Valid() = true, want false`)
	}
}

func TestPrincipalActor(t *testing.T) {
	tests := []struct {
		p    domain.Principal
		want string
	}{
		{domain.Principal{Username: "alice", Node: "edge-1"}, "alice"},
		{domain.Principal{Node: "edge-1"}, "node:edge-1"},
		{domain.Principal{UserID: "u1"}, "system"},
		{domain.Principal{}, "system"},
	}
	for _, tt := range tests {
		if got := tt.p.Actor(); got != tt.want {
			t.Errorf("%+v.Actor() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := domain.PrincipalFrom(context.Background()); ok {
		t.Error("PrincipalFrom(empty ctx) ok = true, want false")
	}
	want := domain.Principal{UserID: "u1", Username: "alice", Role: domain.RoleField, TeamID: "team-a", Zones: []string{"Downtown"}}
	got, ok := domain.PrincipalFrom(domain.WithPrincipal(context.Background(), want))
	if !ok {
		t.Fatal("PrincipalFrom ok = false, want true")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PrincipalFrom mismatch (-want +got):\n%s", diff)
	}
}
