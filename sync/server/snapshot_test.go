package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/snapshot"
	"github.com/aiff/aiff/sync/wire"
)

// compactedHub is a hub whose north zone has 200 tickets (two snapshot chunks), each edited
// twice, and whose compaction clock runs 60 days ahead, so POST /compact folds the edits.
func compactedHub(t *testing.T) *hub {
	t.Helper()
	hb := newHub(t, func(h *server.Handler) {
		h.Compaction = &server.Compaction{Now: func() time.Time { return time.Now().Add(60 * 24 * time.Hour) }}
	})
	hb.h.Compaction.Store = hb.store
	var creates []domain.Change
	for i := range 200 {
		creates = append(creates, hb.ticket("north", fmt.Sprintf("ticket %d", i)))
	}
	hb.push(hb.north, creates...)
	for round := range 2 {
		var edits []domain.Change
		for i, c := range creates {
			now := time.Now().UTC().Truncate(time.Microsecond)
			title, _ := json.Marshal(fmt.Sprintf("ticket %d edit %d", i, round))
			edits = append(edits, domain.Change{ID: domain.NewID(now), Origin: hb.edge.Node, Actor: "tech", Entity: domain.EntityTicket,
				EntityID: c.EntityID, Op: domain.OpUpsert, Patch: map[string]json.RawMessage{"title": title}, HLC: hb.edge.Now().String(), At: now})
		}
		for _, r := range hb.push(hb.north, edits...).Results {
			if r.Status != wire.Accepted {
				t.Fatalf("edit: %+v", r)
			}
		}
	}
	hb.push(hb.admin, hb.ticket("south", "elsewhere"))
	return hb
}

func (hb *hub) compact(token, query string) (*http.Response, syncstore.CompactStats) {
	hb.t.Helper()
	resp, b := hb.do("POST", "/api/sync/compact"+query, token, nil)
	var st syncstore.CompactStats
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &st); err != nil {
			hb.t.Fatalf("decode stats: %v: %s", err, b)
		}
	}
	return resp, st
}

// readSnapshot reads a whole stream, returning its header and rows.
func readSnapshot(t *testing.T, r io.Reader) (snapshot.Header, []snapshot.Row) {
	t.Helper()
	rd, err := snapshot.NewReader(r, snapshot.Limits{})
	if err != nil {
		t.Fatalf("snapshot header: %v", err)
	}
	var rows []snapshot.Row
	for {
		ch, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.Header(), rows
		}
		if err != nil {
			t.Fatalf("snapshot chunk: %v", err)
		}
		rows = append(rows, ch.Rows...)
	}
}

// digestOf is the zone digest of snapshot rows (tickets, teams and zones, as /digest).
func digestOf(t *testing.T, rows []snapshot.Row) string {
	t.Helper()
	var states []merge.State
	for _, r := range rows {
		if r.Entity == domain.EntityUser {
			continue
		}
		row, err := merge.Replay(r.Changes)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, row.State())
	}
	return merge.DigestStates(states)
}

func (hb *hub) digest(token, zone string) (string, int64) {
	hb.t.Helper()
	resp, b := hb.do("GET", "/api/sync/digest?zone="+zone, token, nil)
	if resp.StatusCode != 200 {
		hb.t.Fatalf("digest: %d %s", resp.StatusCode, b)
	}
	var d struct {
		Digest string `json:"digest"`
		Cursor int64  `json:"cursor"`
	}
	json.Unmarshal(b, &d)
	return d.Digest, d.Cursor
}

func TestCompactEndpoint(t *testing.T) {
	hb := compactedHub(t)
	resp, b := hb.do("POST", "/api/sync/compact", hb.north, nil)
	wantProblem(t, resp, b, http.StatusForbidden, "forbidden", "")
	resp, b = hb.do("POST", "/api/sync/compact?retention=1m", hb.admin, nil)
	wantProblem(t, resp, b, http.StatusBadRequest, "invalid", "retention")
	wantDigest, _ := hb.digest(hb.admin, "north")
	before, _ := hb.pullAll(hb.admin, 0)

	resp, st := hb.compact(hb.admin, "?retention=720h")
	if resp.StatusCode != 200 || st.Dropped < 200 || st.Trimmed < 200 || st.Horizon == "" {
		t.Fatalf("compact: %d %+v", resp.StatusCode, st)
	}
	if got, _ := hb.digest(hb.admin, "north"); got != wantDigest {
		t.Error("north digest changed by compaction")
	}
	// A pull from 0 skips the holes: every remaining change once, in order.
	after, _ := hb.pullAll(hb.admin, 0)
	if len(after) != len(before)-st.Dropped {
		t.Errorf("pulled %d changes after compaction, want %d", len(after), len(before)-st.Dropped)
	}
	for i := 1; i < len(after); i++ {
		if after[i].Seq <= after[i-1].Seq {
			t.Fatalf("pull order broken at seq %d", after[i].Seq)
		}
	}
	// A pushed change below the horizon to a compacted row is refused, naming it.
	var old domain.Change
	for _, c := range before {
		if c.Entity == domain.EntityTicket && c.Zone == "north" {
			old = c
			break
		}
	}
	old.ID, old.Seq = domain.NewID(time.Now()), 0
	old.Origin, old.HLC = hb.edge.Node, "000000000001-00000000-"+hb.edge.Node
	old.Patch = map[string]json.RawMessage{"title": json.RawMessage(`"too old"`)}
	old.Base = nil
	if r := hb.push(hb.north, old).Results[0]; r.Status != wire.Rejected || r.Code != domain.CodeConflict {
		t.Errorf("old change after compaction: %+v", r)
	}
}

func TestSnapshotRoundTripAndResume(t *testing.T) {
	hb := compactedHub(t)
	if resp, st := hb.compact(hb.admin, ""); resp.StatusCode != 200 || st.Dropped == 0 {
		t.Fatalf("compact: %d %+v", resp.StatusCode, st)
	}
	wantDigest, head := hb.digest(hb.admin, "north")

	resp, full := hb.do("GET", "/api/sync/snapshot", hb.north, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || resp.Header.Get("ETag") == "" {
		t.Fatalf("snapshot: %d %v %s", resp.StatusCode, resp.Header, full[:min(len(full), 300)])
	}
	etag := resp.Header.Get("ETag")
	hdr, rows := readSnapshot(t, bytes.NewReader(full))
	if hdr.Cursor != head || hdr.Horizon == "" || len(hdr.Zones) != 1 || hdr.Zones[0] != "north" || len(rows) != 201 {
		t.Fatalf("header %+v with %d rows", hdr, len(rows))
	}
	if got := digestOf(t, rows); got != wantDigest {
		t.Fatal("snapshot digest differs from the hub's zone digest")
	}
	// The same stream again: byte-identical (what makes Range resume possible).
	if _, again := hb.do("GET", "/api/sync/snapshot", hb.north, nil); !bytes.Equal(again, full) {
		t.Fatal("a second snapshot at the same cursor differs")
	}

	// Cut in the middle of the second chunk: the first chunk is kept.
	cut := bytes.IndexByte(full, '\n') + 1
	cut += bytes.IndexByte(full[cut:], '\n') + 1 + 100
	rd, err := snapshot.NewReader(bytes.NewReader(full[:cut]), snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var got []snapshot.Row
	for {
		ch, err := rd.Next()
		if err != nil {
			if !errors.Is(err, snapshot.ErrTruncated) {
				t.Fatalf("cut stream: %v, want truncated", err)
			}
			break
		}
		got = append(got, ch.Rows...)
	}
	cp := rd.Checkpoint()
	if len(got) == 0 || len(got) == len(rows) || cp.Last == "" {
		t.Fatalf("kept %d of %d rows before the cut, checkpoint %+v", len(got), len(rows), cp)
	}

	// Resume by key: a new stream after the last row received.
	resp, rest := hb.do("GET", "/api/sync/snapshot?after="+cp.Last, hb.north, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("resume by key: %d %s", resp.StatusCode, rest)
	}
	h2, more := readSnapshot(t, bytes.NewReader(rest))
	if err := cp.Continues(h2); err != nil {
		t.Fatalf("resumed stream does not continue: %v", err)
	}
	if got := digestOf(t, append(append([]snapshot.Row{}, got...), more...)); got != wantDigest {
		t.Error("snapshot resumed by key differs")
	}

	// Resume by Range from the checkpoint's offset, with If-Range on the ETag.
	resp, tail := hb.do("GET", "/api/sync/snapshot", hb.north, nil, "Range", fmt.Sprintf("bytes=%d-", cp.Offset), "If-Range", etag)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(tail, full[cp.Offset:]) {
		t.Fatalf("range resume: %d, %d bytes (want %d)", resp.StatusCode, len(tail), len(full)-int(cp.Offset))
	}
	rr, err := snapshot.Resume(bytes.NewReader(tail), cp, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ranged := append([]snapshot.Row{}, got...)
	for {
		ch, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("resumed range: %v", err)
		}
		ranged = append(ranged, ch.Rows...)
	}
	if digestOf(t, ranged) != wantDigest || len(ranged) != len(rows) {
		t.Error("snapshot resumed by range differs")
	}
	// Once the log moves, If-Range no longer matches: the whole new stream is sent.
	hb.push(hb.north, hb.ticket("north", "new"))
	resp, whole := hb.do("GET", "/api/sync/snapshot", hb.north, nil, "Range", fmt.Sprintf("bytes=%d-", cp.Offset), "If-Range", etag)
	if resp.StatusCode != 200 {
		t.Fatalf("stale If-Range: %d, want 200", resp.StatusCode)
	}
	if h3, rows3 := readSnapshot(t, bytes.NewReader(whole)); h3.Cursor <= head || len(rows3) != 202 {
		t.Errorf("stale If-Range: header %+v, %d rows", h3, len(rows3))
	}

	// Scope: an edge may not ask for a zone outside its own; bad keys are invalid.
	resp, b := hb.do("GET", "/api/sync/snapshot?zones=south", hb.north, nil)
	wantProblem(t, resp, b, http.StatusForbidden, "forbidden", "")
	resp, b = hb.do("GET", "/api/sync/snapshot?after=nothing", hb.north, nil)
	wantProblem(t, resp, b, http.StatusBadRequest, "invalid", "after")
	// An admin's snapshot covers every zone.
	_, all := hb.do("GET", "/api/sync/snapshot", hb.admin, nil)
	if h, _ := readSnapshot(t, bytes.NewReader(all)); len(h.Zones) != 2 {
		t.Errorf("admin snapshot zones %v", h.Zones)
	}
}

// TestCompactionJob runs the background job while an edge pushes: it compacts history older
// than its retention on its own, every fresh push lands, and the row is what the pushes made.
func TestCompactionJob(t *testing.T) {
	hb := newHub(t, func(h *server.Handler) {
		h.Compaction = &server.Compaction{Store: h.Store.(syncstore.Compactor), Interval: 20 * time.Millisecond, Retention: time.Hour}
	})
	// Two hours of old history, written straight to the store (the job starts with the
	// handler's first request).
	old := hlc.NewClock(hb.edge.Node)
	old.Wall = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	edge := domain.Principal{Node: "edge-north", Zones: []string{"north"}}
	tk := hb.ticket("north", "job")
	tk.HLC = old.Now().String()
	edit := func(clock *hlc.Clock, title string) domain.Change {
		now := time.Now().UTC().Truncate(time.Microsecond)
		v, _ := json.Marshal(title)
		return domain.Change{ID: domain.NewID(now), Origin: hb.edge.Node, Actor: "tech", Entity: domain.EntityTicket,
			EntityID: tk.EntityID, Op: domain.OpUpsert, Patch: map[string]json.RawMessage{"title": v}, HLC: clock.Now().String(), At: now}
	}
	batch := []domain.Change{tk}
	for i := range 20 {
		batch = append(batch, edit(old, fmt.Sprintf("old %d", i)))
	}
	if _, err := hb.store.PushChanges(hb.ctx, edge, batch); err != nil {
		t.Fatal(err)
	}
	hb.h.Start()
	var last string
	for i := range 30 {
		last = fmt.Sprintf("fresh %d", i)
		if r := hb.push(hb.north, edit(hb.edge, last)).Results[0]; r.Status != wire.Accepted {
			t.Fatalf("push %d while compacting: %+v", i, r)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		head, err := hb.store.LastSeq(hb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		all, err := hb.store.ListChanges(hb.ctx, 0, nil, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(all)) <= head-19 { // the 19 overwritten old edits are gone
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not compact: %d changes, head %d", len(all), head)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	got, err := hb.store.GetTicket(hb.ctx, tk.EntityID)
	if err != nil || got.Title != last {
		t.Fatalf("ticket after compaction: %q, %v; want %q", got.Title, err, last)
	}
	if r := hb.push(hb.north, edit(old, "too old")).Results[0]; r.Status != wire.Rejected {
		t.Errorf("old edit after the job compacted: %+v", r)
	}
}
