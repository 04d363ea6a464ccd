package sqlite

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

func checkEncodeRow(t *testing.T, r merge.Row) {
	t.Helper()
	want, werr := json.Marshal(storedFormOf(r))
	got, gerr := encodeRow(r)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("encodeRow error %v, json.Marshal error %v", gerr, werr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("encodeRow\n%s\njson.Marshal\n%s", got, want)
	}
	if werr == nil {
		// Both forms decode to the row encoding/json round-trips: the stored one and the
		// full one of rows written before it.
		full, _ := json.Marshal(r)
		var wantRow merge.Row
		if err := json.Unmarshal(full, &wantRow); err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{got, full} {
			back, err := decodeState(b)
			if err != nil {
				t.Fatalf("decodeState(%s): %v", b, err)
			}
			if !reflect.DeepEqual(back, wantRow) {
				t.Fatalf("decodeState(%s)\n%#v\nwant\n%#v", b, back, wantRow)
			}
		}
	}
	fields := map[string]json.RawMessage{}
	for k, f := range r.Fields {
		fields[k] = f.Value
	}
	want, werr = json.Marshal(fields)
	if got := encodeFields(r.Fields); werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("encodeFields\n%s\njson.Marshal\n%s", got, want)
	}
	// appendRowDoc: the same two encodings, after what the buffer held.
	wantState, serr := encodeRow(r)
	state, doc, buf, err := appendRowDoc([]byte("prefix"), r)
	if (err == nil) != (serr == nil) {
		t.Fatalf("appendRowDoc error %v, encodeRow error %v", err, serr)
	}
	if err == nil && (!bytes.Equal(state, wantState) || !bytes.Equal(doc, encodeFields(r.Fields)) || !bytes.HasPrefix(buf, []byte("prefix"))) {
		t.Fatalf("appendRowDoc\n%s\n%s\nencodeRow, encodeFields\n%s\n%s", state, doc, wantState, encodeFields(r.Fields))
	}
}

// rowFrom builds a row through merge from text values (patch values are JSON-encoded
// strings, plus raw values when the text is valid JSON) with a conflict and a delete.
func rowFrom(t *testing.T, texts []string, at time.Time) merge.Row {
	clock := hlc.NewClock("edge-a")
	var row merge.Row
	now := time.Now()
	id := domain.NewID(now)
	for i, s := range texts {
		v, _ := json.Marshal(s)
		patch := map[string]json.RawMessage{"title": v, s: v}
		if json.Valid([]byte(s)) {
			patch["raw"] = json.RawMessage(s)
		}
		c := domain.Change{ID: domain.NewID(now), Origin: []string{"edge-a", "hub", s}[i%3], Actor: s, Entity: domain.EntityTicket,
			EntityID: id, Op: domain.OpUpsert, Zone: s, Patch: patch, HLC: clock.Now().String(), At: at,
			Base: map[string]string{s: hlc.Timestamp{Wall: 1, Node: "hub"}.String()}}
		if i == 3 {
			c.Op, c.Patch = domain.OpDelete, nil
		}
		next, _, err := merge.Apply(row, c)
		if err != nil {
			continue // an origin or value merge refuses
		}
		row = next
	}
	return row
}

func TestEncodeRowMatchesJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	cases := [][]string{
		{"Broken pump", "Leak", "x", "y", "z"},
		{"<b>&amp;</b>", "quote \" and \\ slash", "tab\tnew\nline", "é ü 漢", "\u2028 and \u2029"},
		{"\x00\x01\x7f", "\xff invalid", "{\"b\":[1, 2],\"a\":\"<\"}", "3.0", "null", "[ 1 ]"},
	}
	for _, texts := range cases {
		checkEncodeRow(t, rowFrom(t, texts, at))
		checkEncodeRow(t, rowFrom(t, texts, at.In(time.FixedZone("x", 3600+30*60))))
		checkEncodeRow(t, rowFrom(t, texts, time.Time{}))
	}
	for _, texts := range cases[:2] {
		r := rowFrom(t, texts, at)
		if _, ok := appendRow(nil, r, sortedKeys(r.Fields)); !ok {
			t.Errorf("row of %q took the slow way", texts)
		}
	}
	checkEncodeRow(t, merge.Row{})
	checkEncodeRow(t, merge.Row{Entity: "ticket", ID: "x", Changes: []domain.Change{}, Fields: map[string]merge.Field{"a": {}}})
	// Shapes json.Marshal refuses fall back to it and fail the same way.
	bad := rowFrom(t, cases[0], at)
	bad.Changes[0].At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	checkEncodeRow(t, bad)
	bad = rowFrom(t, cases[0], at)
	bad.Changes[0].At = at.In(time.FixedZone("odd", 61))
	checkEncodeRow(t, bad)
	bad = rowFrom(t, cases[0], at)
	bad.Changes[0].Patch["title"] = json.RawMessage(`{"a": 1}`) // not compact: left to json
	checkEncodeRow(t, bad)
	bad.Changes[0].Patch["title"] = json.RawMessage(`{"a":`)
	checkEncodeRow(t, bad)
}

func FuzzEncodeRow(f *testing.F) {
	f.Add("Broken pump", "<&>", "\u2028", "{\"a\":\"<\"}", int64(0))
	f.Add("\xff", "\"", "\\", "[1,2]", int64(-3600))
	f.Fuzz(func(t *testing.T, a, b, c, d string, off int64) {
		at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("z", int(off%100000)))
		checkEncodeRow(t, rowFrom(t, []string{a, b, c, d, a + b}, at))
	})
}

// TestStoredStateForm checks the stored form's version references: a version that is one of
// the row's changes is its index, one that is not (a change folded away) stays an object, and
// a reference past the changes is an error, not a made-up version.
func TestStoredStateForm(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := rowFrom(t, []string{"Broken pump", "Leak", "x", "y", "z"}, at)
	b, err := encodeRow(r)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := json.Marshal(r)
	if strings.Contains(string(b), `"version":{`) || len(b) >= len(full) {
		t.Fatalf("every version is a change's, yet the stored form spells one out (%d bytes, full form %d):\n%s", len(b), len(full), b)
	}
	// A row made by one change stores no field value of its own: each is the change's.
	one := rowFrom(t, []string{"Broken pump"}, at)
	if b, err := encodeRow(one); err != nil || strings.Contains(string(b), `"value":`) || !strings.Contains(string(b), `"title":0`) {
		t.Fatalf("one-change row stored as %s, %v", b, err)
	}
	// A field whose version names no change of the row keeps the object.
	f := r.Fields["title"]
	f.Version = merge.Version{HLC: "0000000000ff-00000000-hub", Change: "01FOLDEDAWAY000000000000000"}
	r.Fields["title"] = f
	b, err = encodeRow(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"version":{"hlc":"0000000000ff-00000000-hub","change":"01FOLDEDAWAY000000000000000"}`) {
		t.Fatalf("foreign version not spelled out:\n%s", b)
	}
	back, err := decodeState(b)
	if err != nil || back.Fields["title"].Version != f.Version {
		t.Fatalf("decoded %+v, %v; want %+v", back.Fields["title"], err, f.Version)
	}
	for _, bad := range []string{
		`{"entity":"ticket","id":"x","changes":[],"fields":{"a":{"value":1,"version":0}}}`,
		`{"entity":"ticket","id":"x","changes":null,"fields":{},"deleted":3}`,
		`{"entity":"ticket","id":"x","changes":[],"fields":{"a":{"value":1,"version":1e3}}}`,
	} {
		if _, err := decodeState([]byte(bad)); err == nil {
			t.Errorf("decodeState(%s) succeeded", bad)
		}
	}
}
