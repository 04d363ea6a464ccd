package seedtest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

// checkGenesis requires one create change per seeded row (zones, teams, users, tickets) with
// seq 1..N, origin "seed" and an HLC at the row's creation, and that replaying a row's
// genesis change gives the stored row's values (checked for every zone and team, and for a
// sample of tickets).
func checkGenesis(t *testing.T, s Store, ds *seed.Dataset) {
	t.Helper()
	ctx := context.Background()
	want := int64(len(ds.Zones) + len(ds.Teams) + len(ds.Users) + ds.Config.Tickets)
	if seq, err := s.LastSeq(ctx); err != nil || seq != want {
		t.Fatalf("change log after seeding: last seq %d, %v; want %d (one genesis change per row)", seq, err, want)
	}
	seen := map[string]bool{}
	var seq int64
	checked := 0
	for {
		page, err := s.ListChanges(ctx, seq, nil, 1000)
		if err != nil {
			t.Fatalf("list changes: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			seq++
			if c.Seq != seq || c.Origin != "seed" || c.Op != domain.OpUpsert || !domain.ValidID(c.ID) {
				t.Fatalf("genesis change %+v: want seq %d, origin seed, upsert", c, seq)
			}
			ts, err := hlc.Parse(c.HLC)
			if err != nil || ts.Wall != c.At.UnixMilli() || ts.Node != "seed" {
				t.Fatalf("genesis change %d hlc %q, at %v", c.Seq, c.HLC, c.At)
			}
			key := string(c.Entity) + " " + c.EntityID
			if seen[key] {
				t.Fatalf("two genesis changes for %s", key)
			}
			seen[key] = true
			if c.Entity == domain.EntityTicket && c.Seq%97 != 0 {
				continue
			}
			row, err := merge.Replay([]domain.Change{c})
			if err != nil {
				t.Fatalf("replay genesis %d: %v", c.Seq, err)
			}
			var stored any
			switch c.Entity {
			case domain.EntityTicket:
				stored, err = s.GetTicket(ctx, c.EntityID)
			case domain.EntityTeam:
				stored, err = s.GetTeam(ctx, c.EntityID)
			case domain.EntityZone:
				stored, err = s.GetZone(ctx, c.Zone)
			case domain.EntityUser:
				stored, err = s.GetUser(ctx, c.EntityID)
			}
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			b, _ := json.Marshal(stored)
			var m map[string]json.RawMessage
			json.Unmarshal(b, &m)
			for f, v := range row.Fields {
				got, _ := merge.Canonical(m[f])
				want, _ := merge.Canonical(v.Value)
				if string(got) != string(want) {
					t.Errorf("%s field %s: stored %s, genesis %s", key, f, got, want)
				}
			}
			checked++
		}
	}
	if seq != want || checked == 0 {
		t.Errorf("read %d genesis changes (%d compared), want %d", seq, checked, want)
	}
}
