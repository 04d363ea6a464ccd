package storetest

import (
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// RowCacheStore is a hub store whose push keeps a cache of row merge states.
type RowCacheStore interface {
	SyncStore
	SyncRowCache() *syncstore.RowCache
}

// RunRowCache checks that the push path's row cache changes how fast a push runs and never
// what it decides: it is used when the row's log is as the cache left it, and any write that
// did not go through a push (an API write), a push that failed, or a compaction makes the
// next push read the row's log again and merge exactly as without a cache.
func RunRowCache(t *testing.T, open func(t *testing.T, now func() time.Time) RowCacheStore) {
	e := newSyncEnv(t, func(t *testing.T, now func() time.Time) SyncStore { return open(t, now) })
	cache := e.ss.(RowCacheStore).SyncRowCache()
	e.zone("north")
	tk := e.ticket("job", "north", domain.PriorityLow)
	accept := func(cs ...domain.Change) {
		t.Helper()
		for _, r := range e.push(e.p, cs...).Results {
			if r.Status != wire.Accepted {
				t.Fatalf("push: %+v", r)
			}
		}
	}
	hits0, _ := cache.Stats()
	e.clock.Advance(time.Second)
	first := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"description": "first"})
	accept(first)
	e.clock.Advance(time.Second)
	accept(e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"description": "second"}))
	if hits, _ := cache.Stats(); hits != hits0+1 {
		t.Errorf("second push of a row: %d cache hits, want 1 (the state the first push left)", hits-hits0)
	}
	e.checkMaterialized(domain.EntityTicket, tk.ID)

	// The edge edits the title having seen only its first edit; meanwhile a dispatcher
	// changes it on the hub. The cached state does not hold the hub's change: the push must
	// merge over the log, see the concurrent write and record the conflict.
	seen := first.HLC
	e.clock.Advance(time.Second)
	offline := e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"title": "edge title"})
	offline.Base = map[string]string{"title": seen, "status": seen}
	e.clock.Advance(time.Second)
	e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) { t.Title = "hub title"; return t, nil })
	hits1, misses1 := cache.Stats()
	accept(offline)
	if hits, misses := cache.Stats(); hits != hits1 || misses != misses1+1 {
		t.Errorf("push after an API write: %d hits, %d misses, want 0 and 1", hits-hits1, misses-misses1)
	}
	row := e.checkMaterialized(domain.EntityTicket, tk.ID)
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Title != "hub title" {
		t.Errorf("title %q, want the later hub title", got.Title)
	}
	page := must[domain.Page[syncstore.Conflict]](t)(e.ss.ListConflicts(e.ctx, syncstore.ConflictFilter{}))
	var titles []string
	for _, c := range page.Items {
		if c.Field == "title" {
			titles = append(titles, c.Change)
		}
	}
	if len(titles) != 1 || titles[0] != offline.ID || len(page.Items) != len(row.Conflicts) {
		t.Errorf("conflicts %+v (replay: %d), want the edge's title lost to the hub's", page.Items, len(row.Conflicts))
	}

	// A batch refused as a whole (a change outside the edge's scope) leaves no state behind.
	e.zone("south")
	other := e.ticket("elsewhere", "south", domain.PriorityLow)
	e.clock.Advance(time.Second)
	bad := []domain.Change{
		e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"description": "never"}),
		e.change(domain.EntityTicket, other.ID, domain.OpUpsert, map[string]any{"description": "forbidden"}),
	}
	if _, err := e.ss.PushChanges(e.ctx, e.p, bad); domain.ErrorCode(err) != domain.CodeForbidden {
		t.Fatalf("push outside the scope: %v, want forbidden", err)
	}
	e.clock.Advance(time.Second)
	accept(e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"description": "third"}))
	if got := must[domain.Ticket](t)(e.s.GetTicket(e.ctx, tk.ID)); got.Description != "third" {
		t.Errorf("description %q, want third", got.Description)
	}
	e.checkMaterialized(domain.EntityTicket, tk.ID)

	// Compaction rewrites the row's log in place: the cached state must not be used after it.
	comp, _ := compactorOf(t, e.ss)
	e.clock.Advance(time.Hour)
	if _, err := comp.Compact(e.ctx, e.clock.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	hits2, misses2 := cache.Stats()
	accept(e.change(domain.EntityTicket, tk.ID, domain.OpUpsert, map[string]any{"description": "after compaction"}))
	if hits, misses := cache.Stats(); hits != hits2 || misses != misses2+1 {
		t.Errorf("push after compaction: %d hits, %d misses, want 0 and 1", hits-hits2, misses-misses2)
	}
	e.checkMaterialized(domain.EntityTicket, tk.ID)
}
