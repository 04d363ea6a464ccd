package snapshot_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/aiff/aiff/sync/snapshot"
)

var t0 = time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC)

func changeID(n int) string {
	var id ulid.ULID
	if err := id.SetTime(uint64(t0.UnixMilli())); err != nil {
		panic(err)
	}
	binary.BigEndian.PutUint64(id[8:], uint64(n))
	return id.String()
}

// hubLog makes a hub log of n changes (seq 1..n) to rows tickets T0..T(rows-1) and teams,
// with clocks over [0, 100) ms, overwriting fields often, so compaction has work to do.
func hubLog(r *rand.Rand, n, rows int) []domain.Change {
	origins := []string{"hub", "edge-a", "edge-b"}
	ticket := map[string][]string{"title": {"pump", "valve & <cable>", "pipe"}, "description": {"", "leak", "naïve \"quote\""},
		"status": {"open", "assigned", "in_progress", "resolved", "closed"}, "priority": {"low", "high"}}
	team := map[string][]string{"name": {"Alpha", "Beta"}, "description": {"north", "south"}}
	var log []domain.Change
	for i := range n {
		origin := origins[r.IntN(len(origins))]
		ms := int64(r.IntN(100))
		entity, id, fields := domain.EntityTicket, fmt.Sprintf("T%02d", r.IntN(rows)), ticket
		if r.IntN(5) == 0 {
			entity, id, fields = domain.EntityTeam, fmt.Sprintf("team/%d", r.IntN(3)), team
		}
		c := domain.Change{ID: changeID(i + 1), Seq: int64(i + 1), Origin: origin, Actor: "user." + origin, Entity: entity,
			EntityID: id, Zone: "North", HLC: hlc.Timestamp{Wall: t0.UnixMilli() + ms, Node: origin}.String(),
			At: t0.Add(time.Duration(ms) * time.Millisecond)}
		if r.IntN(25) == 0 {
			c.Op = domain.OpDelete
		} else {
			c.Op, c.Patch = domain.OpUpsert, map[string]json.RawMessage{}
			for k, vs := range fields {
				if r.IntN(2) == 0 || len(c.Patch) == 0 {
					c.Patch[k], _ = json.Marshal(vs[r.IntN(len(vs))])
				}
			}
			if ms > 0 && r.IntN(2) == 0 {
				f := "title"
				if entity == domain.EntityTeam {
					f = "name"
				}
				c.Base = map[string]string{f: hlc.Timestamp{Wall: t0.UnixMilli() + int64(r.IntN(int(ms))), Node: "hub"}.String()}
			}
		}
		log = append(log, c)
	}
	return log
}

func header(rows []snapshot.Row, cursor int64) snapshot.Header {
	return snapshot.Header{Zones: []string{"North", "South"}, Cursor: cursor, Horizon: merge.HorizonAt(t0.Add(90 * time.Millisecond)).HLC, Rows: int64(len(rows))}
}

func write(t testing.TB, h snapshot.Header, rows []snapshot.Row, chunkRows int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := snapshot.NewWriter(&buf, h)
	w.ChunkRows = chunkRows
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads a stream to its end or first error, returning the rows verified.
func readAll(r *snapshot.Reader) ([]snapshot.Row, error) {
	var rows []snapshot.Row
	for {
		ch, err := r.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, ch.Rows...)
	}
}

func testRows(t testing.TB, seed uint64, n, rowCount int) ([]domain.Change, []snapshot.Row) {
	t.Helper()
	log := hubLog(rand.New(rand.NewPCG(seed, seed+1)), n, rowCount)
	rows, err := snapshot.Rows(log, merge.HorizonAt(t0.Add(90*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	return log, rows
}

// digestOf replays snapshot rows and hashes their visible states.
func digestOf(t testing.TB, rows []snapshot.Row) string {
	t.Helper()
	var mr []merge.Row
	for _, r := range rows {
		row, err := merge.Replay(r.Changes)
		if err != nil {
			t.Fatal(err)
		}
		mr = append(mr, row)
	}
	return merge.Digest(mr)
}

func TestRoundTrip(t *testing.T) {
	log, rows := testRows(t, 1, 400, 25)
	// The snapshot's rows are compacted, yet replay to the state of the full log.
	byRow := map[string][]domain.Change{}
	for _, c := range log {
		byRow[string(c.Entity)+"/"+c.EntityID] = append(byRow[string(c.Entity)+"/"+c.EntityID], c)
	}
	var fullRows []merge.Row
	kept := 0
	for _, cs := range byRow {
		fullRows = append(fullRows, mustReplay(t, cs))
	}
	for _, r := range rows {
		kept += len(r.Changes)
	}
	if digestOf(t, rows) != merge.Digest(fullRows) {
		t.Fatal("snapshot rows do not replay to the log's state")
	}
	if kept >= len(log)/2 {
		t.Errorf("compaction kept %d of %d changes", kept, len(log))
	}

	for _, chunkRows := range []int{1, 3, 1000} {
		h := header(rows, 400)
		b := write(t, h, rows, chunkRows)
		r, err := snapshot.NewReader(bytes.NewReader(b), snapshot.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(h, r.Header()); d != "" {
			t.Errorf("header (-want +got):\n%s", d)
		}
		got, err := readAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(rows, got); d != "" {
			t.Fatalf("chunk rows %d: rows (-want +got):\n%s", chunkRows, d)
		}
		cp := r.Checkpoint()
		if !cp.Complete || cp.Offset != int64(len(b)) || cp.Rows != int64(len(rows)) {
			t.Errorf("final checkpoint %+v", cp)
		}
		if !bytes.Equal(b, write(t, h, got, chunkRows)) {
			t.Error("re-encoding what was read gives other bytes")
		}
	}

	// An empty snapshot is a header and a trailer.
	b := write(t, snapshot.Header{Zones: []string{"Empty"}}, nil, 10)
	r, err := snapshot.NewReader(bytes.NewReader(b), snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(r); err != nil || len(got) != 0 || strings.Count(string(b), "\n") != 2 {
		t.Errorf("empty snapshot: %v %v\n%s", got, err, b)
	}
}

func mustReplay(t testing.TB, cs []domain.Change) merge.Row {
	t.Helper()
	row, err := merge.Replay(cs)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// TestResumeAtEveryOffset cuts a stream at every byte offset and resumes it both ways: with
// the rest of the same bytes from the checkpoint's offset (HTTP Range), and with a new stream
// of the rows after the checkpoint's last key, taken at a later cursor. Both give exactly the
// rows of the uncut stream, and a cut never yields an unverified row.
func TestResumeAtEveryOffset(t *testing.T) {
	_, rows := testRows(t, 2, 20, 6)
	h := header(rows, 20)
	b := write(t, h, rows, 2)
	t.Logf("stream: %d bytes, %d rows", len(b), len(rows))
	resumed := map[int64]bool{}
	for cut := 0; cut < len(b); cut++ {
		r, err := snapshot.NewReader(bytes.NewReader(b[:cut]), snapshot.Limits{})
		if err != nil {
			if !errors.Is(err, snapshot.ErrTruncated) {
				t.Fatalf("cut %d: header error %v, want truncated", cut, err)
			}
			continue // nothing received: start over
		}
		got, err := readAll(r)
		if !errors.Is(err, snapshot.ErrTruncated) {
			t.Fatalf("cut %d: error %v, want truncated", cut, err)
		}
		if d := rowsDiff(rows[:len(got)], got); d != "" {
			t.Fatalf("cut %d: rows before the cut (-want +got):\n%s", cut, d)
		}
		cp := r.Checkpoint()
		if cp.Offset > int64(cut) || cp.Rows != int64(len(got)) {
			t.Fatalf("cut %d: checkpoint %+v after %d rows", cut, cp, len(got))
		}
		// Every cut inside one line leaves the same checkpoint; resume from each once.
		if resumed[cp.Offset] {
			continue
		}
		resumed[cp.Offset] = true
		cpJSON, _ := json.Marshal(cp)
		var stored snapshot.Checkpoint
		if err := json.Unmarshal(cpJSON, &stored); err != nil {
			t.Fatal(err)
		}

		// HTTP Range from the checkpoint.
		rr, err := snapshot.Resume(bytes.NewReader(b[stored.Offset:]), stored, snapshot.Limits{})
		if err != nil {
			t.Fatalf("cut %d: resume: %v", cut, err)
		}
		rest, err := readAll(rr)
		if err != nil {
			t.Fatalf("cut %d: resumed read: %v", cut, err)
		}
		if d := rowsDiff(rows, append(slices.Clone(got), rest...)); d != "" {
			t.Fatalf("cut %d: range-resumed rows (-want +got):\n%s", cut, d)
		}

		// A new stream after the last key (a later cursor is fine).
		after := rows[len(got):]
		if want := ""; len(got) > 0 && stored.Last != got[len(got)-1].Key().String() || len(got) == 0 && stored.Last != want {
			t.Fatalf("cut %d: checkpoint's last key %q after %d rows", cut, stored.Last, len(got))
		}
		h2 := h
		h2.Cursor, h2.After, h2.Rows = h.Cursor+5, stored.Last, int64(len(after))
		kr, err := snapshot.NewReader(bytes.NewReader(write(t, h2, after, 3)), snapshot.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := stored.Continues(kr.Header()); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		rest, err = readAll(kr)
		if err != nil {
			t.Fatalf("cut %d: keyed read: %v", cut, err)
		}
		if d := rowsDiff(rows, append(slices.Clone(got), rest...)); d != "" {
			t.Fatalf("cut %d: key-resumed rows (-want +got):\n%s", cut, d)
		}
	}
	// A stream for other zones, or after another key, does not continue a checkpoint.
	cp := snapshot.Checkpoint{Header: h, Last: rows[2].Key().String()}
	for _, h2 := range []snapshot.Header{{Zones: []string{"North"}, After: cp.Last}, {Zones: h.Zones, After: rows[1].Key().String()}} {
		if err := cp.Continues(h2); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("Continues(%+v) = %v", h2, err)
		}
	}
}

// TestCorruptionDetected changes every byte of a stream in turn (to several other values)
// and requires the reader to fail, never to return a row the writer did not write, and to
// return only the rows of chunks before the damage.
func TestCorruptionDetected(t *testing.T) {
	_, rows := testRows(t, 3, 40, 8)
	b := write(t, header(rows, 40), rows, 2)
	r := rand.New(rand.NewPCG(5, 6))
	checksums := 0
	for i := range b {
		// Every byte of the header, chunk boundaries and the trailer; a sample elsewhere.
		if i > 300 && i < len(b)-200 && b[i] != '\n' && (i == 0 || b[i-1] != '\n') && r.IntN(8) != 0 {
			continue
		}
		for _, x := range []byte{b[i] ^ 0x01, b[i] ^ 0x20, byte(r.IntN(256))} {
			if x == b[i] {
				continue
			}
			bad := slices.Clone(b)
			bad[i] = x
			rd, err := snapshot.NewReader(bytes.NewReader(bad), snapshot.Limits{})
			if err != nil {
				continue // a damaged header is refused
			}
			got, err := readAll(rd)
			if err == nil {
				t.Fatalf("byte %d changed %q→%q: read without error", i, b[i], x)
			}
			if d := rowsDiff(rows[:len(got)], got); d != "" {
				t.Fatalf("byte %d: rows returned before the error differ (-want +got):\n%s", i, d)
			}
			if rd.Checkpoint().Offset > int64(i) {
				t.Fatalf("byte %d: checkpoint %d is past the damage", i, rd.Checkpoint().Offset)
			}
			var ce *snapshot.ChecksumError
			if errors.As(err, &ce) {
				checksums++
			}
		}
	}
	if checksums == 0 {
		t.Error("no corruption was reported as a checksum mismatch")
	}
}

func TestReaderRejects(t *testing.T) {
	_, rows := testRows(t, 4, 30, 5)
	good := write(t, header(rows, 30), rows, 2)
	lines := strings.SplitAfter(string(good), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	if !bytes.Equal(resum(lines), good) {
		t.Fatal("resum does not reproduce the writer's checksums")
	}
	edit := func(i int, from, to string) []byte {
		ls := slices.Clone(lines)
		if !strings.Contains(ls[i], from) {
			t.Fatalf("line %d has no %q", i, from)
		}
		ls[i] = strings.Replace(ls[i], from, to, 1)
		return resum(ls)
	}
	last := len(lines) - 1
	for name, tc := range map[string]struct {
		b    []byte
		code domain.Code
	}{
		"version":           {edit(0, `"v":1`, `"v":2`), domain.CodeInvalid},
		"unknown header":    {edit(0, `"after":""`, `"after":"","extra":1`), domain.CodeInvalid},
		"unsorted zones":    {edit(0, `["North","South"]`, `["South","North"]`), domain.CodeInvalid},
		"negative cursor":   {edit(0, `"cursor":30`, `"cursor":-1`), domain.CodeInvalid},
		"bad horizon":       {edit(0, `"horizon":"`, `"horizon":"x`), domain.CodeInvalid},
		"unknown chunk key": {edit(1, `"index":1`, `"index":1,"more":true`), domain.CodeInvalid},
		"unknown row key":   {edit(1, `"changes":[`, `"zone":"x","changes":[`), domain.CodeInvalid},
		"unknown change":    {edit(1, `"origin":`, `"colour":"red","origin":`), domain.CodeInvalid},
		"skipped index":     {edit(2, `"index":2`, `"index":3`), domain.CodeInvalid},
		"seq past cursor":   {edit(0, `"cursor":30`, `"cursor":3`), domain.CodeInvalid},
		"bad hlc":           {edit(1, `"hlc":"0`, `"hlc":"Z`), domain.CodeInvalid},
		"wrong last":        {edit(1, `"last":"`, `"last":"ticket/X`), domain.CodeInvalid},
		"trailer rows":      {edit(last, `"rows":`, `"rows":9`), domain.CodeInvalid},
		"header rows":       {edit(0, fmt.Sprintf(`"rows":%d`, len(rows)), fmt.Sprintf(`"rows":%d`, len(rows)+1)), domain.CodeInvalid},
		"data after":        {append(slices.Clone(good), "{}\n"...), domain.CodeInvalid},
		"unknown type":      {edit(1, TypeChunkLit, `"type":"snapshot_page"`), domain.CodeInvalid},
		"null rows":         {edit(1, `"rows":[`, `"rows":null,"x":[`), domain.CodeInvalid},
	} {
		err := readErr(tc.b, snapshot.Limits{})
		if domain.ErrorCode(err) != tc.code {
			t.Errorf("%s: err = %v, want %s", name, err, tc.code)
		}
	}
	// Rows out of order, or repeated, are refused (swap the first two rows of a chunk).
	var bad bytes.Buffer
	w := snapshot.NewWriter(&bad, header(rows, 30))
	if err := w.Write(rows[1]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows[0]); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("writer took rows out of order: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("a failed writer closed cleanly")
	}
	// Limits.
	if err := readErr(good, snapshot.Limits{MaxLineBytes: 200}); domain.ErrorCode(err) != domain.CodeTooLarge {
		t.Errorf("line limit: %v", err)
	}
	if err := readErr(good, snapshot.Limits{MaxChunkRows: 1}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("chunk rows limit: %v", err)
	}
	if err := readErr(good, snapshot.Limits{MaxRows: 2}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("rows limit: %v", err)
	}
	// The writer refuses a count that does not match the header.
	var buf bytes.Buffer
	w = snapshot.NewWriter(&buf, snapshot.Header{Zones: []string{"North"}, Cursor: 100, Rows: 2})
	if err := w.Write(rows[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("close with too few rows")
	}
}

// TypeChunkLit is how a chunk line names its type.
const TypeChunkLit = `"type":"snapshot_chunk"`

// rowsDiff is cmp.Diff for rows, with a fast path: the rows' JSON encodings are equal.
func rowsDiff(want, got []snapshot.Row) string {
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if bytes.Equal(a, b) || len(want) == 0 && len(got) == 0 {
		return ""
	}
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// resum recomputes the checksums of stream lines that were edited, so that the reader's
// structural checks, not the checksum, must catch the edit. Lines without a sum member are
// left as they are.
func resum(ls []string) []byte {
	var out bytes.Buffer
	sum := make([]byte, sha256.Size)
	for _, l := range ls {
		l = strings.TrimSuffix(l, "\n")
		j := strings.LastIndex(l, `,"sum":"`)
		if j < 0 {
			out.WriteString(l + "\n")
			continue
		}
		sum = sha256Sum(sum, []byte(l[:j]))
		out.WriteString(l[:j] + `,"sum":"` + fmt.Sprintf("%x", sum) + `"}}` + "\n")
	}
	return out.Bytes()
}

func sha256Sum(prev, data []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(data)
	return h.Sum(nil)
}

func readErr(b []byte, lim snapshot.Limits) error {
	r, err := snapshot.NewReader(bytes.NewReader(b), lim)
	if err != nil {
		return err
	}
	_, err = readAll(r)
	return err
}
