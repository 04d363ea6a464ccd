package simulation

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aiff/aiff/domain"
	edgesqlite "github.com/aiff/aiff/edge/sqlite"
	hubsqlite "github.com/aiff/aiff/hub/sqlite"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// HubStore is the hub store as the simulation drives it: the API store and its sync side.
type HubStore interface {
	domain.Store
	syncstore.Store
}

// hubNode is the hub: a real hub/sqlite store on a file, restartable from a crash image.
type hubNode struct {
	dir     string
	path    string
	now     func() time.Time
	store   HubStore
	sync    *server.Handler // the sync module, closed before its store
	handler http.Handler
	gen     int // restarts so far
}

func (h *hubNode) open(ctx context.Context) error {
	s := hubsqlite.NewStore(h.path)
	s.Now = h.now
	clock := hlc.NewClock(domain.HubOrigin)
	clock.Wall = h.now
	s.Clock = clock
	if err := s.Open(ctx); err != nil {
		return fmt.Errorf("open hub store: %w", err)
	}
	h.store = s
	return nil
}

// crash restarts the hub from a copy of its files taken now: what a kill -9 leaves on disk
// (every committed transaction is in the database or its WAL), then the old process is gone.
func (h *hubNode) crash(ctx context.Context) error {
	h.gen++
	dst := filepath.Join(h.dir, fmt.Sprintf("hub-%d", h.gen))
	next, err := crashImage(h.path, dst)
	if err != nil {
		return err
	}
	h.sync.Close() // the old process; its files are no longer used
	h.sync = nil
	h.store.Close()
	h.path = next
	return h.open(ctx)
}

// edgeNode is one edge: its real edge/sqlite store on a file, a sync client whose transport
// is the in-process hub, and what the oracle needs to remember about it.
type edgeNode struct {
	name  string
	zones []string
	token string
	dir   string
	path  string
	gen   int

	skew time.Duration // added to simulated time for this edge's wall clock
	now  func() time.Time

	tr     *transport
	client *client.Client
	syncer *client.Syncer
	store  *edgesqlite.Store

	partitionLeft int // steps until the partition heals; 0 = connected

	// seen holds every change id this edge made that a user was told succeeded, in order.
	seen  map[string]bool
	acked []string
	// pages are recent pulled pages, replayed by the nemesis.
	pages []pulledPage
}

type pulledPage struct {
	changes []domain.Change
	cursor  int64
}

func (e *edgeNode) open(ctx context.Context) error {
	s := edgesqlite.NewStore(e.path)
	s.Node = e.name
	s.Now = e.now
	if err := s.Open(ctx); err != nil {
		return fmt.Errorf("open edge %s: %w", e.name, err)
	}
	e.store = s
	e.syncer = &client.Syncer{Client: e.client, Node: e.name, Outbox: s, Replica: s, BatchSize: 50, PullLimit: 50}
	return nil
}

// crash restarts the edge from a copy of its files taken now (a kill -9 image).
func (e *edgeNode) crash(ctx context.Context) error {
	e.gen++
	dst := filepath.Join(e.dir, fmt.Sprintf("gen-%d", e.gen))
	next, err := crashImage(e.path, dst)
	if err != nil {
		return err
	}
	e.store.Close()
	e.path = next
	return e.open(ctx)
}

// recordWrites notes the outbox entries a successful local write added: they were
// acknowledged to the user, so invariant 1 applies to them.
func (e *edgeNode) recordWrites(ctx context.Context) error {
	pending, err := e.store.Pending(ctx, 1<<30)
	if err != nil {
		return err
	}
	for _, c := range pending {
		if !e.seen[c.ID] {
			e.seen[c.ID] = true
			e.acked = append(e.acked, c.ID)
		}
	}
	return nil
}

// crashImage copies a SQLite database and its WAL and shared-memory files (those that exist)
// into dir and returns the copy's path. Taken between two transactions of a single-goroutine
// simulation, it is exactly what a kill -9 at that instant leaves behind.
func crashImage(path, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("crash image: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := copyFile(path+suffix, dst+suffix); err != nil {
			if os.IsNotExist(err) && suffix != "" {
				continue
			}
			return "", fmt.Errorf("crash image: %w", err)
		}
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pushOnce pushes one batch through the real syncer (client.Syncer.PushOnce).
func (e *edgeNode) pushOnce(ctx context.Context) (int, error) {
	return e.syncer.PushOnce(ctx)
}

// pullOnce pulls one page from the edge's stored cursor and applies it with the cursor in one
// transaction, like the syncer's catch-up (which is not exported step-wise). A cursor beyond
// the hub's log resets the replica, as the syncer does. mangle, if set, rewrites the page's
// changes before they are applied (the nemesis reorders and repeats them).
func (e *edgeNode) pullOnce(ctx context.Context, mangle func([]domain.Change) []domain.Change) (*wire.PullResponse, error) {
	cur, err := e.store.Cursor(ctx)
	if err != nil {
		return nil, err
	}
	page, err := e.client.Pull(ctx, cur, e.syncer.PullLimit)
	if ce, ok := err.(*client.Error); ok && ce.Status == 400 && ce.Field == "cursor" && cur > 0 {
		return nil, e.store.Reset(ctx)
	}
	if err != nil {
		return nil, err
	}
	changes := page.Changes
	if mangle != nil {
		changes = mangle(changes)
	}
	if len(changes) > 0 || page.NextCursor > cur {
		if err := e.store.ApplyRemote(ctx, changes, page.NextCursor); err != nil {
			return nil, fmt.Errorf("apply pulled page: %w", err)
		}
	}
	if len(page.Changes) > 0 {
		e.pages = append(e.pages, pulledPage{page.Changes, page.NextCursor})
		if len(e.pages) > 8 {
			e.pages = e.pages[1:]
		}
	}
	return page, nil
}
