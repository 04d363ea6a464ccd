package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// ScopeStore is a hub store with its scope side (syncstore.ScopeStore).
type ScopeStore interface {
	domain.Store
	syncstore.Store
	syncstore.ScopeStore
}

// RunScope checks a store's scope side: a ticket moved out of a zone is an exit for that
// zone (ListScopeChanges and PrevZones), row histories follow the rows' current zones and
// bring teams' users, and edge zones can be edited but not on a revoked credential.
func RunScope(t *testing.T, s ScopeStore) {
	ctx := context.Background()
	now := time.Now()
	for _, z := range []string{"North", "South"} {
		if _, err := s.CreateZone(ctx, domain.Zone{Name: z}); err != nil {
			t.Fatal(err)
		}
	}
	tm, _ := domain.NewTeam(domain.TeamInput{Name: domain.Some("Alpha"), Zone: domain.Some("North")}, now)
	tm, err := s.CreateTeam(ctx, tm)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, domain.User{Username: "ana", Role: domain.RoleField, TeamID: &tm.ID, IsActive: true, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "Pump", Zone: "North"}, now)
	if tk, err = s.CreateTicket(ctx, tk); err != nil {
		t.Fatal(err)
	}
	head, _ := s.LastSeq(ctx)
	if _, err := s.UpdateTicket(ctx, tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{Zone: domain.Some("South")}.Apply(t, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	north, err := s.ListScopeChanges(ctx, head, []string{"North"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(north) != 1 || north[0].EntityID != tk.ID || north[0].Zone != "South" {
		t.Fatalf("North after the move: %+v, want the exit of %s", north, tk.ID)
	}
	if plain, _ := s.ListChanges(ctx, head, []string{"North"}, 100); len(plain) != 0 {
		t.Errorf("ListChanges(North) has the exit: %+v", plain)
	}
	prev, err := s.PrevZones(ctx, north)
	if err != nil || prev[north[0].ID] != "North" {
		t.Errorf("PrevZones = %v, %v; want North", prev, err)
	}
	if east, _ := s.ListScopeChanges(ctx, 0, []string{"East"}, 100); len(east) != 0 {
		t.Errorf("unknown zone has changes: %+v", east)
	}

	h, err := s.RowHistory(ctx, []string{"North"}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range h.Rows {
		keys = append(keys, string(r.Entity)+"/"+r.ID)
		if len(r.Changes) == 0 || r.Changes[0].Seq > h.Cursor || !slices.IsSortedFunc(r.Changes, func(a, b domain.Change) int { return int(a.Seq - b.Seq) }) {
			t.Errorf("history of %s/%s: %+v", r.Entity, r.ID, r.Changes)
		}
	}
	slices.Sort(keys)
	zones, _ := s.ListZones(ctx)
	var northID string
	for _, z := range zones {
		if z.Name == "North" {
			northID = z.ID
		}
	}
	want := []string{"team/" + tm.ID, "user/" + u.ID, "zone/" + northID}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("North rows %v, want %v", keys, want)
	}
	h, err = s.RowHistory(ctx, []string{"South"}, []syncstore.RowKey{{Entity: domain.EntityTicket, ID: tk.ID}, {Entity: domain.EntityTeam, ID: tm.ID}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Rows) != 1 || h.Rows[0].ID != tk.ID || len(h.Rows[0].Changes) < 2 {
		t.Errorf("South keyed history: %+v (the team is in North and must be left out)", h.Rows)
	}

	if _, _, err := s.CreateEdgeCredential(ctx, syncstore.EdgeCredential{Name: "e1", Zones: []string{"North"}}); err != nil {
		t.Fatal(err)
	}
	c, err := s.UpdateEdgeZones(ctx, "e1", []string{"North", "South"})
	if err != nil || !slices.Equal(c.Zones, []string{"North", "South"}) {
		t.Errorf("update zones: %+v %v", c, err)
	}
	if _, err := s.UpdateEdgeZones(ctx, "e1", []string{"Nowhere"}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("unknown zone: %v", err)
	}
	if _, err := s.UpdateEdgeZones(ctx, "nope", []string{"North"}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("unknown edge: %v", err)
	}
	if err := s.RevokeEdgeCredential(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateEdgeZones(ctx, "e1", []string{"North"}); domain.ErrorCode(err) != domain.CodeConflict {
		t.Errorf("revoked edge: %v", err)
	}
}
