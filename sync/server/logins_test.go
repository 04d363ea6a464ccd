package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/sync/server"
)

// TestLogins: POST /api/sync/logins answers an edge, for each distinct id in the order
// asked, whether that user may still log in: an active dispatcher may (with the hub's role
// and team), a deactivated user and an unknown id may not, each with its reason. Only an
// edge credential may ask, and bad input is refused as problem+json.
func TestLogins(t *testing.T) {
	hb := newHub(t, nil)
	tm, err := domain.NewTeam(domain.TeamInput{Name: domain.Some("Alpha"), Zone: domain.Some("south")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tm, err = hb.store.CreateTeam(hb.ctx, tm); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, role domain.Role, team *string) domain.User {
		u, err := hb.store.CreateUser(hb.ctx, domain.User{Username: name, Role: role, TeamID: team, IsActive: true, PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	disp := mk("disp", domain.RoleDispatcher, nil)
	tech := mk("tech.south", domain.RoleField, &tm.ID)
	gone := mk("viewer", domain.RoleViewer, nil)
	if _, err := hb.store.UpdateUser(hb.ctx, gone.ID, func(u domain.User) (domain.User, error) { u.IsActive = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	unknown := domain.NewID(time.Now())

	body := func(ids ...string) []byte {
		if ids == nil {
			ids = []string{}
		}
		b, _ := json.Marshal(map[string]any{"users": ids})
		return b
	}
	post := func(tok string, b []byte) (int, []byte) {
		t.Helper()
		resp, out := hb.do("POST", "/api/sync/logins", tok, b, "Content-Type", "application/json")
		return resp.StatusCode, out
	}

	code, b := post(hb.north, body(disp.ID, gone.ID, unknown, tech.ID, disp.ID))
	if code != 200 {
		t.Fatalf("logins: %d %s", code, b)
	}
	var got struct {
		Users []server.LoginStatus `json:"users"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	want := []server.LoginStatus{
		{ID: disp.ID, MayLogin: true, Username: "disp", Role: domain.RoleDispatcher},
		{ID: gone.ID, MayLogin: false, Reason: server.LoginReasonDeactivated, Username: "viewer", Role: domain.RoleViewer},
		{ID: unknown, MayLogin: false, Reason: server.LoginReasonUnknown},
		{ID: tech.ID, MayLogin: true, Username: "tech.south", Role: domain.RoleField, TeamID: &tm.ID},
	}
	if diff := cmp.Diff(want, got.Users); diff != "" {
		t.Errorf("logins answer (-want +got):\n%s", diff)
	}
	// The wire form a third-party edge reads: may_login and reason spelled out, team_id null.
	if !strings.Contains(string(b), `"may_login":false,"reason":"unknown","team_id":null}`) {
		t.Errorf("wire form of an unknown id: %s", b)
	}
	if code, b := post(hb.north, body()); code != 200 || strings.TrimSpace(string(b)) != `{"users":[]}` {
		t.Errorf("empty batch: %d %s", code, b)
	}

	// Only an edge credential may ask.
	forged := hb.north[:len(hb.north)-5] + "AAAAA"
	for name, tc := range map[string]struct {
		tok    string
		status int
		typ    string
	}{
		"no token":   {"", 401, "unauthorized"},
		"forged":     {forged, 401, "unauthorized"},
		"admin":      {hb.admin, 403, "forbidden"},
		"dispatcher": {hb.userToken(domain.RoleDispatcher, nil), 403, "forbidden"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, b := hb.do("POST", "/api/sync/logins", tc.tok, body(disp.ID), "Content-Type", "application/json")
			wantProblem(t, resp, b, tc.status, tc.typ, "")
			if strings.Contains(string(b), "disp") {
				t.Errorf("refused caller learned about the user: %s", b)
			}
		})
	}

	many := make([]string, server.MaxLoginIDs+1)
	for i := range many {
		many[i] = domain.NewID(time.Now())
	}
	for name, tc := range map[string]struct {
		body   string
		status int
		typ    string
		field  string
	}{
		"not json":      {`{"users": [`, 400, "invalid", ""},
		"no users":      {`{}`, 400, "invalid", "users"},
		"null users":    {`{"users": null}`, 400, "invalid", "users"},
		"not an id":     {`{"users": ["` + disp.ID + `", "disp"]}`, 400, "invalid", "users"},
		"lower case id": {`{"users": ["` + strings.ToLower(disp.ID) + `"]}`, 400, "invalid", "users"},
		"number":        {`{"users": [42]}`, 400, "invalid", ""},
		"unknown field": {`{"users": [], "zones": []}`, 400, "invalid", ""},
		"too many":      {string(body(many...)), 413, "too-large", "users"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, b := hb.do("POST", "/api/sync/logins", hb.north, []byte(tc.body), "Content-Type", "application/json")
			wantProblem(t, resp, b, tc.status, tc.typ, tc.field)
		})
	}
	if code, _ := post(hb.north, body(many[:server.MaxLoginIDs]...)); code != 200 {
		t.Errorf("a batch of exactly %d ids: %d", server.MaxLoginIDs, code)
	}
}

// usersByID is the store side of the login check, on both hub stores.
type usersByID interface {
	CreateUser(ctx context.Context, u domain.User) (domain.User, error)
	GetUsersByID(ctx context.Context, ids []string) (map[string]domain.User, error)
}

// TestGetUsersByID: both hub stores return the users that exist among the ids, by id, with
// every field GetUser returns, and nothing for unknown ids or an empty batch.
func TestGetUsersByID(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) usersByID{
		"sqlite":   func(t *testing.T) usersByID { return storetest.OpenSQLite(t, nil) },
		"postgres": func(t *testing.T) usersByID { return storetest.OpenPostgres(t, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			want := map[string]domain.User{}
			var ids []string
			for i := range 3 {
				u, err := s.CreateUser(ctx, domain.User{Username: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i),
					Role: domain.RoleDispatcher, IsActive: i != 1, PasswordHash: "h"})
				if err != nil {
					t.Fatal(err)
				}
				want[u.ID] = u
				ids = append(ids, u.ID)
			}
			if _, err := s.CreateUser(ctx, domain.User{Username: "other", Role: domain.RoleViewer, IsActive: true, PasswordHash: "h"}); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetUsersByID(ctx, append(ids, domain.NewID(time.Now())))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			if got, err := s.GetUsersByID(ctx, nil); err != nil || len(got) != 0 {
				t.Errorf("empty batch: %v %v", got, err)
			}
		})
	}
}
