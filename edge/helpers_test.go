package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	"github.com/aiff/aiff/hub/auth"
	"github.com/aiff/aiff/sync/hlc"
)

var bg = context.Background()

// checkFor polls cond until it holds or d passes.
func checkFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fixture is a small zone as the hub's log would describe it.
type fixture struct {
	zone     domain.Zone
	team     domain.Team
	ticket   domain.Ticket
	field    domain.User
	dispatch domain.User
	changes  []domain.Change
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	clock := hlc.NewClock(domain.HubOrigin)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var f fixture
	var seq int64
	add := func(entity domain.Entity, id, zone string, v any) {
		patch, err := domain.Diff(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		delete(patch, "deleted_at")
		seq++
		f.changes = append(f.changes, domain.Change{ID: domain.NewID(now), Seq: seq, Origin: domain.HubOrigin, Actor: "system",
			Entity: entity, EntityID: id, Op: domain.OpUpsert, Zone: zone, Patch: patch, HLC: clock.Now().String(), At: now})
	}
	f.zone = domain.Zone{ID: domain.NewID(now), Name: "North", Region: "Berlin", CreatedAt: now}
	var err error
	if f.team, err = domain.NewTeam(domain.TeamInput{Name: domain.Some("Alpha"), Zone: domain.Some("North")}, now); err != nil {
		t.Fatal(err)
	}
	f.team.ID = domain.NewID(now)
	if f.ticket, err = domain.NewTicket(domain.NewTicketInput{Title: "Broken pump", Zone: "North"}, now); err != nil {
		t.Fatal(err)
	}
	f.ticket.ID, f.ticket.Number = domain.NewID(now), domain.TicketNumber(1)
	team := f.team.ID
	f.field = domain.User{ID: domain.NewID(now), Username: "tech.ana", Role: domain.RoleField, TeamID: &team, IsActive: true, CreatedAt: now, UpdatedAt: now}
	f.dispatch = domain.User{ID: domain.NewID(now), Username: "disp", Role: domain.RoleDispatcher, IsActive: true, CreatedAt: now, UpdatedAt: now}
	add(domain.EntityZone, f.zone.ID, "North", f.zone)
	add(domain.EntityTeam, f.team.ID, "North", f.team)
	add(domain.EntityTicket, f.ticket.ID, "North", f.ticket)
	add(domain.EntityUser, f.field.ID, "North", f.field)
	return f
}

// seed applies the fixture to a node's store and caches passwords for both users.
func (f fixture) seed(t testing.TB, n *edge.Node, password string) {
	t.Helper()
	if err := n.Store.ApplyRemote(bg, f.changes, int64(len(f.changes))); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []domain.User{f.field, f.dispatch} {
		if err := n.Store.SaveCredential(bg, u, hash); err != nil {
			t.Fatal(err)
		}
	}
}

// api is a tiny JSON client for an edge or hub.
type api struct {
	t     testing.TB
	base  string
	token string
}

func (a api) do(method, path string, body any, out any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			r = bytes.NewBufferString(s)
		} else {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (a api) login(username, password string) api {
	a.t.Helper()
	var s struct {
		AccessToken string `json:"access_token"`
	}
	if code := a.do("POST", "/api/auth/login", map[string]string{"username": username, "password": password}, &s); code != 200 {
		a.t.Fatalf("login %s: %d", username, code)
	}
	a.token = s.AccessToken
	return a
}
