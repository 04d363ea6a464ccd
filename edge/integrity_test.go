package edge_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/integrity"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// TestIntegrityRepairsOnlyDamagedBuckets damages an edge's replica behind its back, in its
// SQLite file (one row's state altered, one row deleted, one stray row added), and checks
// that the integrity check finds exactly those rows' buckets, re-fetches only them, and
// leaves the edge's digest equal to the hub's, with the repairs counted.
func TestIntegrityRepairsOnlyDamagedBuckets(t *testing.T) {
	hub := newHubProc(t)
	if _, err := hub.store.CreateZone(bg, domain.Zone{Name: "North"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 40 {
		tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("Pump %02d", i), Zone: "North"}, time.Now())
		tk, err := hub.store.CreateTicket(bg, tk)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	_, tok, err := hub.store.CreateEdgeCredential(bg, syncstore.EdgeCredential{Name: "edge-north", Zones: []string{"North"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := edge.New(edge.Config{HubURL: hub.url(), Token: tok, DataDir: dir, Addr: "127.0.0.1:0", Logger: testLogger(t),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, IntegrityInterval: time.Hour})
	if err := n.Open(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(bg) })
	hubc := client.New(hub.url(), tok)
	checkFor(t, 10*time.Second, "edge converged", atHead(t, hub, digestsEqual(t, hubc, "North", n), n))
	checks, repairs := n.Integrity.Collectors()[0], n.Integrity.Collectors()[1]
	// The node checks once on reaching ready, and finds nothing to repair.
	checkFor(t, 10*time.Second, "first check after ready", func() bool { return counterSum(checks) >= 1 })
	if c := seriesOf(repairs); c != 0 {
		t.Fatalf("a healthy replica was repaired (%d series)", c)
	}

	// Damage the replica in its file, behind the store's back.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, edge.DBFile)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	corrupt, gone, source := ids[3], ids[17], ids[29]
	stray := domain.NewID(time.Now())
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE rows SET state = replace(state, '\"Pump 03\"', '\"Pump 03 (tampered)\"') WHERE entity = 'ticket' AND id = ?", []any{corrupt}},
		{"DELETE FROM rows WHERE entity = 'ticket' AND id = ?", []any{gone}},
		{`INSERT INTO rows (entity, id, zone, deleted, doc, state) SELECT entity, ?, zone, deleted, replace(doc, ?, ?), replace(state, ?, ?)
			FROM rows WHERE entity = 'ticket' AND id = ?`, []any{stray, source, stray, source, stray, source}},
	} {
		if res, err := db.ExecContext(bg, q.sql, q.args...); err != nil {
			t.Fatal(err)
		} else if k, _ := res.RowsAffected(); k != 1 {
			t.Fatalf("%s: %d rows", q.sql, k)
		}
	}
	var want []string
	for _, id := range []string{corrupt, gone, stray} {
		if b := integrity.BucketOf(domain.EntityTicket, id); !slices.Contains(want, b) {
			want = append(want, b)
		}
	}
	slices.Sort(want)
	hd, _ := hubc.Digest(bg, "North")
	if d, _ := n.Store.Digest(bg, "North"); d.Digest == hd.Digest {
		t.Fatal("damage did not change the edge's digest")
	}

	res, err := n.Integrity.Check(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Skipped != "" {
		t.Fatalf("check: %+v", res)
	}
	r := res[0]
	if !slices.Equal(r.Mismatched, want) || !slices.Equal(r.Repaired, want) {
		t.Errorf("mismatched %v, repaired %v; want exactly the damaged rows' buckets %v", r.Mismatched, r.Repaired, want)
	}
	if r.Removed != 1 {
		t.Errorf("removed %d rows, want the stray one", r.Removed)
	}
	// Only the damaged buckets travelled: their rows, not the zone's 41.
	hubRows := 0
	for _, b := range want {
		br, err := hubc.BucketRows(bg, "North", b, r.Cursor)
		if err != nil {
			t.Fatal(err)
		}
		hubRows += len(br.Rows)
	}
	if r.Replaced != hubRows || hubRows >= 20 {
		t.Errorf("replaced %d rows, want the %d rows of the damaged buckets", r.Replaced, hubRows)
	}
	hd, _ = hubc.Digest(bg, "North")
	if d, _ := n.Store.Digest(bg, "North"); d.Digest != hd.Digest || d.Rows != hd.Rows {
		t.Errorf("after repair: edge %+v, hub %+v", d, hd)
	}
	if got := counterSum(repairs); got != float64(len(want)) {
		t.Errorf("aiff_edge_integrity_repairs_total{zone=North} = %v, want %d", got, len(want))
	}
	before := counterSum(checks)
	if res, err = n.Integrity.Check(bg); err != nil || len(res[0].Mismatched) != 0 {
		t.Errorf("check after repair: %+v %v", res, err)
	}
	if counterSum(checks) != before+1 {
		t.Errorf("checks counter did not count the check")
	}
	// The repaired rows are served again by the edge's API.
	tk, err := n.Store.GetTicket(bg, corrupt)
	if err != nil || tk.Title != "Pump 03" {
		t.Errorf("repaired ticket: %+v %v", tk.Title, err)
	}
	if _, err := n.Store.GetTicket(bg, stray); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("stray ticket: %v, want not found", err)
	}
}

// counterSum is the sum of a counter collector's series.
func counterSum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 64)
	c.Collect(ch)
	close(ch)
	var sum float64
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			sum += d.GetCounter().GetValue()
		}
	}
	return sum
}

// seriesOf counts a collector's series.
func seriesOf(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	c.Collect(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	return n
}

// TestIntegrityWaitsForSyncToSettle: a due check waits while sync is still moving the
// replica (Busy), and runs once it settles, or after QuietWait if it never does.
func TestIntegrityWaitsForSyncToSettle(t *testing.T) {
	hub := newHubProc(t)
	if _, err := hub.store.CreateZone(bg, domain.Zone{Name: "North"}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := hub.store.CreateEdgeCredential(bg, syncstore.EdgeCredential{Name: "edge-north", Zones: []string{"North"}})
	if err != nil {
		t.Fatal(err)
	}
	n := edge.New(edge.Config{HubURL: hub.url(), Token: tok, DataDir: t.TempDir(), Addr: "127.0.0.1:0", Logger: testLogger(t),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, IntegrityInterval: -1})
	if err := n.Open(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(bg) })
	checkFor(t, 10*time.Second, "edge ready", func() bool { return n.Syncer.Status().Ready })

	run := func(quietWait time.Duration, busy *atomic.Bool) (prometheus.Collector, func()) {
		in := edge.NewIntegrity(n.Store, n.Client)
		in.Interval, in.QuietWait, in.Poll = time.Hour, quietWait, 20*time.Millisecond
		in.Ready = func() bool { return true }
		in.Busy = func(context.Context) bool { return busy.Load() }
		ctx, cancel := context.WithCancel(bg)
		done := make(chan struct{})
		go func() { defer close(done); in.Run(ctx) }()
		return in.Collectors()[0], func() { cancel(); <-done }
	}

	var busy atomic.Bool
	busy.Store(true)
	checks, stop := run(time.Minute, &busy)
	time.Sleep(300 * time.Millisecond)
	if c := counterSum(checks); c != 0 {
		t.Fatalf("%v checks while sync was busy", c)
	}
	busy.Store(false)
	checkFor(t, 5*time.Second, "the check once sync settled", func() bool { return counterSum(checks) == 1 })
	stop()

	var always atomic.Bool
	always.Store(true)
	start := time.Now()
	checks, stop = run(400*time.Millisecond, &always)
	defer stop()
	checkFor(t, 5*time.Second, "the check after QuietWait", func() bool { return counterSum(checks) == 1 })
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("checked %v after start, before QuietWait ran out", d)
	}
	// The node's own Busy: settled once the edge is at the hub's head with nothing to push.
	if n.Integrity.Busy(bg) {
		t.Errorf("a caught-up edge reports sync busy: %+v", n.Syncer.Status())
	}
}
