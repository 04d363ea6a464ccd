package merge_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

const ticketID = "01JXA7ZZZZ1111111111111111"

// mkID returns a deterministic ULID for n.
func mkID(n int) string {
	var id ulid.ULID
	if err := id.SetTime(uint64(t0.UnixMilli())); err != nil {
		panic(err)
	}
	binary.BigEndian.PutUint64(id[8:], uint64(n))
	return id.String()
}

func clock(node string, ms int64) string {
	return hlc.Timestamp{Wall: t0.UnixMilli() + ms, Node: node}.String()
}

// edit builds a ticket upsert by origin at ms with string fields (values JSON-quoted).
func edit(n int, origin string, ms int64, fields map[string]string, base map[string]string) domain.Change {
	p := map[string]json.RawMessage{}
	for k, v := range fields {
		b, _ := json.Marshal(v)
		p[k] = b
	}
	return domain.Change{ID: mkID(n), Origin: origin, Actor: "user." + origin, Entity: domain.EntityTicket,
		EntityID: ticketID, Op: domain.OpUpsert, Zone: "North", Patch: p, HLC: clock(origin, ms),
		At: t0.Add(time.Duration(ms) * time.Millisecond), Base: base}
}

func del(n int, origin string, ms int64) domain.Change {
	return domain.Change{ID: mkID(n), Origin: origin, Actor: "user." + origin, Entity: domain.EntityTicket,
		EntityID: ticketID, Op: domain.OpDelete, Zone: "North", HLC: clock(origin, ms), At: t0.Add(time.Duration(ms) * time.Millisecond)}
}

func mustReplay(t *testing.T, cs ...domain.Change) merge.Row {
	t.Helper()
	row, err := merge.Replay(cs)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func value(t *testing.T, row merge.Row, field string) string {
	t.Helper()
	f, ok := row.Fields[field]
	if !ok {
		return "<unset>"
	}
	var s string
	if err := json.Unmarshal(f.Value, &s); err != nil {
		t.Fatalf("field %s = %s", field, f.Value)
	}
	return s
}

type conflictKey struct {
	Field, Change string
	Kind          merge.Kind
}

func keys(cs []merge.Conflict) []conflictKey {
	var out []conflictKey
	for _, c := range cs {
		out = append(out, conflictKey{c.Field, c.Change, c.Kind})
	}
	return out
}

// allOrders returns every permutation of cs.
func allOrders(cs []domain.Change) [][]domain.Change {
	if len(cs) <= 1 {
		return [][]domain.Change{slices.Clone(cs)}
	}
	var out [][]domain.Change
	for i := range cs {
		rest := append(slices.Clone(cs[:i]), cs[i+1:]...)
		for _, p := range allOrders(rest) {
			out = append(out, append([]domain.Change{cs[i]}, p...))
		}
	}
	return out
}

// checkConverges applies every order (all of them, or n random ones) and requires one row and
// one conflict set, and that the conflicts reported by Apply add up to the row's set.
func checkConverges(t *testing.T, cs []domain.Change, orders [][]domain.Change) merge.Row {
	t.Helper()
	var first merge.Row
	for i, order := range orders {
		var row merge.Row
		reported := map[conflictKey]bool{}
		for _, c := range order {
			var res merge.Result
			var err error
			if row, res, err = merge.Apply(row, c); err != nil {
				t.Fatal(err)
			}
			for _, c := range res.Conflicts {
				reported[conflictKey{c.Field, c.Change, c.Kind}] = true
			}
			for _, c := range res.Withdrawn {
				delete(reported, conflictKey{c.Field, c.Change, c.Kind})
			}
		}
		got := slices.SortedFunc(maps.Keys(reported), cmpKey)
		if diff := cmp.Diff(keys(row.Conflicts), got); diff != "" {
			t.Fatalf("order %d: reported conflicts differ from the row's (-row +reported):\n%s", i, diff)
		}
		if i == 0 {
			first = row
			continue
		}
		if rowJSON(t, first) == rowJSON(t, row) {
			continue // fast path; cmp explains a difference
		}
		if diff := cmp.Diff(first, row); diff != "" {
			t.Fatalf("order %d gives another row (-first +this):\n%s\norder: %v", i, diff, ids(order))
		}
		t.Fatalf("order %d: rows encode differently but compare equal", i)
	}
	return first
}

// rowJSON is a row's JSON encoding, deterministic (encoding/json sorts map keys).
func rowJSON(t *testing.T, row merge.Row) string {
	t.Helper()
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func cmpKey(a, b conflictKey) int {
	switch {
	case a.Field != b.Field:
		return cmpStr(a.Field, b.Field)
	case a.Change != b.Change:
		return cmpStr(a.Change, b.Change)
	}
	return cmpStr(string(a.Kind), string(b.Kind))
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ids(cs []domain.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID[len(c.ID)-4:])
	}
	return out
}

// randomChanges makes n changes to one ticket from a few origins, with small value and clock
// ranges so that equal values, concurrent writes, deletes and status rules all occur.
func randomChanges(r *rand.Rand, n int) []domain.Change {
	origins := []string{"hub", "edge-a", "edge-b", "dev-c"}
	fields := map[string][]string{
		"title":       {"pump", "valve", "pipe"},
		"description": {"", "leak", "noise"},
		"assigned_to": {"ana", "bo"},
		"priority":    {"low", "high"},
		"status":      {"open", "assigned", "in_progress", "on_hold", "resolved", "closed", "cancelled"},
	}
	names := []string{"title", "description", "assigned_to", "priority", "status"}
	var cs []domain.Change
	for i := range n {
		origin := origins[r.IntN(len(origins))]
		ms := int64(r.IntN(30))
		if r.IntN(12) == 0 {
			cs = append(cs, del(i, origin, ms))
			continue
		}
		set := map[string]string{}
		for range 1 + r.IntN(3) {
			f := names[r.IntN(len(names))]
			set[f] = fields[f][r.IntN(len(fields[f]))]
		}
		base := map[string]string{}
		for _, f := range append(names[:0:0], names...) {
			if r.IntN(2) == 0 && ms > 0 {
				base[f] = clock(origins[r.IntN(len(origins))], int64(r.IntN(int(ms))))
			}
		}
		c := edit(i, origin, ms, set, base)
		c.HLC = hlc.Timestamp{Wall: t0.UnixMilli() + ms, Logical: uint32(r.IntN(2)), Node: origin}.String()
		cs = append(cs, c)
	}
	return cs
}

func TestOrderIndependenceAllPermutations(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 20 {
		cs := randomChanges(r, 5+r.IntN(2)) // 120 or 720 orders
		t.Run(fmt.Sprint(trial), func(t *testing.T) { checkConverges(t, cs, allOrders(cs)) })
	}
}

func TestOrderIndependenceRandomOrders(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range 20 {
		cs := randomChanges(r, 12+r.IntN(20))
		var orders [][]domain.Change
		for range 80 {
			o := slices.Clone(cs)
			r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
			// Redelivery: some changes arrive twice.
			for range r.IntN(4) {
				o = slices.Insert(o, r.IntN(len(o)+1), cs[r.IntN(len(cs))])
			}
			orders = append(orders, o)
		}
		t.Run(fmt.Sprint(trial), func(t *testing.T) {
			row := checkConverges(t, cs, orders)
			checkInvariants(t, row)
		})
	}
}

// checkInvariants tests rules that hold of any row, whatever its changes.
func checkInvariants(t *testing.T, row merge.Row) {
	t.Helper()
	for name, f := range row.Fields {
		if row.Deleted != nil && row.Deleted.Compare(f.Version) < 0 {
			t.Errorf("field %s written at %v after the delete at %v is visible", name, f.Version, *row.Deleted)
		}
	}
	var firstFinal *domain.Change
	for i, c := range row.Changes {
		var s domain.Status
		rejected := slices.ContainsFunc(row.Conflicts, func(k merge.Conflict) bool {
			return k.Change == c.ID && k.Kind == merge.KindTransition
		})
		if raw, ok := c.Patch["status"]; ok && !rejected && json.Unmarshal(raw, &s) == nil && s.Final() {
			firstFinal = &row.Changes[i]
			break
		}
	}
	if firstFinal != nil {
		fv, _ := merge.VersionOf(*firstFinal)
		for name, f := range row.Fields {
			if fv.Compare(f.Version) >= 0 {
				continue
			}
			// Only a write of the same final status may follow it.
			if name != "status" && !slices.ContainsFunc(row.Changes, func(c domain.Change) bool {
				return c.ID == f.Version.Change && string(c.Patch["status"]) == string(firstFinal.Patch["status"])
			}) {
				t.Errorf("field %s edited at %v after the ticket became final at %v", name, f.Version, fv)
			}
		}
	}
}

func TestApplyTwiceIsNoOp(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cs := randomChanges(r, 25)
	row := mustReplay(t, cs...)
	for _, c := range cs {
		next, res, err := merge.Apply(row, c)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Duplicate || len(res.Applied) != 0 || len(res.Removed) != 0 || len(res.Conflicts) != 0 {
			t.Errorf("re-apply %s: %+v", c.ID, res)
		}
		if diff := cmp.Diff(row, next); diff != "" {
			t.Errorf("re-apply changed the row:\n%s", diff)
		}
	}
}

func TestDifferentFieldsBothSurvive(t *testing.T) {
	a := edit(1, "edge-a", 10, map[string]string{"description": "leak at valve"}, nil)
	b := edit(2, "hub", 12, map[string]string{"priority": "high"}, nil)
	c := edit(3, "edge-b", 11, map[string]string{"assigned_to": "ana"}, nil)
	row := checkConverges(t, nil, allOrders([]domain.Change{a, b, c}))
	if value(t, row, "description") != "leak at valve" || value(t, row, "priority") != "high" || value(t, row, "assigned_to") != "ana" {
		t.Errorf("fields = %+v", row.Fields)
	}
	if len(row.Conflicts) != 0 {
		t.Errorf("conflicts = %+v", row.Conflicts)
	}
}

func TestSameFieldConcurrentIsRecorded(t *testing.T) {
	a := edit(1, "edge-a", 10, map[string]string{"title": "pump"}, nil)
	b := edit(2, "edge-b", 20, map[string]string{"title": "valve"}, nil)
	row := checkConverges(t, nil, allOrders([]domain.Change{a, b}))
	if got := value(t, row, "title"); got != "valve" {
		t.Errorf("title = %q, want the later write", got)
	}
	want := []conflictKey{{"title", a.ID, merge.KindConcurrent}}
	if diff := cmp.Diff(want, keys(row.Conflicts)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	c := row.Conflicts[0]
	if c.Origin != "edge-a" || c.Actor != "user.edge-a" || string(c.Value) != `"pump"` || c.HLC != a.HLC {
		t.Errorf("conflict = %+v", c)
	}

	// A later write that saw the earlier one (its base) is no conflict; nor is one from the
	// same origin; nor one writing the same value.
	seen := edit(3, "edge-b", 20, map[string]string{"title": "valve"}, map[string]string{"title": a.HLC})
	same := edit(4, "edge-a", 25, map[string]string{"title": "pipe"}, nil)
	equal := edit(5, "hub", 30, map[string]string{"title": "pump"}, nil)
	for _, later := range []domain.Change{seen, same, equal} {
		if row := mustReplay(t, later, a); len(row.Conflicts) != 0 {
			t.Errorf("%s after %s: conflicts %+v", later.ID, a.ID, row.Conflicts)
		}
	}
}

func TestTombstone(t *testing.T) {
	create := edit(1, "hub", 0, map[string]string{"title": "pump", "status": "open"}, nil)
	older := edit(2, "edge-a", 5, map[string]string{"description": "stale but before delete"}, nil)
	d := del(3, "hub", 10)
	newer := edit(4, "edge-b", 20, map[string]string{"title": "resurrect?", "status": "assigned"}, map[string]string{"title": create.HLC, "status": create.HLC})
	d2 := del(5, "edge-a", 30)
	row := checkConverges(t, nil, allOrders([]domain.Change{create, older, d, newer, d2}))
	if row.Deleted == nil || row.Deleted.Change != d.ID {
		t.Fatalf("Deleted = %v, want %s", row.Deleted, d.ID)
	}
	if value(t, row, "title") != "pump" || value(t, row, "description") != "stale but before delete" {
		t.Errorf("fields = %v", row.Fields)
	}
	want := []conflictKey{{"status", newer.ID, merge.KindDeleted}, {"title", newer.ID, merge.KindDeleted}}
	if diff := cmp.Diff(want, keys(row.Conflicts)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	var r merge.Row
	r, _, _ = merge.Apply(r, create)
	_, res, _ := merge.Apply(r, d)
	if !res.Deleted {
		t.Error("Result.Deleted not set by the delete")
	}
}

func TestResolvedNotReopenedByStaleEdit(t *testing.T) {
	create := edit(1, "hub", 0, map[string]string{"title": "pump", "status": "open"}, nil)
	assign := edit(2, "hub", 1, map[string]string{"status": "assigned", "assigned_to": "ana"}, nil)
	start := edit(3, "edge-a", 2, map[string]string{"status": "in_progress"}, map[string]string{"status": assign.HLC})
	resolve := edit(4, "hub", 10, map[string]string{"status": "resolved"}, map[string]string{"status": start.HLC})
	// The field tech, offline, put it on hold before the resolution...
	stale := edit(5, "edge-a", 6, map[string]string{"status": "on_hold", "description": "waiting for parts"}, map[string]string{"status": start.HLC})
	// ...and a second device with a clock ahead did so after it, never having seen it.
	late := edit(6, "dev-c", 12, map[string]string{"status": "in_progress"}, map[string]string{"status": start.HLC})
	row := checkConverges(t, nil, allOrders([]domain.Change{create, assign, start, resolve, stale, late}))
	if got := value(t, row, "status"); got != "resolved" {
		t.Errorf("status = %q, want resolved", got)
	}
	if got := value(t, row, "description"); got != "waiting for parts" {
		t.Errorf("description = %q: a concurrent edit of another field must survive", got)
	}
	want := []conflictKey{
		{"status", stale.ID, merge.KindConcurrent},
		{"status", late.ID, merge.KindTransition},
	}
	if diff := cmp.Diff(want, keys(row.Conflicts)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A reopen after seeing the resolution is a legal transition and wins.
	reopen := edit(7, "edge-b", 15, map[string]string{"status": "assigned"}, map[string]string{"status": resolve.HLC})
	row = mustReplay(t, reopen, resolve, create, assign, start)
	if got := value(t, row, "status"); got != "assigned" || len(row.Conflicts) != 0 {
		t.Errorf("status = %q conflicts %+v", got, row.Conflicts)
	}
}

func TestClosedTicketTakesNoLaterEdit(t *testing.T) {
	create := edit(1, "hub", 0, map[string]string{"title": "pump", "status": "resolved"}, nil)
	closeIt := edit(2, "hub", 10, map[string]string{"status": "closed"}, nil)
	closeToo := edit(3, "edge-a", 11, map[string]string{"status": "closed"}, map[string]string{"status": create.HLC})
	retitle := edit(4, "edge-b", 12, map[string]string{"title": "valve"}, map[string]string{"status": closeIt.HLC, "title": create.HLC})
	before := edit(5, "edge-b", 5, map[string]string{"description": "done"}, nil)
	row := checkConverges(t, nil, allOrders([]domain.Change{create, closeIt, closeToo, retitle, before}))
	if value(t, row, "status") != "closed" || value(t, row, "title") != "pump" || value(t, row, "description") != "done" {
		t.Errorf("fields = %v", row.Fields)
	}
	want := []conflictKey{{"title", retitle.ID, merge.KindFinal}}
	if diff := cmp.Diff(want, keys(row.Conflicts)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestResult(t *testing.T) {
	a := edit(1, "hub", 3, map[string]string{"title": "pump", "priority": "low"}, nil)
	b := edit(2, "edge-a", 5, map[string]string{"title": "valve"}, nil)
	stale := edit(3, "edge-b", 2, map[string]string{"priority": "high", "description": "x"}, nil)
	row, res, err := merge.Apply(merge.Row{}, a)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"priority", "title"}, res.Applied); diff != "" || len(res.Overwritten) != 0 {
		t.Errorf("first apply: %+v", res)
	}
	row, res, _ = merge.Apply(row, b)
	if diff := cmp.Diff(merge.Result{Applied: []string{"title"}, Overwritten: []string{"title"},
		Conflicts: []merge.Conflict{{Entity: domain.EntityTicket, EntityID: ticketID, Field: "title", Kind: merge.KindConcurrent,
			Change: a.ID, Origin: "hub", Actor: "user.hub", HLC: a.HLC, Value: json.RawMessage(`"pump"`)}},
	}, res); diff != "" {
		t.Errorf("second apply (-want +got):\n%s", diff)
	}
	_, res, _ = merge.Apply(row, stale)
	if diff := cmp.Diff([]string{"description"}, res.Applied); diff != "" {
		t.Errorf("stale apply: applied %v", res.Applied)
	}
	if len(res.Conflicts) != 1 || res.Conflicts[0].Change != stale.ID || res.Conflicts[0].Field != "priority" {
		t.Errorf("stale apply conflicts: %+v", res.Conflicts)
	}
}

func TestClampedCopyReplacesOrigin(t *testing.T) {
	a := edit(1, "edge-a", 500000, map[string]string{"title": "from the future"}, nil)
	b := edit(2, "hub", 100, map[string]string{"title": "now"}, nil)
	clamped := a
	clamped.HLC = clock("hub", 50)
	for _, order := range allOrders([]domain.Change{a, b, clamped}) {
		row := mustReplay(t, order...)
		if got := value(t, row, "title"); got != "now" {
			t.Fatalf("order %v: title = %q; the clamped clock must rule", ids(order), got)
		}
		if len(row.Changes) != 2 {
			t.Fatalf("changes = %d", len(row.Changes))
		}
	}
}

func TestApplyRejects(t *testing.T) {
	good := edit(1, "hub", 0, map[string]string{"title": "pump"}, nil)
	row := mustReplay(t, good)
	for name, c := range map[string]domain.Change{
		"other row": func() domain.Change {
			c := edit(2, "hub", 1, map[string]string{"title": "x"}, nil)
			c.EntityID = "other"
			return c
		}(),
		"bad id": func() domain.Change {
			c := edit(2, "hub", 1, map[string]string{"title": "x"}, nil)
			c.ID = "nope"
			return c
		}(),
		"bad hlc": func() domain.Change {
			c := edit(2, "hub", 1, map[string]string{"title": "x"}, nil)
			c.HLC = "soon"
			return c
		}(),
		"bad base": edit(2, "hub", 1, map[string]string{"title": "x"}, map[string]string{"title": "then"}),
		"bad value": func() domain.Change {
			c := edit(2, "hub", 1, nil, nil)
			c.Patch["title"] = json.RawMessage(`{`)
			return c
		}(),
		"empty": func() domain.Change { c := edit(2, "hub", 1, nil, nil); return c }(),
		"bad op": func() domain.Change {
			c := edit(2, "hub", 1, map[string]string{"title": "x"}, nil)
			c.Op = "merge"
			return c
		}(),
		"no origin": func() domain.Change {
			c := edit(2, "hub", 1, map[string]string{"title": "x"}, nil)
			c.HLC, c.Origin = "", ""
			return c
		}(),
	} {
		if _, _, err := merge.Apply(row, c); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
	// Without an HLC a change is placed by its time and origin.
	noClock := edit(3, "hub", 7, map[string]string{"title": "y"}, nil)
	noClock.HLC = ""
	v, err := merge.VersionOf(noClock)
	if err != nil || v.HLC != clock("hub", 7) {
		t.Errorf("VersionOf = %v, %v", v, err)
	}
}

func TestDigest(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var all []domain.Change
	for i := range 5 {
		for _, c := range randomChanges(r, 10) {
			c.ID = mkID(i*100 + len(all))
			c.EntityID = fmt.Sprintf("T%d", i)
			all = append(all, c)
		}
	}
	rows := func(order []domain.Change) []merge.Row {
		m := map[string]merge.Row{}
		for _, c := range order {
			row, _, err := merge.Apply(m[c.EntityID], c)
			if err != nil {
				t.Fatal(err)
			}
			m[c.EntityID] = row
		}
		var out []merge.Row
		for _, row := range m {
			out = append(out, row) // map order: the digest must not care
		}
		return out
	}
	want := merge.Digest(rows(all))
	for range 50 {
		o := slices.Clone(all)
		r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		if got := merge.Digest(rows(o)); got != want {
			t.Fatalf("digest %s != %s for another order", got, want)
		}
	}
	// Formatting of values does not matter; values do.
	s := []merge.State{{Entity: "ticket", ID: "a", Fields: map[string]json.RawMessage{"x": json.RawMessage(`{"b":1,"a":[1, 2]}`)}}}
	s2 := []merge.State{{Entity: "ticket", ID: "a", Fields: map[string]json.RawMessage{"x": json.RawMessage(`{"a":[1,2],"b":1}`)}}}
	s3 := []merge.State{{Entity: "ticket", ID: "a", Fields: map[string]json.RawMessage{"x": json.RawMessage(`{"a":[1,2],"b":2}`)}}}
	s4 := []merge.State{{Entity: "ticket", ID: "a", Deleted: true, Fields: s2[0].Fields}}
	if merge.DigestStates(s) != merge.DigestStates(s2) {
		t.Error("digest depends on json formatting")
	}
	if merge.DigestStates(s2) == merge.DigestStates(s3) || merge.DigestStates(s2) == merge.DigestStates(s4) {
		t.Error("digest misses a difference")
	}
	if merge.DigestStates(nil) != merge.Digest(nil) || len(merge.Digest(nil)) != 64 {
		t.Error("empty digest")
	}
}

func TestRowJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	row := mustReplay(t, randomChanges(r, 15)...)
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	var back merge.Row
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Fields, back.Conflicts, back.Deleted = nil, nil, nil // stored derived state is optional
	rebuilt, err := back.Rebuild()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(row, rebuilt); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
