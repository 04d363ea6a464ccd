package syncstore

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// overlayValues are field values for the overlay property test: right and wrong JSON types,
// nulls, times in and out of canonical form.
var overlayValues = []string{`"x"`, `"Broken pump"`, `null`, `3`, `2.5`, `true`, `[]`, `["water","electric"]`, `{}`,
	`"2026-01-02T03:04:05.123456Z"`, `"2026-01-02T05:04:05+02:00"`, `"not a time"`, `"open"`, `"TKT-000001"`, `-1`,
	`[{"lat":1,"lng":2}]`, `{"lat":1,"lng":2}`}

func randomFields(r *rand.Rand, names []string, extra bool) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for _, n := range names {
		if r.IntN(3) > 0 {
			m[n] = json.RawMessage(overlayValues[r.IntN(len(overlayValues))])
		}
	}
	if extra && r.IntN(8) == 0 {
		m[[]string{"Title", "unknown", "ZONE"}[r.IntN(3)]] = json.RawMessage(overlayValues[r.IntN(len(overlayValues))])
	}
	return m
}

// checkOverlay holds overlay to its definition, overlaySlow, on random rows and field sets,
// and checks that it never writes through to cur.
func checkOverlay[T any](t *testing.T, r *rand.Rand) {
	t.Helper()
	var names []string
	for _, n := range fieldsOf(reflect.TypeFor[T]()).nameAt {
		if n != "" {
			names = append(names, n)
		}
	}
	for range 800 {
		var cur *T
		if r.IntN(4) > 0 {
			// A current row as the store holds it: fields decoded from valid values.
			var v T
			for range 20 {
				if next, err := overlaySlow(&v, randomFields(r, names, false)); err == nil {
					v = next
				}
			}
			cur = &v
		}
		var before []byte
		if cur != nil {
			before, _ = json.Marshal(cur)
		}
		fields := randomFields(r, names, true)
		if r.IntN(3) == 0 && cur != nil { // fields that mostly repeat cur, as on an edit
			b, _ := json.Marshal(cur)
			json.Unmarshal(b, &fields)
			for k := range randomFields(r, names, true) {
				fields[k] = json.RawMessage(overlayValues[r.IntN(len(overlayValues))])
			}
		}
		want, werr := overlaySlow(cur, fields)
		got, gerr := overlay(cur, maps.All(fields))
		if (werr == nil) != (gerr == nil) || domain.ErrorCode(werr) != domain.ErrorCode(gerr) {
			t.Fatalf("%T over %s: overlay error %v, definition %v", cur, mustJSON(fields), gerr, werr)
		}
		if werr == nil {
			w, g := mustJSON(want), mustJSON(got)
			if w != g || !reflect.DeepEqual(normTimes(want), normTimes(got)) {
				t.Fatalf("%T over %s:\n got %s\nwant %s", cur, mustJSON(fields), g, w)
			}
		}
		// overlayFrom with a patch among fields, decoded over a zero row as checkCanonical
		// does, must give the same row.
		patch := map[string]json.RawMessage{}
		for k, v := range fields {
			if len(patch) < 3 && r.IntN(3) == 0 {
				patch[k] = v
			}
		}
		if k := names[r.IntN(len(names))]; r.IntN(3) == 0 {
			// A patch value that fields may not hold (a concurrent write won the field),
			// of the field's own type: another row's.
			var other T
			for range 5 {
				if next, err := overlaySlow(&other, randomFields(r, names, false)); err == nil {
					other = next
				}
			}
			var enc map[string]json.RawMessage
			json.Unmarshal([]byte(mustJSON(other)), &enc)
			if v, ok := enc[k]; ok {
				patch[k] = v
			}
		}
		if patched, err := overlay[T](nil, maps.All(patch)); err == nil && werr == nil {
			got, err := overlayFrom(cur, maps.All(fields), patch, &patched)
			if err != nil {
				t.Fatalf("%T over %s with patch %s: %v", cur, mustJSON(fields), mustJSON(patch), err)
			}
			if w, g := mustJSON(want), mustJSON(got); w != g || !reflect.DeepEqual(normTimes(want), normTimes(got)) {
				t.Fatalf("%T over %s with patch %s:\n got %s\nwant %s", cur, mustJSON(fields), mustJSON(patch), g, w)
			}
		}
		if cur != nil {
			if after, _ := json.Marshal(cur); string(after) != string(before) {
				t.Fatalf("overlay changed cur from %s to %s", before, after)
			}
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// normTimes drops what JSON does not carry (location pointers, monotonic readings) so
// DeepEqual compares values.
func normTimes[T any](v T) T {
	b, _ := json.Marshal(v)
	var out T
	json.Unmarshal(b, &out)
	return out
}

func TestOverlayMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	checkOverlay[domain.Ticket](t, r)
	checkOverlay[domain.Team](t, r)
	checkOverlay[domain.Zone](t, r)
	checkOverlay[domain.User](t, r)
}

// TestOverlayKeepsHiddenFieldsZero: a field JSON does not carry (a user's password hash) is
// zero after overlay, as after the definition's decode; materialize sets it back itself.
func TestOverlayKeepsHiddenFieldsZero(t *testing.T) {
	u := domain.User{ID: "u1", Username: "ann", PasswordHash: "secret", CreatedAt: time.Unix(1, 0).UTC()}
	got, err := overlay(&u, maps.All(map[string]json.RawMessage{"email": json.RawMessage(`"a@b.c"`)}))
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "" || got.Email != "a@b.c" || got.Username != "ann" || u.Email != "" {
		t.Fatalf("overlay gave %+v from %+v", got, u)
	}
}

// TestVisibleFieldsNullsRemovedFields: a field whose value merge removed (its only write was
// rejected) is laid over the typed row as null, so the row does not keep the stale value;
// the others come from the merge state.
func TestVisibleFieldsNullsRemovedFields(t *testing.T) {
	row := merge.Row{Fields: map[string]merge.Field{"title": {Value: json.RawMessage(`"pump"`)}}}
	got := maps.Collect(visibleFields(row, merge.Result{Removed: []string{"description"}}))
	want := map[string]json.RawMessage{"title": json.RawMessage(`"pump"`), "description": jsonNull}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("visible fields %s, want %s", mustJSON(got), mustJSON(want))
	}
	cur := domain.Ticket{Title: "old", Description: "stale"}
	tk, err := overlay(&cur, visibleFields(row, merge.Result{Removed: []string{"description"}}))
	if err != nil || tk.Title != "pump" || tk.Description != "" {
		t.Fatalf("overlay gave %+v, %v", tk, err)
	}
}
