package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/snapshot"
	"github.com/aiff/aiff/sync/wire"
)

// testCompact is the log compaction suite (sync/PROTOCOL.md §9): the store's Compact keeps
// every replica's state, leaves holes that pulls skip, answers a retried push of a dropped
// change "duplicate", refuses changes below the horizon, and its snapshot log compacts to the
// same state.
func testCompact(t *testing.T, open SyncFactory) {
	t.Run("StateEquivalent", func(t *testing.T) { testCompactState(t, open) })
	t.Run("DroppedIsDuplicate", func(t *testing.T) { testCompactDuplicate(t, open) })
	t.Run("HorizonRefusal", func(t *testing.T) { testCompactHorizon(t, open) })
}

func compactorOf(t *testing.T, s SyncStore) (syncstore.Compactor, syncstore.SnapshotSource) {
	t.Helper()
	c, ok := s.(syncstore.Compactor)
	if !ok {
		t.Fatalf("%T does not implement syncstore.Compactor", s)
	}
	src, ok := s.(syncstore.SnapshotSource)
	if !ok {
		t.Fatalf("%T does not implement syncstore.SnapshotSource", s)
	}
	return c, src
}

// compactHistory writes days of history, a day at a time: tickets in two zones edited through
// the API and by an edge, a ticket moved between zones, one deleted.
func compactHistory(e *syncEnv, days int) []domain.Ticket {
	e.t.Helper()
	e.zone("north")
	e.zone("south")
	e.team("A", "north")
	e.team("B", "south")
	var ts []domain.Ticket
	for i := range 8 {
		z := []string{"north", "south"}[i%2]
		ts = append(ts, e.ticket(fmt.Sprintf("t%d", i), z, domain.PriorityLow))
	}
	rng := rand.New(rand.NewPCG(4, 2))
	prios := []domain.Priority{domain.PriorityLow, domain.PriorityMedium, domain.PriorityHigh}
	for day := range days {
		e.clock.Advance(24 * time.Hour)
		for range 3 {
			t := ts[rng.IntN(len(ts)-1)] // the last one is deleted below
			switch rng.IntN(3) {
			case 0:
				e.update(t.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
					t.Title, t.UpdatedAt = fmt.Sprintf("%s day %d", strings.Fields(t.Title)[0], day), at
					return t, nil
				})
			case 1:
				e.update(t.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
					t.Priority, t.UpdatedAt = prios[rng.IntN(len(prios))], at
					return t, nil
				})
			case 2:
				cur, err := e.s.GetTicket(e.ctx, t.ID)
				if err != nil {
					e.t.Fatal(err)
				}
				if cur.Zone != "north" {
					continue
				}
				c := e.change(domain.EntityTicket, t.ID, domain.OpUpsert, map[string]any{"description": fmt.Sprintf("edge note %d", day)})
				if r := e.push(e.p, c); r.Results[0].Status != wire.Accepted {
					e.t.Fatalf("edge edit: %+v", r.Results[0])
				}
			}
		}
		switch day {
		case 5:
			e.update(ts[2].ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
				t.Zone, t.UpdatedAt = "south", at
				return t, nil
			})
		case 10:
			if err := e.s.DeleteTicket(e.ctx, ts[len(ts)-1].ID); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return ts
}

// rowStates replays the changes per row and returns each row's state digest by key.
func rowStates(t *testing.T, changes []domain.Change) map[string]string {
	t.Helper()
	groups := map[string][]domain.Change{}
	for _, c := range changes {
		k := string(c.Entity) + "/" + c.EntityID
		groups[k] = append(groups[k], c)
	}
	out := map[string]string{}
	for k, cs := range groups {
		row, err := merge.Replay(cs)
		if err != nil {
			t.Fatalf("replay %s: %v", k, err)
		}
		out[k] = merge.DigestStates([]merge.State{row.State()})
	}
	return out
}

func diffStates(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: row %s differs from a full replay of the history", what, k)
		}
	}
}

func (e *syncEnv) zoneDigest(zone string) string {
	e.t.Helper()
	snap, err := e.ss.Snapshot(e.ctx, []string{zone})
	if err != nil {
		e.t.Fatalf("snapshot %s: %v", zone, err)
	}
	return merge.DigestStates(snap.States())
}

func testCompactState(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	comp, src := compactorOf(t, e.ss)
	compactHistory(e, 90)
	full := e.changesAfter(0)
	head := e.lastSeq()
	if int64(len(full)) != head {
		t.Fatalf("before compaction: %d changes, head %d", len(full), head)
	}
	before := rowStates(t, full)
	digests := map[string]string{"north": e.zoneDigest("north"), "south": e.zoneDigest("south")}
	// A reader that applied the log up to the middle of the history before compaction.
	cursor := head / 2
	var reader []domain.Change
	for _, c := range full {
		if c.Seq <= cursor {
			reader = append(reader, c)
		}
	}

	st, err := comp.Compact(e.ctx, e.clock.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	if st.Dropped == 0 || st.Trimmed == 0 || st.Compacted == 0 || st.Horizon != merge.HorizonAt(e.clock.Now().Add(-30*24*time.Hour)).HLC {
		t.Fatalf("compact stats %+v: want drops, trims and the horizon", st)
	}
	after := e.changesAfter(0)
	if len(after) != len(full)-st.Dropped {
		t.Errorf("log has %d changes after dropping %d of %d", len(after), st.Dropped, len(full))
	}
	if e.lastSeq() != head {
		t.Errorf("head moved from %d to %d", head, e.lastSeq())
	}
	// Kept changes keep their seq, clock, zone and a subset of their patch; seqs increase.
	byID := map[string]domain.Change{}
	for _, c := range full {
		byID[c.ID] = c
	}
	for i, c := range after {
		o, ok := byID[c.ID]
		if !ok || o.Seq != c.Seq || o.HLC != c.HLC || o.Zone != c.Zone || o.Origin != c.Origin || len(c.Patch) > len(o.Patch) {
			t.Fatalf("compacted change %s is not a trimmed copy of the logged one", c.ID)
		}
		for f, v := range c.Patch {
			if string(o.Patch[f]) != string(v) {
				t.Fatalf("change %s field %s: %s, logged %s", c.ID, f, v, o.Patch[f])
			}
		}
		if i > 0 && after[i-1].Seq >= c.Seq {
			t.Fatalf("seqs not increasing at %d", c.Seq)
		}
	}
	diffStates(t, "compacted log", before, rowStates(t, after))
	for z, d := range digests {
		if got := e.zoneDigest(z); got != d {
			t.Errorf("zone %s digest changed by compaction", z)
		}
	}
	// The reader pulls from its old cursor across the holes and ends in the same state.
	pulled := append(reader, e.changesAfter(cursor)...)
	diffStates(t, "reader at an old cursor", before, rowStates(t, pulled))
	// Pages of every size return each remaining change once, in order.
	for _, size := range []int{1, 7} {
		var got []domain.Change
		for seq := int64(0); ; {
			page, err := e.s.ListChanges(e.ctx, seq, nil, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			seq = page[len(page)-1].Seq
		}
		if len(got) != len(after) {
			t.Errorf("paging by %d: %d changes, want %d", size, len(got), len(after))
		}
	}
	// The snapshot log, compacted at its horizon, is the same state too.
	for _, zones := range [][]string{nil, {"north"}} {
		sl, err := src.SnapshotLog(e.ctx, zones)
		if err != nil {
			t.Fatalf("snapshot log: %v", err)
		}
		if sl.Cursor != head || sl.Horizon != st.Horizon {
			t.Errorf("snapshot log cursor %d horizon %q, want %d %q", sl.Cursor, sl.Horizon, head, st.Horizon)
		}
		h, _ := merge.ParseHorizon(sl.Horizon)
		rows, err := snapshot.Rows(sl.Changes, h)
		if err != nil {
			t.Fatal(err)
		}
		var states []merge.State
		var cs []domain.Change
		for _, r := range rows {
			cs = append(cs, r.Changes...)
			row, err := merge.Replay(r.Changes)
			if err != nil {
				t.Fatal(err)
			}
			states = append(states, row.State())
		}
		if zones == nil {
			diffStates(t, "snapshot of every zone", before, rowStates(t, cs))
			if len(sl.Zones) != 2 {
				t.Errorf("snapshot zones %v", sl.Zones)
			}
		} else if got := merge.DigestStates(states); got != digests["north"] {
			t.Errorf("north snapshot digest differs from the zone digest")
		}
	}
	// Compacting again at the same horizon changes nothing.
	again, err := comp.Compact(e.ctx, e.clock.Now().Add(-30*24*time.Hour))
	if err != nil || again.Dropped != 0 || again.Trimmed != 0 {
		t.Errorf("second compaction: %+v, %v", again, err)
	}
	// Writes after compaction merge against the compacted rows as against the full ones.
	tk := e.changesAfter(0)[0]
	for _, c := range after {
		if c.Entity == domain.EntityTicket {
			tk = c
			break
		}
	}
	if cur, err := e.s.GetTicket(e.ctx, tk.EntityID); err == nil && cur.Zone == "north" {
		c := e.change(domain.EntityTicket, tk.EntityID, domain.OpUpsert, map[string]any{"title": "after compaction"})
		if r := e.push(e.p, c); r.Results[0].Status != wire.Accepted {
			t.Fatalf("push after compaction: %+v", r.Results[0])
		}
		e.checkMaterialized(domain.EntityTicket, tk.EntityID)
	}
}

func testCompactDuplicate(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	comp, _ := compactorOf(t, e.ss)
	e.zone("north")
	tk := e.ticket("dup", "north", domain.PriorityLow)
	e.clock.Advance(time.Hour)
	edit := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"title": "edge title"})
	first := e.push(e.p, edit)
	if first.Results[0].Status != wire.Accepted {
		t.Fatalf("push: %+v", first.Results[0])
	}
	e.clock.Advance(time.Hour)
	e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
		t.Title, t.UpdatedAt = "hub title", at
		return t, nil
	})
	e.clock.Advance(40 * 24 * time.Hour)
	st, err := comp.Compact(e.ctx, e.clock.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.changesAfter(0) {
		if c.ID == edit.ID {
			t.Fatalf("the overwritten edge edit is still in the log (stats %+v)", st)
		}
	}
	// A retried push of the dropped change is a duplicate at its old seq, and stores nothing.
	head := e.lastSeq()
	again := e.push(e.p, edit)
	if r := again.Results[0]; r.Status != wire.Duplicate || r.Seq != first.Results[0].Seq {
		t.Fatalf("retried push of a dropped change: %+v, want duplicate at seq %d", r, first.Results[0].Seq)
	}
	if e.lastSeq() != head {
		t.Error("a duplicate of a dropped change was appended")
	}
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Title != "hub title" {
		t.Errorf("title %q after the retried push", got.Title)
	}
}

func testCompactHorizon(t *testing.T, open SyncFactory) {
	e := newSyncEnv(t, open)
	comp, _ := compactorOf(t, e.ss)
	e.zone("north")
	tk := e.ticket("old", "north", domain.PriorityLow)
	e.clock.Advance(60 * 24 * time.Hour)
	// An edge change made 50 days ago (its clock then), pushed now.
	old := func(id string, patch map[string]any) domain.Change {
		c := e.change(domain.EntityTicket, id, domain.OpUpsert, patch)
		c.HLC = hlc.Timestamp{Wall: e.clock.Now().Add(-50 * 24 * time.Hour).UnixMilli(), Node: e.edge.Node}.String()
		c.At = e.clock.Now().Add(-50 * 24 * time.Hour)
		return c
	}
	// Before any horizon, an old change is merged (it loses or wins by its clock).
	if r := e.push(e.p, old(tk.ID, map[string]any{"description": "old but fine"})); r.Results[0].Status != wire.Accepted {
		t.Fatalf("old change without a horizon: %+v", r.Results[0])
	}
	horizonAt := e.clock.Now().Add(-30 * 24 * time.Hour)
	st, err := comp.Compact(e.ctx, horizonAt)
	if err != nil {
		t.Fatal(err)
	}
	want := merge.HorizonAt(horizonAt).HLC
	if st.Horizon != want {
		t.Fatalf("horizon %q, want %q", st.Horizon, want)
	}
	head := e.lastSeq()
	r := e.push(e.p, old(tk.ID, map[string]any{"description": "too old"}))
	if res := r.Results[0]; res.Status != wire.Rejected || res.Code != domain.CodeConflict || !strings.Contains(res.Error, "older than the compacted history") {
		t.Fatalf("old change to a row with history: %+v, want rejected conflict naming the horizon", res)
	}
	if e.lastSeq() != head {
		t.Error("a refused change was appended")
	}
	// An old change may still create a row; a fresh one is accepted as always.
	nt := e.newTicketChange("created offline", "north")
	nt.HLC = hlc.Timestamp{Wall: e.clock.Now().Add(-50 * 24 * time.Hour).UnixMilli(), Node: e.edge.Node}.String()
	if r := e.push(e.p, nt); r.Results[0].Status != wire.Accepted {
		t.Fatalf("old create of a new row: %+v", r.Results[0])
	}
	fresh := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"description": "fresh"})
	if r := e.push(e.p, fresh); r.Results[0].Status != wire.Accepted {
		t.Fatalf("fresh change: %+v", r.Results[0])
	}
	// The horizon never moves back.
	st, err = comp.Compact(e.ctx, horizonAt.Add(-10*24*time.Hour))
	if err != nil || st.Horizon != want {
		t.Fatalf("compact at an earlier time: horizon %q, %v; want %q kept", st.Horizon, err, want)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"horizon"`) {
		t.Errorf("stats json %s", b)
	}
}
