package syncstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/gctune"
	"github.com/aiff/aiff/hub/procstat"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/wire"
)

// memStore is a hub store in memory, enough of one for Push: typed rows, the log and a row
// cache. BenchmarkPush uses it to measure Push's own CPU, which the store benchmarks
// (hub/postgres BenchmarkSyncIngest) mix with the database's.
type memStore struct {
	rows   map[RowKey]any
	log    []domain.Change // seq i+1 at index i
	byRow  map[RowKey][]int
	known  map[string]int64
	zones  map[string]bool
	number int64
	cache  *RowCache
}

func newMemStore(zones ...string) *memStore {
	s := &memStore{rows: map[RowKey]any{}, byRow: map[RowKey][]int{}, known: map[string]int64{}, zones: map[string]bool{},
		cache: NewRowCache(DefaultRowCacheSize)}
	for _, z := range zones {
		s.zones[z] = true
	}
	return s
}

// push runs Push in a memTx and its after-commit hooks, as a store's PushChanges does.
func (s *memStore) push(ctx context.Context, clock *hlc.Clock, p domain.Principal, changes []domain.Change) (wire.PushResponse, error) {
	tx := &memTx{s: s}
	resp, err := Push(ctx, tx, clock, time.Now().UTC(), p, changes)
	if err == nil {
		for _, fn := range tx.after {
			fn()
		}
	}
	return resp, err
}

type memTx struct {
	s     *memStore
	after []func()
}

func (t *memTx) KnownChanges(_ context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, id := range ids {
		if seq, ok := t.s.known[id]; ok {
			out[id] = seq
		}
	}
	return out, nil
}

func (t *memTx) LoggedClocks(_ context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		if seq, ok := t.s.known[id]; ok {
			out[id] = t.s.log[seq-1].HLC
		}
	}
	return out, nil
}

func (t *memTx) LockRows(_ context.Context, keys []RowKey) (map[RowKey]any, error) {
	out := make(map[RowKey]any, len(keys))
	for _, k := range keys {
		if r, ok := t.s.rows[k]; ok {
			out[k] = r
		}
	}
	return out, nil
}

func (t *memTx) RowChanges(_ context.Context, keys []RowKey) (map[RowKey][]domain.Change, error) {
	out := map[RowKey][]domain.Change{}
	for _, k := range keys {
		for _, i := range t.s.byRow[k] {
			out[k] = append(out[k], t.s.log[i])
		}
	}
	return out, nil
}

func (t *memTx) ZoneExists(_ context.Context, name string) (bool, error) { return t.s.zones[name], nil }

func (t *memTx) Team(_ context.Context, id string) (domain.Team, bool, error) {
	tm, ok := t.s.rows[RowKey{domain.EntityTeam, id}].(domain.Team)
	return tm, ok && tm.DeletedAt == nil, nil
}

func (t *memTx) TakeTicketNumbers(_ context.Context, n int) ([]int64, error) {
	out := make([]int64, n)
	for i := range out {
		t.s.number++
		out[i] = t.s.number
	}
	return out, nil
}

func (t *memTx) TicketNotes(context.Context, string) ([]string, error) { return nil, nil }

func (t *memTx) Write(_ context.Context, w *Write) (int64, error) {
	for _, p := range w.Rows {
		t.s.rows[p.Key] = p.Row
	}
	for i := range w.Changes {
		c := &w.Changes[i]
		c.Seq = int64(len(t.s.log) + 1)
		k := RowKey{c.Entity, c.EntityID}
		t.s.byRow[k] = append(t.s.byRow[k], len(t.s.log))
		t.s.known[c.ID] = c.Seq
		t.s.log = append(t.s.log, *c)
	}
	return int64(len(t.s.log)), nil
}

func (t *memTx) RowCache() *RowCache { return t.s.cache }

func (t *memTx) RowStamps(_ context.Context, keys []RowKey) (map[RowKey]RowStamp, error) {
	out := map[RowKey]RowStamp{}
	for _, k := range keys {
		if idx := t.s.byRow[k]; len(idx) > 0 {
			out[k] = RowStamp{MaxSeq: int64(idx[len(idx)-1] + 1), Count: int64(len(idx))}
		}
	}
	return out, nil
}

func (t *memTx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// BenchmarkPush measures Push's CPU per change without a database: batches of 1000 changes
// from one edge, as in hub/postgres's BenchmarkSyncIngest (500 ticket creates, each
// numbered by the hub, and 500 one-field edits of the previous batch's tickets):
//
//	go test ./sync/server/syncstore -run '^$' -bench Push -benchmem
func BenchmarkPush(b *testing.B) {
	gctune.Apply(os.Getenv) // the collector settings the aiff binary runs with
	const per = 1000
	ctx := context.Background()
	zone, node := "zone-1", "edge-bench"
	p := domain.Principal{Node: node, Zones: []string{zone}}
	s, hub, edge := newMemStore(zone), hlc.NewClock(domain.HubOrigin), hlc.NewClock(node)
	var prev []domain.Change // the previous batch's creates
	batch := func(i int) []domain.Change {
		now := time.Now().UTC().Truncate(time.Microsecond)
		cs := make([]domain.Change, 0, per)
		for j := range per / 2 {
			tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("bench %d/%d", i, j), Zone: zone,
				Description: "a pole is down at the corner", Location: "1 Main St", Skills: []string{"electric"}}, now)
			tk.ID = domain.NewID(now)
			patch, _ := domain.Diff(nil, tk)
			cs = append(cs, domain.Change{ID: domain.NewID(now), Origin: node, Actor: "tech", Entity: domain.EntityTicket,
				EntityID: tk.ID, Op: domain.OpUpsert, Zone: zone, Patch: patch, HLC: edge.Now().String(), At: now})
		}
		targets := prev
		if targets == nil {
			targets = cs
		}
		prev = append([]domain.Change(nil), cs...)
		for j := range per / 2 {
			title, _ := json.Marshal(fmt.Sprintf("edited %d/%d", i, j))
			cs = append(cs, domain.Change{ID: domain.NewID(now), Origin: node, Actor: "tech", Entity: domain.EntityTicket,
				EntityID: targets[j].EntityID, Op: domain.OpUpsert, Zone: zone, HLC: edge.Now().String(), At: now,
				Patch: map[string]json.RawMessage{"title": title}, Base: map[string]string{"title": targets[j].HLC}})
		}
		return cs
	}
	batches := make([][]domain.Change, b.N)
	for i := range batches {
		batches[i] = batch(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, _ := procstat.CPU()
	for _, cs := range batches {
		resp, err := s.push(ctx, hub, p, cs)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range resp.Results {
			if r.Status != wire.Accepted {
				b.Fatalf("push result %+v", r)
			}
		}
	}
	// CPU time (the collector's included) is steadier than wall time on a shared machine.
	cpu1, _ := procstat.CPU()
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N*per), "cpu-ns/change")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/change")
	b.StopTimer()
}
