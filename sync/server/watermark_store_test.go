package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// watermarkStore is a hub store with watermarks.
type watermarkStore interface {
	syncstore.Store
	syncstore.Watermarks
	domain.TicketStore
	domain.ZoneStore
}

// TestWatermarksOnBothStores holds both adapters to the watermark rules: cursors only move
// forward, a tombstone waits for every live holder, a silent replica is marked stale and
// refused, a purged row's changes stay duplicates and later edits are refused.
func TestWatermarksOnBothStores(t *testing.T) {
	for name, open := range map[string]func(t *testing.T, now func() time.Time) watermarkStore{
		"sqlite":   func(t *testing.T, now func() time.Time) watermarkStore { return storetest.OpenSQLite(t, now) },
		"postgres": func(t *testing.T, now func() time.Time) watermarkStore { return storetest.OpenPostgres(t, now) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{t: time.Now().UTC().Truncate(time.Microsecond)}
			s := open(t, clock.Now)
			for _, z := range []string{"north", "south"} {
				if _, err := s.CreateZone(ctx, domain.Zone{Name: z}); err != nil {
					t.Fatal(err)
				}
			}
			tk, err := domain.NewTicket(domain.NewTicketInput{Title: "doomed", Zone: "north"}, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if tk, err = s.CreateTicket(ctx, tk); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteTicket(ctx, tk.ID); err != nil {
				t.Fatal(err)
			}
			head, _ := s.LastSeq(ctx)

			mustRecord := func(node string, zones []string, cursor int64) syncstore.Replica {
				t.Helper()
				r, err := s.RecordCursor(ctx, node, zones, cursor)
				if err != nil {
					t.Fatalf("record %s at %d: %v", node, cursor, err)
				}
				return r
			}
			mustRecord("a", []string{"north"}, head)
			if r := mustRecord("a", []string{"north"}, 1); r.Cursor != head {
				t.Errorf("cursor moved back to %d, want %d", r.Cursor, head)
			}
			mustRecord("b", []string{"north"}, head-1) // has not seen the delete
			mustRecord("c", []string{"south"}, 0)      // never held the row
			mustRecord("d", nil, head)                 // every zone

			st, err := s.CollectTombstones(ctx, clock.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if st.Tombstones != 1 || st.Purged != 0 {
				t.Fatalf("collected %+v while b is behind", st)
			}

			// b goes silent; an hour and more later it no longer holds the tombstone back.
			clock.Add(2 * time.Hour)
			mustRecord("a", []string{"north"}, head)
			mustRecord("c", []string{"south"}, 0)
			mustRecord("d", nil, head)
			st, err = s.CollectTombstones(ctx, clock.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Stale) != 1 || st.Stale[0] != "b" || st.Purged != 1 || st.Changes < 2 {
				t.Fatalf("collected %+v, want b stale and the row purged", st)
			}
			if _, err := s.RecordCursor(ctx, "b", []string{"north"}, head); domain.ErrorCode(err) != domain.CodeConflict {
				t.Errorf("stale replica recorded: %v, want conflict", err)
			}
			if err := s.Rebootstrapped(ctx, "b", []string{"north"}, head); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RecordCursor(ctx, "b", []string{"north"}, head-1); domain.ErrorCode(err) != domain.CodeConflict {
				t.Errorf("pull below the snapshot's cursor: %v, want conflict", err)
			}
			mustRecord("b", []string{"north"}, head)

			cs, err := s.ListChanges(ctx, 0, nil, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if c.EntityID == tk.ID {
					t.Errorf("purged row still logged: %+v", c)
				}
			}
			// A late edit of the purged row is refused.
			edge := domain.Principal{Node: "a", Zones: []string{"north"}}
			late := domain.Change{ID: domain.NewID(clock.Now()), Origin: "a", Actor: "tech", Entity: domain.EntityTicket, EntityID: tk.ID,
				Op: domain.OpUpsert, Zone: "north", Patch: map[string]json.RawMessage{"title": json.RawMessage(`"back?"`)},
				HLC: hlc.Timestamp{Wall: time.Now().UnixMilli(), Node: "a"}.String(), At: clock.Now()}
			res, err := s.PushChanges(domain.WithPrincipal(ctx, edge), edge, []domain.Change{late})
			if err != nil {
				t.Fatal(err)
			}
			if r := res.Results[0]; r.Status != wire.Rejected || r.Code != domain.CodeConflict {
				t.Errorf("late edit of a purged row: %+v", r)
			}
			if _, err := s.GetTicket(ctx, tk.ID); domain.ErrorCode(err) != domain.CodeNotFound {
				t.Errorf("purged ticket: %v, want not found", err)
			}
		})
	}
}
