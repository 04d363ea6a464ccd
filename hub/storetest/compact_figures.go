package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// CompactFigures measures log compaction on a store from open (real clock): a 90-day history
// of tickets created and edited by an edge through PushChanges, the log's size (changes and
// their JSON bytes) before and after Compact with 30 days of retention, and the push rate of
// fresh 100-change batches (50 new tickets, 50 edits) on a second such store: alone, while Compact runs as the hub's
// background job does (duty 0.1), and after. It logs the
// figures (go test -v); BENCHMARKS.md quotes them.
func CompactFigures(t *testing.T, open func(t *testing.T) SyncStore, tickets, edits int) {
	ctx := context.Background()
	p := domain.Principal{Node: "edge-n", Zones: []string{"north"}}
	build := func() (SyncStore, []string) {
		s := open(t)
		if _, err := s.CreateZone(ctx, domain.Zone{Name: "north"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now().Add(-90 * 24 * time.Hour)
		step := 90 * 24 * time.Hour / time.Duration(tickets+edits)
		i := 0
		clock := &hlc.Clock{Node: "edge-n", Wall: func() time.Time { return start.Add(time.Duration(i) * step) }}
		rng := rand.New(rand.NewPCG(9, 9))
		var ids []string
		var batch []domain.Change
		flush := func() {
			if len(batch) == 0 {
				return
			}
			if _, err := s.PushChanges(ctx, p, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
		for ; i < tickets+edits; i++ {
			at := clock.Wall().UTC().Truncate(time.Microsecond)
			if i < tickets {
				tk, err := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("ticket %d", i), Zone: "north",
					Priority: domain.PriorityMedium, Description: "seeded", Location: "1 Main St", Skills: []string{"electric"}}, at)
				if err != nil {
					t.Fatal(err)
				}
				tk.ID = domain.NewID(at)
				patch, _ := domain.Diff(nil, tk)
				ids = append(ids, tk.ID)
				batch = append(batch, domain.Change{ID: domain.NewID(at), Origin: "edge-n", Actor: "seed", Entity: domain.EntityTicket,
					EntityID: tk.ID, Op: domain.OpUpsert, Zone: "north", Patch: patch, HLC: clock.Now().String(), At: at})
			} else {
				field, value := "title", fmt.Sprintf("title %d", i)
				if rng.IntN(2) == 0 {
					field, value = "description", fmt.Sprintf("note %d: %s", i, "customer called back")
				}
				v, _ := json.Marshal(value)
				batch = append(batch, domain.Change{ID: domain.NewID(at), Origin: "edge-n", Actor: "tech", Entity: domain.EntityTicket,
					EntityID: ids[rng.IntN(len(ids))], Op: domain.OpUpsert, Patch: map[string]json.RawMessage{field: v}, HLC: clock.Now().String(), At: at})
			}
			if len(batch) == 200 {
				flush()
			}
		}
		flush()
		return s, ids
	}
	size := func(s SyncStore) (n, bytes int) {
		for seq := int64(0); ; {
			page, err := s.ListChanges(ctx, seq, nil, 5000)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				return n, bytes
			}
			for _, c := range page {
				b, _ := json.Marshal(c)
				n, bytes = n+1, bytes+len(b)
			}
			seq = page[len(page)-1].Seq
		}
	}
	// A fresh batch is steady work, the same at any time: 50 new tickets and one edit of each
	// of the previous batch's (at first, of the seeded history's), so no row's history grows
	// with the length of the run and the rate before, during and after compaction compare.
	var recent []string
	fresh := func(ids []string) []domain.Change {
		if recent == nil {
			recent = ids[:50]
		}
		var out []domain.Change
		var made []string
		clock := hlc.NewClock("edge-n")
		for i := range 50 {
			at := time.Now().UTC().Truncate(time.Microsecond)
			tk, err := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("fresh %d", i), Zone: "north",
				Priority: domain.PriorityMedium, Description: "reported today", Location: "2 Main St", Skills: []string{"electric"}}, at)
			if err != nil {
				t.Fatal(err)
			}
			tk.ID = domain.NewID(at)
			patch, _ := domain.Diff(nil, tk)
			made = append(made, tk.ID)
			out = append(out, domain.Change{ID: domain.NewID(at), Origin: "edge-n", Actor: "tech", Entity: domain.EntityTicket,
				EntityID: tk.ID, Op: domain.OpUpsert, Zone: "north", Patch: patch, HLC: clock.Now().String(), At: at})
			v, _ := json.Marshal(fmt.Sprintf("fresh edit %d", i))
			out = append(out, domain.Change{ID: domain.NewID(at), Origin: "edge-n", Actor: "tech", Entity: domain.EntityTicket,
				EntityID: recent[i], Op: domain.OpUpsert, Patch: map[string]json.RawMessage{"title": v}, HLC: clock.Now().String(), At: at})
		}
		recent = made
		return out
	}
	// ingest pushes batches until stop is closed (or n batches without stop) and returns changes/s.
	ingest := func(s SyncStore, ids []string, n int, stop <-chan struct{}) (float64, int) {
		start := time.Now()
		done := 0
		for {
			if stop == nil && done == n {
				break
			}
			if stop != nil {
				select {
				case <-stop:
					return float64(done*100) / time.Since(start).Seconds(), done
				default:
				}
			}
			resp, err := s.PushChanges(ctx, p, fresh(ids))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Results[0].Status != wire.Accepted {
				t.Fatalf("fresh push: %+v", resp.Results[0])
			}
			done++
		}
		return float64(done*100) / time.Since(start).Seconds(), done
	}

	a, _ := build()
	n0, b0 := size(a)
	comp := a.(syncstore.Compactor)
	st, err := comp.Compact(ctx, time.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	n1, b1 := size(a)
	t.Logf("log before compaction: %d changes, %d bytes; after: %d changes, %d bytes (%.0f%% / %.0f%%); compact run: %+v",
		n0, b0, n1, b1, 100*float64(n1)/float64(n0), 100*float64(b1)/float64(b0), st)

	// Ingest on a store with an uncompacted history: alone, then during its compaction, then
	// alone again on the compacted log, all on the same store, so the baseline has the same
	// history, caches and table sizes as the run it is compared with.
	b, idsB := build()
	ingest(b, idsB, 20, nil) // warm the caches and the pool first: this run is not compared
	alone, _ := ingest(b, idsB, 40, nil)
	stop := make(chan struct{})
	var during float64
	var batches int
	doneIngest := make(chan struct{})
	go func() {
		defer close(doneIngest)
		during, batches = ingest(b, idsB, 0, stop)
	}()
	// As the hub's background job runs it: working at most a tenth of the time.
	stB, err := b.(syncstore.Compactor).Compact(syncstore.WithDuty(ctx, 0.1), time.Now().Add(-30*24*time.Hour))
	close(stop)
	<-doneIngest
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ingest(b, idsB, 40, nil)
	t.Logf("ingest before compaction: %.0f changes/s; while compacting (%d ms, %d batches): %.0f changes/s (%.0f%%)",
		alone, stB.Millis, batches, during, 100*during/alone)
	t.Logf("ingest after compaction, same store: %.0f changes/s (%.0f%% of before)", after, 100*after/alone)
}
