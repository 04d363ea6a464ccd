package integrity_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/integrity"
	"github.com/aiff/aiff/sync/merge"
)

func state(id, zone string, deleted bool) merge.State {
	z, _ := json.Marshal(zone)
	return merge.State{Entity: domain.EntityTicket, ID: id, Deleted: deleted, Fields: map[string]json.RawMessage{"zone": z}}
}

func TestSumsAndDiff(t *testing.T) {
	var states []merge.State
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		states = append(states, state(id, "North", false))
	}
	base := integrity.Sums(states)
	n := 0
	for b, s := range base {
		if !integrity.ValidBucket(b) {
			t.Errorf("bucket %q is not valid", b)
		}
		n += s.Rows
	}
	if n != len(states) {
		t.Fatalf("buckets hold %d rows, want %d", n, len(states))
	}
	if d := integrity.Diff(base, integrity.Sums(states)); len(d) != 0 {
		t.Errorf("equal states differ in %v", d)
	}
	changed := slices.Clone(states)
	changed[2] = state("c", "North", true) // tombstoned
	changed = append(changed[:5], changed[6:]...)
	changed = append(changed, state("stray", "North", false))
	want := []string{integrity.BucketOf(domain.EntityTicket, "c"), integrity.BucketOf(domain.EntityTicket, "f"),
		integrity.BucketOf(domain.EntityTicket, "stray")}
	slices.Sort(want)
	want = slices.Compact(want)
	if got := integrity.Diff(base, integrity.Sums(changed)); !slices.Equal(got, want) {
		t.Errorf("diff %v, want %v", got, want)
	}
	for _, b := range []string{"", "0", "0g", "AB", "000"} {
		if integrity.ValidBucket(b) {
			t.Errorf("ValidBucket(%q) = true", b)
		}
	}
}

func TestAtCursorAndInZone(t *testing.T) {
	mk := func(seq int64, hlc string, patch string) domain.Change {
		var p map[string]json.RawMessage
		json.Unmarshal([]byte(patch), &p)
		return domain.Change{ID: domain.NewID(time.Unix(int64(seq), 0)), Seq: seq, Origin: "hub", Actor: "system", Entity: domain.EntityTicket,
			EntityID: "t1", Op: domain.OpUpsert, Patch: p, HLC: hlc}
	}
	full := []domain.Change{
		mk(1, "000000000001-00000000-hub", `{"id":"t1","zone":"North","title":"a"}`),
		mk(5, "000000000002-00000000-hub", `{"zone":"South"}`),
	}
	if _, _, ok, _ := integrity.AtCursor(full, 0); ok {
		t.Error("a row with no change at the cursor was kept")
	}
	at, kept, ok, err := integrity.AtCursor(full, 4)
	if err != nil || !ok || len(kept) != 1 || kept[0].Seq != 1 || !integrity.InZone(at.State(), "North") || integrity.InZone(at.State(), "South") {
		t.Errorf("at 4: %+v %v %v, want in North", at.State(), ok, err)
	}
	at, _, _, _ = integrity.AtCursor(full, 5)
	if !integrity.InZone(at.State(), "South") {
		t.Errorf("at 5: %+v, want in South", at.State())
	}
}
