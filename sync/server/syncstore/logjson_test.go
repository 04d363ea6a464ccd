package syncstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// jsonSamples are patch values and keys chosen to hit every branch of the shortcut: escapes
// json.Marshal adds, whitespace it removes, nesting, and plain values it keeps.
var jsonSamples = []string{`"plain"`, `"a pole is down"`, `"<b>&"`, `"\u003c"`, `"a\"b"`, `"a\\b"`, `"tab\there"`,
	"\"line\u2028sep\"", `"é漢"`, `1`, `-2.5e3`, `true`, `false`, `null`, `[]`, `{}`, `["electric","water"]`,
	`[ 1, 2 ]`, `{"b":1,"a":[2,{"c":"}"}]}`, `{ "a" : 1 }`, `"]"`, `"{"`, `"x,y"`, `"2026-01-02T03:04:05.123456Z"`}

var keySamples = []string{"title", "skills", "a<b", "with space", "ünï", "q\"k", "status", "due_date"}

func randomPatch(r *rand.Rand) map[string]json.RawMessage {
	p := map[string]json.RawMessage{}
	for range r.IntN(6) {
		p[keySamples[r.IntN(len(keySamples))]] = json.RawMessage(jsonSamples[r.IntN(len(jsonSamples))])
	}
	if r.IntN(4) == 0 { // as many fields as a create has, or more than AppendPatchJSON's buffer
		for range r.IntN(40) {
			p[fmt.Sprintf("f%02d", r.IntN(60))] = json.RawMessage(jsonSamples[r.IntN(len(jsonSamples))])
		}
	}
	return p
}

// TestAppendPatchJSONMatchesMarshal holds the shortcut to json.Marshal's bytes, which the log
// stored before it: a patch must be logged the same whichever path encodes it.
func TestAppendPatchJSONMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for range 5000 {
		p := randomPatch(r)
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendPatchJSON(nil, p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("patch %v: got %s (%v), json.Marshal gives %s", p, got, err, want)
		}
		m, ok := SplitPatchJSON(got)
		var dec map[string]json.RawMessage
		if err := json.Unmarshal(got, &dec); err != nil {
			t.Fatal(err)
		}
		if ok {
			fast++
			if !reflect.DeepEqual(m, dec) {
				t.Fatalf("split %s: got %v, json.Unmarshal gives %v", got, m, dec)
			}
		}
	}
	if fast < 1000 {
		t.Fatalf("only %d of 5000 patches took the split shortcut", fast)
	}
	for _, s := range []string{`{"a": 1}`, `{"a":1,"a":2}`, `{"a\u0062":1}`, `{"a":1`, `[1]`, `{"a":1}x`, `{"a":[1,2}`} {
		if _, ok := SplitPatchJSON([]byte(s)); ok {
			t.Errorf("%s takes the split shortcut", s)
		}
	}
}

// TestAppendBaseJSONMatchesMarshal holds the base shortcut to json.Marshal's bytes.
func TestAppendBaseJSONMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	clocks := []string{"01972b786540-00000000-edge-north", "01972b786540-00000001-a<b>&c", `01972b786540-00000002-q"\\`, "01972b786540-0000000a-hub"}
	for range 2000 {
		base := map[string]string{}
		for range r.IntN(5) {
			base[keySamples[r.IntN(len(keySamples))]] = clocks[r.IntN(len(clocks))]
		}
		for range r.IntN(3) * r.IntN(8) { // past AppendBaseJSON's buffer now and then
			base[fmt.Sprintf("f%02d", r.IntN(20))] = clocks[r.IntN(len(clocks))]
		}
		want, _ := json.Marshal(base)
		if got := AppendBaseJSON(nil, base); !bytes.Equal(got, want) {
			t.Fatalf("base %v: got %s, json.Marshal gives %s", base, got, want)
		}
	}
}

// BenchmarkAppendPatchJSON logs a ticket create's patch (21 plain fields), as a hub store does
// for every change it appends, against json.Marshal of the same map:
//
//	go test ./sync/server/syncstore -run '^$' -bench AppendPatchJSON -benchmem
func BenchmarkAppendPatchJSON(b *testing.B) {
	patch := map[string]json.RawMessage{}
	for i := range 21 {
		patch[fmt.Sprintf("field_%02d", (i*8)%21)] = json.RawMessage(jsonSamples[i%2])
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AppendPatchJSON(nil, patch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(patch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
