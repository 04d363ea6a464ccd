package merge

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
)

// TestInsertEditMatchesBuild drives Apply with random histories, mostly in clock order so
// the fast path runs often, and checks every step against the definition: build over the
// whole set and diff against the previous row. It also checks that the fast path ran, so a
// condition that always falls back cannot pass unnoticed.
func TestInsertEditMatchesBuild(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	origins := []string{"hub", "edge-a", "edge-b"}
	values := map[string][]string{
		"title":    {"pump", "valve"},
		"priority": {"low", "high"},
		"status":   {"open", "assigned", "in_progress", "on_hold", "resolved", "closed", "cancelled"},
	}
	names := []string{"title", "priority", "status"}
	fast := 0
	for seed := range uint64(400) {
		r := rand.New(rand.NewPCG(seed, 7))
		var row Row
		ms := int64(0)
		for i := range 12 {
			origin := origins[r.IntN(len(origins))]
			if r.IntN(5) > 0 {
				ms += int64(r.IntN(3)) // mostly forward: the fast path's case
			} else {
				ms -= int64(r.IntN(4)) // sometimes a late arrival
			}
			c := domain.Change{ID: domain.NewID(t0.Add(time.Duration(i) * time.Millisecond)), Origin: origin, Actor: "u." + origin,
				Entity: domain.EntityTicket, EntityID: "01JXA7ZZZZ1111111111111111", Op: domain.OpUpsert,
				HLC: hlc.Timestamp{Wall: t0.UnixMilli() + ms, Node: origin}.String(), At: t0, Patch: map[string]json.RawMessage{}}
			if r.IntN(15) == 0 {
				c.Op = domain.OpDelete
			} else {
				for range 1 + r.IntN(2) {
					f := names[r.IntN(len(names))]
					b, _ := json.Marshal(values[f][r.IntN(len(values[f]))])
					c.Patch[f] = b
				}
				if r.IntN(2) == 0 && ms > 0 {
					c.Base = map[string]string{}
					for _, f := range names {
						if r.IntN(2) == 0 {
							c.Base[f] = hlc.Timestamp{Wall: t0.UnixMilli() + int64(r.IntN(int(ms))), Node: origins[r.IntN(len(origins))]}.String()
						}
					}
				}
			}
			if len(row.Changes) > 0 && r.IntN(10) == 0 {
				// the hub's clamped copy of a change held: same id, lower clock
				c = row.Changes[r.IntN(len(row.Changes))]
				ts, _ := hlc.Parse(c.HLC)
				if ts.Wall > t0.UnixMilli()-5 {
					ts.Wall--
				}
				c.HLC = ts.String()
			}
			n, err := normalize(c)
			if err != nil {
				t.Fatal(err)
			}
			if i := slices.IndexFunc(row.Changes, func(o domain.Change) bool { return o.ID == n.ID }); i >= 0 && n.HLC >= row.Changes[i].HLC {
				continue // a duplicate: TestApplyTwiceIsNoOp's case
			}
			kept := slices.DeleteFunc(slices.Clone(row.Changes), func(o domain.Change) bool { return o.ID == n.ID })
			want := build(row.Entity, row.ID, append(kept, n))
			if row.Entity == "" {
				want = build(c.Entity, c.EntityID, []domain.Change{n})
			}
			wantRes := diff(row, want, n)
			base := row
			if base.Entity == "" {
				base.Entity, base.ID = c.Entity, c.EntityID
			}
			if len(kept) == len(row.Changes) {
				if _, _, ok := insertEdit(base, base.Changes, n, false); ok {
					fast++
				}
			}
			got, res, err := Apply(row, c)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("seed %d step %d: row differs from build (-build +apply):\n%s", seed, i, d)
			}
			if d := cmp.Diff(wantRes, res); d != "" {
				t.Fatalf("seed %d step %d: result differs (-build +apply):\n%s", seed, i, d)
			}
			owned := row
			owned.Fields = maps.Clone(row.Fields)
			gotOwned, resOwned, err := ApplyOwned(owned, c)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(got, gotOwned); d != "" {
				t.Fatalf("seed %d step %d: ApplyOwned's row differs (-Apply +ApplyOwned):\n%s", seed, i, d)
			}
			if d := cmp.Diff(res, resOwned); d != "" {
				t.Fatalf("seed %d step %d: ApplyOwned's result differs (-Apply +ApplyOwned):\n%s", seed, i, d)
			}
			row = got
		}
	}
	if fast < 1000 {
		t.Fatalf("fast path ran %d times in 4800 steps; the test no longer exercises it", fast)
	}
	t.Logf("fast path ran %d of 4800 steps", fast)
}

// TestApplyRebuildsARowWithoutDerivedFields: a row that lost its derived parts (decoded from
// a store that kept only the changes) is built, not extended, so Apply's answer is the same.
func TestApplyRebuildsARowWithoutDerivedFields(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	mk := func(i int, field, value string) domain.Change {
		v, _ := json.Marshal(value)
		return domain.Change{ID: domain.NewID(t0.Add(time.Duration(i) * time.Millisecond)), Origin: "edge-a", Actor: "tech",
			Entity: domain.EntityTicket, EntityID: "01JXA7ZZZZ1111111111111111", Op: domain.OpUpsert, At: t0,
			HLC: hlc.Timestamp{Wall: t0.UnixMilli() + int64(i), Node: "edge-a"}.String(), Patch: map[string]json.RawMessage{field: v}}
	}
	full, err := Replay([]domain.Change{mk(1, "title", "pump"), mk(2, "priority", "high")})
	if err != nil {
		t.Fatal(err)
	}
	bare := Row{Entity: full.Entity, ID: full.ID, Changes: full.Changes}
	c3 := mk(3, "title", "valve")
	want, _, err := Apply(full, c3)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Apply(bare, c3)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Apply on a row without fields (-want +got):\n%s", d)
	}
}
