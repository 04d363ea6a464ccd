package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

func TestUserPatchApply(t *testing.T) {
	const (
		team  = "01JP0000000000000000000009"
		other = "01JP0000000000000000000003" // another admin
	)
	admin := validUser()
	admin.Role = domain.RoleAdmin
	field := validUser()
	field.Role, field.TeamID = domain.RoleField, ptr(team)
	tests := []struct {
		name  string
		user  domain.User
		actor string
		body  string
		want  func(*domain.User) // expected change to user; nil when an error is expected
		code  domain.Code
		field string
	}{
		{"empty", validUser(), other, `{}`, nil, domain.CodeInvalid, ""},
		{"deactivate", validUser(), other, `{"is_active":false}`, func(u *domain.User) { u.IsActive = false }, "", ""},
		{"reactivate", func() domain.User { u := validUser(); u.IsActive = false; return u }(), other, `{"is_active":true}`,
			func(u *domain.User) { u.IsActive = true }, "", ""},
		{"is_active null", validUser(), other, `{"is_active":null}`, nil, domain.CodeInvalid, "is_active"},
		{"role viewer", validUser(), other, `{"role":"viewer"}`, func(u *domain.User) { u.Role = domain.RoleViewer }, "", ""},
		{"role unknown", validUser(), other, `{"role":"root"}`, nil, domain.CodeInvalid, "role"},
		{"role null", validUser(), other, `{"role":null}`, nil, domain.CodeInvalid, "role"},
		{"role field without team", validUser(), other, `{"role":"field"}`, nil, domain.CodeInvalid, "team_id"},
		{"role field with team", validUser(), other, `{"role":"field","team_id":"` + team + `"}`,
			func(u *domain.User) { u.Role, u.TeamID = domain.RoleField, ptr(team) }, "", ""},
		{"team set", validUser(), other, `{"team_id":"` + team + `"}`, func(u *domain.User) { u.TeamID = ptr(team) }, "", ""},
		{"team null clears", func() domain.User { u := validUser(); u.TeamID = ptr(team); return u }(), other, `{"team_id":null}`,
			func(u *domain.User) { u.TeamID = nil }, "", ""},
		{"team null on field user", field, other, `{"team_id":null}`, nil, domain.CodeInvalid, "team_id"},
		{"team malformed", validUser(), other, `{"team_id":"nope"}`, nil, domain.CodeInvalid, "team_id"},
		{"team empty string", validUser(), other, `{"team_id":""}`, nil, domain.CodeInvalid, "team_id"},
		{"email changed and trimmed", validUser(), other, `{"email":" bob@example.com "}`,
			func(u *domain.User) { u.Email = "bob@example.com" }, "", ""},
		{"email null clears", validUser(), other, `{"email":null}`, func(u *domain.User) { u.Email = "" }, "", ""},
		{"email invalid", validUser(), other, `{"email":"bob"}`, nil, domain.CodeInvalid, "email"},
		{"self deactivation", admin, admin.ID, `{"is_active":false}`, nil, domain.CodeForbidden, "is_active"},
		{"self demotion", admin, admin.ID, `{"role":"dispatcher"}`, nil, domain.CodeForbidden, "role"},
		{"self email change", admin, admin.ID, `{"email":"root@example.com","is_active":true,"role":"admin"}`,
			func(u *domain.User) { u.Email = "root@example.com" }, "", ""},
		{"other admin deactivated", admin, other, `{"is_active":false}`, func(u *domain.User) { u.IsActive = false }, "", ""},
		{"no actor is not self", admin, "", `{"is_active":false}`, func(u *domain.User) { u.IsActive = false }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p domain.UserPatch
			if err := json.Unmarshal([]byte(tt.body), &p); err != nil {
				t.Fatal(err)
			}
			got, err := p.Apply(tt.user, tt.actor)
			if tt.want == nil {
				checkErr(t, err, tt.code, tt.field)
				return
			}
			checkErr(t, err, "", "")
			want := tt.user
			tt.want(&want)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("user (-want +got):\n%s", d)
			}
		})
	}
}

// TestUserPatchJSON: the patch round-trips with absent fields left out, so a client can send
// what it decoded.
func TestUserPatchJSON(t *testing.T) {
	p := domain.UserPatch{IsActive: domain.Some(false), TeamID: domain.Opt[string]{Set: true, Null: true}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"team_id":null,"is_active":false}` {
		t.Fatalf("json %s", b)
	}
}
