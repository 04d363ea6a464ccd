package merge_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/oklog/ulid/v2"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

// The helpers of this file are prefixed "fold" so they cannot clash with the other test files
// of the package, which other engineers edit.

var foldT0 = time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC)

func foldID(n int) string {
	var id ulid.ULID
	if err := id.SetTime(uint64(foldT0.UnixMilli())); err != nil {
		panic(err)
	}
	binary.BigEndian.PutUint64(id[8:], uint64(n)+1<<40)
	return id.String()
}

func foldClock(node string, ms int64, logical uint32) string {
	return hlc.Timestamp{Wall: foldT0.UnixMilli() + ms, Logical: logical, Node: node}.String()
}

// foldHorizon folds every change with a clock before ms.
func foldHorizon(ms int64) merge.Version {
	return merge.HorizonAt(foldT0.Add(time.Duration(ms) * time.Millisecond))
}

// foldGen makes random changes to a few rows (tickets and a team) with small clock and value
// ranges, so that overwrites, concurrent writes, deletes, closures, resolutions and stale
// bases all occur. Clocks are drawn from [lo, hi) milliseconds.
type foldGen struct {
	r    *rand.Rand
	n    int // changes made so far, for ids
	rows []domain.Change
}

var foldOrigins = []string{"hub", "edge-a", "edge-b", "dev-c"}

var foldTicketValues = map[string][]string{
	"title":         {"pump", "valve", "pipe"},
	"description":   {"", "leak", "noise"},
	"assigned_team": {"north-1", "north-2"},
	"priority":      {"low", "high"},
	"status":        {"open", "assigned", "in_progress", "on_hold", "resolved", "resolved", "closed", "cancelled"},
}

var foldTeamValues = map[string][]string{
	"name":   {"Alpha", "Beta"},
	"skills": {"water", "power"},
}

func (g *foldGen) change(entity domain.Entity, id string, lo, hi int64) domain.Change {
	g.n++
	origin := foldOrigins[g.r.IntN(len(foldOrigins))]
	ms := lo + g.r.Int64N(hi-lo)
	c := domain.Change{ID: foldID(g.n), Origin: origin, Actor: "user." + origin, Entity: entity, EntityID: id,
		Zone: "North", HLC: foldClock(origin, ms, uint32(g.r.IntN(2))), At: foldT0.Add(time.Duration(ms) * time.Millisecond)}
	if g.r.IntN(14) == 0 {
		c.Op = domain.OpDelete
		return c
	}
	values := foldTicketValues
	if entity == domain.EntityTeam {
		values = foldTeamValues
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range values {
			if !yield(k) {
				return
			}
		}
	})
	c.Op = domain.OpUpsert
	c.Patch = map[string]json.RawMessage{}
	for range 1 + g.r.IntN(3) {
		f := names[g.r.IntN(len(names))]
		b, _ := json.Marshal(values[f][g.r.IntN(len(values[f]))])
		c.Patch[f] = b
	}
	for _, f := range names {
		if g.r.IntN(2) == 0 {
			// A base anywhere before the change: into what will be folded, or not.
			bms := g.r.Int64N(ms + 1)
			c.Base = map[string]string{}
			c.Base[f] = foldClock(foldOrigins[g.r.IntN(len(foldOrigins))], bms, 0)
			if c.Base[f] >= c.HLC {
				delete(c.Base, f)
			}
		}
	}
	if len(c.Base) == 0 {
		c.Base = nil
	}
	return c
}

var foldRowIDs = []struct {
	entity domain.Entity
	id     string
}{
	{domain.EntityTicket, "T1"}, {domain.EntityTicket, "T2"}, {domain.EntityTeam, "TEAM1"},
}

// history makes n changes to random rows with clocks in [lo, hi), numbered with seqs from
// seq+1 in the order made (arrival order, which is not clock order).
func (g *foldGen) history(n int, lo, hi int64, seq int64) []domain.Change {
	var out []domain.Change
	for range n {
		row := foldRowIDs[g.r.IntN(len(foldRowIDs))]
		c := g.change(row.entity, row.id, lo, hi)
		seq++
		c.Seq = seq
		out = append(out, c)
	}
	return out
}

type foldKey struct {
	entity domain.Entity
	id     string
}

func byRow(cs []domain.Change) map[foldKey][]domain.Change {
	m := map[foldKey][]domain.Change{}
	for _, c := range cs {
		k := foldKey{c.Entity, c.EntityID}
		m[k] = append(m[k], c)
	}
	return m
}

// compactLog compacts a log row by row, as a store would, and returns the new log in seq
// order: kept changes at their own seqs, dropped ones gone.
func compactLog(t testing.TB, log []domain.Change, h merge.Version) []domain.Change {
	t.Helper()
	var out []domain.Change
	for _, cs := range byRow(log) {
		res, err := merge.Compact(cs, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes)+len(res.Dropped) != len(cs) {
			t.Fatalf("compact: %d kept + %d dropped != %d", len(res.Changes), len(res.Dropped), len(cs))
		}
		out = append(out, res.Changes...)
	}
	slices.SortFunc(out, func(a, b domain.Change) int { return int(a.Seq - b.Seq) })
	return out
}

// replica applies changes one by one, as a reader of the log does.
type replica map[foldKey]merge.Row

func (r replica) apply(t testing.TB, cs ...domain.Change) map[string]merge.Result {
	t.Helper()
	out := map[string]merge.Result{}
	for _, c := range cs {
		k := foldKey{c.Entity, c.EntityID}
		row, res, err := merge.Apply(r[k], c)
		if err != nil {
			t.Fatalf("apply %s: %v", c.ID, err)
		}
		r[k] = row
		out[c.ID] = res
	}
	return out
}

func (r replica) states() map[foldKey]merge.State {
	out := map[foldKey]merge.State{}
	for k, row := range r {
		out[k] = row.State()
	}
	return out
}

func (r replica) digest() string {
	var rows []merge.Row
	for _, row := range r {
		rows = append(rows, row)
	}
	return merge.Digest(rows)
}

func stateDiff(want, got replica) string {
	return cmp.Diff(want.states(), got.states(), cmp.AllowUnexported(foldKey{}), cmp.Comparer(func(a, b json.RawMessage) bool {
		return string(a) == string(b)
	}))
}

// before returns the changes with seq <= cursor; after those with seq > cursor.
func before(log []domain.Change, cursor int64) []domain.Change {
	return slices.DeleteFunc(slices.Clone(log), func(c domain.Change) bool { return c.Seq > cursor })
}

func after(log []domain.Change, cursor int64) []domain.Change {
	return slices.DeleteFunc(slices.Clone(log), func(c domain.Change) bool { return c.Seq <= cursor })
}

// TestCompactReadersAtEveryCursor is the main property: after the log is compacted at a
// random horizon, a reader at any cursor that applies the compacted entries after its cursor
// to its old state ends in the state (and digest) of a full replay; and so it stays as changes
// newer than the horizon keep arriving, which also get the same conflict records.
func TestCompactReadersAtEveryCursor(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for trial := range 40 {
		g := &foldGen{r: r}
		log := g.history(10+r.IntN(30), 0, 40, 0)
		hms := r.Int64N(45)
		h := foldHorizon(hms)
		compacted := compactLog(t, log, h)
		future := g.history(r.IntN(12), hms, hms+20, int64(len(log)))

		full := replica{}
		full.apply(t, log...)
		fullRes := full.apply(t, future...)
		want := full.digest()

		exact := exactRecords(t, log, h)
		old := replica{} // the reader's state at cursor: the full log through it
		for cursor := int64(0); cursor <= int64(len(log)); cursor++ {
			if cursor > 0 {
				old.apply(t, log[cursor-1])
			}
			reader := maps.Clone(old)
			reader.apply(t, after(compacted, cursor)...)
			res := reader.apply(t, future...)
			if d := stateDiff(full, reader); d != "" {
				t.Fatalf("trial %d, horizon %d ms, reader at cursor %d: state differs (-full +reader):\n%s", trial, hms, cursor, d)
			}
			if got := reader.digest(); got != want {
				t.Fatalf("trial %d cursor %d: digest %s, want %s", trial, cursor, got, want)
			}
			for _, c := range future {
				checkConflictsOfLater(t, c, fullRes[c.ID], res[c.ID], exact)
			}
		}
	}
}

// exactRecords returns the predicate that selects the conflict records compaction at h must
// leave exactly as they are: records about changes newer than the horizon, and about the
// visible (winning) writes of the folded part. Records about folded writes that were not
// visible may be made again or withdrawn differently (see Compact).
func exactRecords(t testing.TB, log []domain.Change, h merge.Version) func(merge.Conflict) bool {
	t.Helper()
	folded := map[string]bool{}
	winner := map[[2]string]bool{}
	for _, cs := range byRow(log) {
		var f []domain.Change
		for _, c := range cs {
			if below, err := merge.BelowHorizon(c, h); err != nil {
				t.Fatal(err)
			} else if below {
				f = append(f, c)
				folded[c.ID] = true
			}
		}
		row, err := merge.Replay(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, fv := range row.Fields {
			winner[[2]string{fv.Version.Change, name}] = true
		}
	}
	return func(k merge.Conflict) bool { return !folded[k.Change] || winner[[2]string{k.Change, k.Field}] }
}

// checkConflictsOfLater requires applying c to the compacted state to report the same new
// and withdrawn records as against the full history, among the records exact selects.
func checkConflictsOfLater(t *testing.T, c domain.Change, full, compacted merge.Result, exact func(merge.Conflict) bool) {
	t.Helper()
	keep := func(cs []merge.Conflict) []merge.Conflict {
		return slices.DeleteFunc(slices.Clone(cs), func(k merge.Conflict) bool { return !exact(k) })
	}
	if d := cmp.Diff(keep(full.Conflicts), keep(compacted.Conflicts), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("change %s: new conflict records differ (-full +compacted):\n%s", c.ID, d)
	}
	if d := cmp.Diff(keep(full.Withdrawn), keep(compacted.Withdrawn), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("change %s: withdrawn records differ (-full +compacted):\n%s", c.ID, d)
	}
}

// canon is a change set's canonical text, for comparing compactions.
func canon(t testing.TB, cs []domain.Change) string {
	t.Helper()
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b domain.Change) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCompactIdempotentAndComposes(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for trial := range 150 {
		g := &foldGen{r: r}
		log := g.history(5+r.IntN(30), 0, 40, 0)
		h1, h2 := r.Int64N(45), r.Int64N(45)
		if h1 > h2 {
			h1, h2 = h2, h1
		}
		once := compactLog(t, log, foldHorizon(h2))
		twice := compactLog(t, once, foldHorizon(h2))
		if canon(t, once) != canon(t, twice) {
			t.Fatalf("trial %d: compacting twice differs from once", trial)
		}
		for _, cs := range byRow(once) {
			res, err := merge.Compact(cs, foldHorizon(h2))
			if err != nil || len(res.Dropped) != 0 || len(res.Trimmed) != 0 {
				t.Fatalf("trial %d: second compaction dropped %d, trimmed %v, err %v", trial, len(res.Dropped), res.Trimmed, err)
			}
		}
		stepwise := compactLog(t, compactLog(t, log, foldHorizon(h1)), foldHorizon(h2))
		if canon(t, once) != canon(t, stepwise) {
			t.Fatalf("trial %d: compacting at %d then %d differs from at %d", trial, h1, h2, h2)
		}

		// Compaction then new changes = new changes then compaction, for changes newer than
		// the horizon.
		future := g.history(r.IntN(12), h2, h2+20, int64(len(log)))
		a := compactLog(t, append(slices.Clone(once), future...), foldHorizon(h2))
		b := compactLog(t, append(slices.Clone(log), future...), foldHorizon(h2))
		if canon(t, a) != canon(t, b) {
			t.Fatalf("trial %d: compact-then-append differs from append-then-compact", trial)
		}
	}
}

// TestCompactShrinks checks that compaction keeps what the rules need and no more: a long
// edit history folds to the changes whose values are visible, the tombstone, the resolutions
// and the first closure, and unfolded changes are untouched.
func TestCompactShrinks(t *testing.T) {
	mk := func(n int, origin string, ms int64, patch map[string]string, base map[string]string) domain.Change {
		c := domain.Change{ID: foldID(n), Seq: int64(n), Origin: origin, Actor: "a", Entity: domain.EntityTicket, EntityID: "T",
			Op: domain.OpUpsert, Zone: "North", HLC: foldClock(origin, ms, 0), At: foldT0, Base: base, Patch: map[string]json.RawMessage{}}
		for k, v := range patch {
			c.Patch[k], _ = json.Marshal(v)
		}
		return c
	}
	var log []domain.Change
	create := mk(1, "hub", 0, map[string]string{"title": "t0", "status": "open", "priority": "low"}, nil)
	log = append(log, create)
	for i := 2; i <= 100; i++ {
		log = append(log, mk(i, "hub", int64(i), map[string]string{"title": fmt.Sprint("t", i)}, map[string]string{"title": log[len(log)-1].HLC, "priority": create.HLC}))
	}
	resolve := mk(101, "edge-a", 200, map[string]string{"status": "resolved", "description": "fixed"}, nil)
	reopen := mk(102, "hub", 201, map[string]string{"status": "assigned"}, map[string]string{"status": resolve.HLC})
	closeIt := mk(103, "hub", 202, map[string]string{"status": "closed"}, nil)
	late := mk(104, "edge-b", 203, map[string]string{"title": "too late"}, nil)
	newer := mk(105, "hub", 1000, map[string]string{"status": "closed"}, nil)
	log = append(log, resolve, reopen, closeIt, late, newer)

	res, err := merge.Compact(log, foldHorizon(500))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, c := range res.Changes {
		kept = append(kept, fmt.Sprintf("%d:%s", c.Seq, strings.Join(slices.Sorted(func(yield func(string) bool) {
			for k := range c.Patch {
				if !yield(k) {
					return
				}
			}
		}), ",")))
	}
	// create keeps priority (and its status), #100 the title, resolve its status and
	// description, closeIt the closure; reopen (overwritten status) and late (rejected) go.
	want := []string{"1:priority,status", "100:title", "101:description,status", "103:status", "105:status"}
	if d := cmp.Diff(want, kept); d != "" {
		t.Errorf("kept (-want +got):\n%s", d)
	}
	if res.Folded != 104 || len(res.Dropped) != 100 || res.Newest.Change != late.ID {
		t.Errorf("folded %d dropped %d newest %v", res.Folded, len(res.Dropped), res.Newest)
	}
	if d := cmp.Diff([]string{create.ID, log[99].ID}, res.Trimmed); d != "" {
		t.Errorf("trimmed (-want +got):\n%s", d)
	}
	if b := res.Changes[1].Base; len(b) != 1 || b["title"] == "" {
		t.Errorf("base of the kept title write = %v, want only its title entry", b)
	}
	if c := res.Changes[len(res.Changes)-1]; canon(t, []domain.Change{c}) != canon(t, []domain.Change{newer}) {
		t.Errorf("an unfolded change was altered: %+v", c)
	}
	full, compacted := mustFoldReplay(t, log), mustFoldReplay(t, res.Changes)
	if merge.Digest([]merge.Row{full}) != merge.Digest([]merge.Row{compacted}) {
		t.Errorf("visible state changed:\n%v\n%v", full.State(), compacted.State())
	}
	row, err := full.Compact(foldHorizon(500))
	if err != nil || len(row.Changes) != 5 || merge.Digest([]merge.Row{row}) != merge.Digest([]merge.Row{full}) {
		t.Errorf("Row.Compact: %d changes, %v", len(row.Changes), err)
	}
}

func mustFoldReplay(t *testing.T, cs []domain.Change) merge.Row {
	t.Helper()
	row, err := merge.Replay(cs)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// TestCompactHorizonRule shows why the hub must refuse changes below the horizon once it has
// compacted: a late delete older than a folded overwrite would expose the overwritten value,
// which compaction dropped. BelowHorizon is the check.
func TestCompactHorizonRule(t *testing.T) {
	a := domain.Change{ID: foldID(1), Origin: "hub", Actor: "a", Entity: domain.EntityTicket, EntityID: "T", Op: domain.OpUpsert,
		Patch: map[string]json.RawMessage{"title": json.RawMessage(`"a"`)}, HLC: foldClock("hub", 1, 0), At: foldT0}
	b := a
	b.ID, b.HLC, b.Patch = foldID(2), foldClock("hub", 5, 0), map[string]json.RawMessage{"title": json.RawMessage(`"b"`)}
	lateDelete := domain.Change{ID: foldID(3), Origin: "edge-a", Actor: "a", Entity: domain.EntityTicket, EntityID: "T",
		Op: domain.OpDelete, HLC: foldClock("edge-a", 3, 0), At: foldT0}
	h := foldHorizon(10)
	res, err := merge.Compact([]domain.Change{a, b}, h)
	if err != nil || len(res.Changes) != 1 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	full := mustFoldReplay(t, []domain.Change{a, b, lateDelete})
	folded := mustFoldReplay(t, append(res.Changes, lateDelete))
	if string(full.Fields["title"].Value) != `"a"` || len(folded.Fields) != 0 {
		t.Fatalf("full %v folded %v: the example no longer shows the hazard", full.State(), folded.State())
	}
	for _, tc := range []struct {
		c    domain.Change
		want bool
	}{{lateDelete, true}, {b, true}, {func() domain.Change { c := b; c.HLC = foldClock("edge-a", 10, 0); return c }(), false}} {
		got, err := merge.BelowHorizon(tc.c, h)
		if err != nil || got != tc.want {
			t.Errorf("BelowHorizon(%s) = %v, %v; want %v", tc.c.HLC, got, err, tc.want)
		}
	}
	if got, _ := merge.BelowHorizon(a, merge.Version{}); got {
		t.Error("the zero horizon folds nothing")
	}
}

func TestCompactRejects(t *testing.T) {
	good := domain.Change{ID: foldID(1), Origin: "hub", Actor: "a", Entity: domain.EntityTicket, EntityID: "T", Op: domain.OpUpsert,
		Patch: map[string]json.RawMessage{"title": json.RawMessage(`"a"`)}, HLC: foldClock("hub", 1, 0), At: foldT0}
	other := good
	other.ID, other.EntityID = foldID(2), "U"
	bad := good
	bad.ID, bad.HLC = foldID(3), "soon"
	for name, cs := range map[string][]domain.Change{
		"two rows":     {good, other},
		"repeated id":  {good, good},
		"invalid hlc":  {good, bad},
		"empty upsert": {func() domain.Change { c := good; c.Patch = nil; return c }()},
	} {
		if _, err := merge.Compact(cs, foldHorizon(100)); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
	if res, err := merge.Compact(nil, foldHorizon(100)); err != nil || res.Folded != 0 || res.Changes != nil {
		t.Errorf("empty: %+v %v", res, err)
	}
	for _, s := range []string{"", foldClock("hub", 3, 0)} {
		h, err := merge.ParseHorizon(s)
		if err != nil || h.HLC != s || h.Change != "" {
			t.Errorf("ParseHorizon(%q) = %v, %v", s, h, err)
		}
	}
	if _, err := merge.ParseHorizon("yesterday"); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("ParseHorizon(bad) = %v", err)
	}
	if h := merge.HorizonAt(time.Unix(-5, 0)); h.HLC != "000000000000-00000000-!" {
		t.Errorf("HorizonAt before 1970 = %v", h)
	}
}

// FuzzCompact checks, for changes derived from the input and a horizon from its first byte,
// that Compact never panics, fails only with CodeInvalid, is idempotent, and that readers at
// every cursor of the compacted log, and then changes newer than the horizon, reach the state
// of a full replay.
func FuzzCompact(f *testing.F) {
	f.Add([]byte("\x10\x00\x01\x02\x00\x00\x01\x05\x02\x01\x01\x02\x09\x04\x04\x02\x01\x11\x07\x05\x02"))
	f.Add([]byte("\x08\x00\x0a\x05\x04\x00\x01\x06\x05\x03\x01\x02\x10\x00\x00\x00\x01\x11\x07\x05\x02\x00\x00\x00"))
	f.Add([]byte("\x1f\x01\x02\x03\x84\x00\x02\x05\x08\x04\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		hms := int64(data[0] % 40)
		h := foldHorizon(hms)
		var log, future []domain.Change
		for i, c := range foldFuzzChanges(data[1:]) {
			v, err := merge.VersionOf(c)
			if err != nil {
				t.Fatal(err)
			}
			if i%3 == 2 && v.Compare(h) > 0 {
				future = append(future, c)
				continue
			}
			c.Seq = int64(len(log) + 1)
			log = append(log, c)
		}
		res, err := merge.Compact(log, h)
		if err != nil {
			if domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("Compact error %v, want CodeInvalid", err)
			}
			return
		}
		again, err := merge.Compact(res.Changes, h)
		if err != nil || canon(t, again.Changes) != canon(t, res.Changes) {
			t.Fatalf("not idempotent: %v", err)
		}
		for i := range future {
			future[i].Seq = int64(len(log) + 1 + i)
		}
		full := replica{}
		full.apply(t, log...)
		fullRes := full.apply(t, future...)
		compacted := slices.Clone(res.Changes)
		slices.SortFunc(compacted, func(a, b domain.Change) int { return int(a.Seq - b.Seq) })
		exact := exactRecords(t, log, h)
		for cursor := int64(0); cursor <= int64(len(log)); cursor++ {
			reader := replica{}
			reader.apply(t, before(log, cursor)...)
			reader.apply(t, after(compacted, cursor)...)
			got := reader.apply(t, future...)
			if d := stateDiff(full, reader); d != "" {
				t.Fatalf("horizon %d, cursor %d (-full +reader):\n%s", hms, cursor, d)
			}
			for _, c := range future {
				checkConflictsOfLater(t, c, fullRes[c.ID], got[c.ID], exact)
			}
		}
	})
}

// foldFuzzChanges turns fuzz bytes into valid changes to one ticket, 5 bytes each: origin,
// clock, op and fields, value, base.
func foldFuzzChanges(data []byte) []domain.Change {
	fields := []string{"title", "status", "priority", "description"}
	values := []string{`"open"`, `"assigned"`, `"in_progress"`, `"on_hold"`, `"resolved"`, `"closed"`, `"cancelled"`, `"x"`, `null`, `{"b":1,"a":2}`, `3.0`}
	var cs []domain.Change
	for i := 0; len(data) >= 5 && i < 16; i++ {
		o, ms, op, v, b := data[0], data[1], data[2], data[3], data[4]
		data = data[5:]
		origin := foldOrigins[int(o)%len(foldOrigins)]
		c := domain.Change{ID: foldID(i), Origin: origin, Actor: "a", Entity: domain.EntityTicket, EntityID: "T",
			HLC: foldClock(origin, int64(ms%48), uint32(ms/128)), At: foldT0}
		if op%8 == 0 {
			c.Op = domain.OpDelete
		} else {
			c.Op = domain.OpUpsert
			c.Patch = map[string]json.RawMessage{}
			for j, f := range fields {
				if op&(2<<j) != 0 {
					c.Patch[f] = json.RawMessage(values[(int(v)+j)%len(values)])
				}
			}
			if len(c.Patch) == 0 {
				c.Patch["title"] = json.RawMessage(`"t"`)
			}
			if b%3 != 0 && ms%48 > 0 {
				c.Base = map[string]string{fields[int(b)%len(fields)]: foldClock(foldOrigins[int(b)%len(foldOrigins)], int64(b)%int64(ms%48), 0)}
			}
		}
		cs = append(cs, c)
	}
	return cs
}
