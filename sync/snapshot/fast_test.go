package snapshot

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/google/go-cmp/cmp"
)

// slowChunk decodes a chunk line with encoding/json, as Reader did before fastChunk.
func slowChunk(line []byte) (int, string, []Row, error) {
	var env struct {
		V    int             `json:"v"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := strictUnmarshal(line, &env); err != nil {
		return 0, "", nil, err
	}
	if env.V != 1 || env.Type != TypeChunk {
		return 0, "", nil, domain.Errorf(domain.CodeInvalid, "not a chunk")
	}
	var d struct {
		Index int             `json:"index"`
		Last  string          `json:"last"`
		Rows  json.RawMessage `json:"rows"`
		Sum   string          `json:"sum"`
	}
	if err := strictUnmarshal(env.Data, &d); err != nil {
		return 0, "", nil, err
	}
	var rows []Row
	if err := strictUnmarshal(d.Rows, &rows); err != nil {
		return 0, "", nil, err
	}
	return d.Index, d.Last, rows, nil
}

// fastSeedLines are chunk lines as a Writer writes them, with values of every JSON kind.
func fastSeedLines(tb testing.TB) [][]byte {
	at := time.Date(2025, 6, 1, 8, 0, 0, 123456000, time.UTC)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	rows := []Row{
		{Entity: domain.EntityTicket, ID: "01JWN82D05WX7S1PRKQ86A8YEW", Changes: []domain.Change{{
			ID: "01JWN82D00FDRDXAAKG9SK3CMB", Seq: 7, Origin: "hub", Actor: "system", Entity: domain.EntityTicket,
			EntityID: "01JWN82D05WX7S1PRKQ86A8YEW", Op: domain.OpUpsert, Zone: "North",
			Patch: map[string]json.RawMessage{"title": raw(`"a \"quoted\" <b>&</b> title\u2028é"`), "lat": raw(`-12.5e+3`),
				"skills": raw(`["x",{"y":[true,false,null,0]}]`), "assigned_to": raw(`null`), "description": raw(`""`)},
			HLC: "01a221d5721b-00000006-hub", At: at,
			Base: map[string]string{"title": "01a221d5721a-00000001-edge-a"}}, {
			ID: "01JWN82D00FDRDXAAKG9SK3CMC", Seq: 9, Origin: "edge-a", Actor: "Zoë", Entity: domain.EntityTicket,
			EntityID: "01JWN82D05WX7S1PRKQ86A8YEW", Op: domain.OpDelete, At: at.Add(time.Hour)}}},
		{Entity: domain.EntityZone, ID: "z/1", Changes: []domain.Change{{ID: "01JWN82D00FDRDXAAKG9SK3CMD", Seq: 3, Origin: "hub",
			Actor: "system", Entity: domain.EntityZone, EntityID: "z/1", Op: domain.OpUpsert, Zone: "Nörth <&>",
			Patch: map[string]json.RawMessage{"name": raw(`"Nörth <&>"`)}, At: at}}},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, Header{Zones: []string{"North"}, Cursor: 10, Rows: int64(len(rows))})
	w.ChunkRows = 2
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		out = append(out, []byte(l))
	}
	return out
}

func TestFastChunkTakesWriterLines(t *testing.T) {
	lines := fastSeedLines(t)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want header, chunk, trailer", len(lines))
	}
	if _, _, _, ok := fastChunk(lines[1], nil); !ok {
		t.Fatalf("the fast path refused a chunk the writer wrote: %s", lines[1])
	}
	for _, l := range [][]byte{lines[0], lines[2]} {
		if _, _, _, ok := fastChunk(l, nil); ok {
			t.Fatalf("the fast path took a line that is not a chunk: %s", l)
		}
	}
	checkFastMatchesSlow(t, lines[1])
	// Forms the writer does not produce go to encoding/json, which still decodes them.
	for _, l := range []string{
		strings.Replace(string(lines[1]), `"index":1`, `"index": 1`, 1),
		strings.Replace(string(lines[1]), `"entity":"ticket"`, `"Entity":"ticket"`, 1),
		strings.Replace(string(lines[1]), `"actor":"system"`, `"actor":"sys\u0074em"`, 1),
	} {
		if _, _, _, ok := fastChunk([]byte(l), map[string]string{}); ok {
			t.Fatalf("the fast path took %s", l)
		}
		if _, _, _, err := slowChunk([]byte(l)); err != nil {
			t.Fatalf("slow path: %v", err)
		}
	}
}

// checkFastMatchesSlow: whatever fastChunk decodes, encoding/json decodes the same way.
func checkFastMatchesSlow(t *testing.T, line []byte) {
	t.Helper()
	i, last, rows, ok := fastChunk(line, map[string]string{"ticket": "ticket"})
	if !ok {
		return
	}
	si, slast, srows, err := slowChunk(line)
	if err != nil {
		t.Fatalf("fast path decoded a line encoding/json refuses (%v): %q", err, line)
	}
	if i != si || last != slast {
		t.Fatalf("index/last: fast %d %q, slow %d %q", i, last, si, slast)
	}
	if d := cmp.Diff(srows, rows); d != "" {
		t.Fatalf("rows (-slow +fast):\n%s", d)
	}
	for r := range rows {
		for c := range rows[r].Changes {
			if f, s := rows[r].Changes[c].At, srows[r].Changes[c].At; f != s {
				t.Fatalf("at: fast %#v, slow %#v", f, s)
			}
		}
	}
}

// FuzzFastChunk holds the fast decoder to encoding/json on arbitrary lines.
func FuzzFastChunk(f *testing.F) {
	for _, l := range fastSeedLines(f) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkFastMatchesSlow(t, line)
	})
}
