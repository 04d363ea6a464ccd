package edge_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/snapshot"
)

// cutTransport cuts the bodies of snapshot responses at random byte offsets, cuts times in
// all, calling onCut after each (the hub may change in between).
type cutTransport struct {
	mu      sync.Mutex
	rng     *rand.Rand
	cuts    int // cuts left
	cut     int // cuts made
	partial int // 206 answers seen
	onCut   func()
}

func (c *cutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/api/sync/snapshot") || resp.StatusCode/100 != 2 {
		return resp, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.StatusCode == http.StatusPartialContent {
		c.partial++
	}
	if c.cuts == 0 {
		return resp, nil
	}
	// Read the whole answer, so the cut point is drawn within its real length.
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = &cutBody{rc: io.NopCloser(bytes.NewReader(b)), left: c.rng.Int64N(max(int64(len(b)), 1)), t: c}
	return resp, nil
}

type cutBody struct {
	rc   io.ReadCloser
	left int64
	t    *cutTransport
	done bool
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 && !b.done {
		b.done = true
		b.t.mu.Lock()
		b.t.cuts--
		b.t.cut++
		f := b.t.onCut
		b.t.mu.Unlock()
		if f != nil {
			f()
		}
	}
	if b.done {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cutBody) Close() error { return b.rc.Close() }

// bootstrapHub is a scope hub with n more tickets in North, so its snapshot has several
// chunks, and an edge credential for North.
func bootstrapHub(t *testing.T, n int) (*scopeHub, string) {
	t.Helper()
	h := newScopeHub(t)
	for i := range n {
		tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("Hydrant %d", i), Zone: "North"}, time.Now())
		if _, err := h.store.CreateTicket(bg, tk); err != nil {
			t.Fatal(err)
		}
	}
	_, tok, err := h.store.CreateEdgeCredential(bg, syncstore.EdgeCredential{Name: "boot", Zones: []string{"North"}})
	if err != nil {
		t.Fatal(err)
	}
	return h, tok
}

func openEdgeStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s := sqlite.NewStore(path)
	s.Node = "boot"
	if err := s.Open(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pullTail applies the hub's log from cursor to its head.
func pullTail(t *testing.T, c *client.Client, st *sqlite.Store, cursor int64) {
	t.Helper()
	for {
		p, err := c.Pull(bg, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ApplyRemote(bg, p.Changes, p.NextCursor); err != nil {
			t.Fatal(err)
		}
		cursor = p.NextCursor
		if !p.HasMore {
			return
		}
	}
}

func snapshotSize(t *testing.T, c *client.Client) int64 {
	t.Helper()
	b, err := c.Snapshot(bg, client.SnapshotQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n, err := io.Copy(io.Discard, b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBootstrapResumesAfterCuts downloads a snapshot of ~700 rows (several chunks) through a
// transport that cuts the stream at random byte offsets: resuming by HTTP Range while the
// hub's snapshot stays the same, by key when the hub changes between cuts, and after a
// restart of the edge store mid-download. Every run ends in the hub's state.
func TestBootstrapResumesAfterCuts(t *testing.T) {
	h, tok := bootstrapHub(t, 700)
	plain := client.New(h.url(), tok)
	if size := snapshotSize(t, plain); size < 200<<10 {
		t.Fatalf("the snapshot is %d bytes; the test wants several chunks", size)
	}
	opts := client.BootstrapOptions{MaxFailures: 30, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	for _, tc := range []struct {
		name    string
		seed    uint64
		changes bool // the hub writes after every cut: its snapshot changes, so resume by key
		restart bool // the first attempt gives up after one cut; a new store on the file resumes
	}{
		{"range", 1, false, false}, {"range", 2, false, false}, {"range", 3, false, false},
		{"key", 4, true, false}, {"key", 5, true, false},
		{"restart", 6, false, true},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.name, tc.seed), func(t *testing.T) {
			ct := &cutTransport{rng: rand.New(rand.NewPCG(tc.seed, 99)), cuts: 6}
			if tc.changes {
				var i atomic.Int32
				ct.onCut = func() {
					tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("Late %d", i.Add(1)), Zone: "North"}, time.Now())
					if _, err := h.store.CreateTicket(bg, tk); err != nil {
						t.Error(err)
					}
				}
			}
			c := client.New(h.url(), tok)
			c.HTTP = &http.Client{Transport: ct}
			path := filepath.Join(t.TempDir(), "edge.db")
			st := openEdgeStore(t, path)
			if tc.restart {
				o := opts
				o.MaxFailures = 1
				// A cut in the header leaves nothing to resume; make sure one chunk is in.
				ct.mu.Lock()
				ct.rng = rand.New(rand.NewPCG(tc.seed, 1))
				ct.mu.Unlock()
				for {
					if _, err := c.Bootstrap(bg, st, o); err == nil {
						t.Fatal("bootstrap survived a cut with MaxFailures 1")
					}
					if state, _ := st.BootstrapState(bg); state != nil && strings.Contains(string(state), `"chunks":`) &&
						!strings.Contains(string(state), `"chunks":0`) {
						break
					}
				}
				st.Close()
				st = openEdgeStore(t, path)
			}
			cursor, err := c.Bootstrap(bg, st, opts)
			if err != nil {
				t.Fatal(err)
			}
			ct.mu.Lock()
			cut, partial := ct.cut, ct.partial
			ct.mu.Unlock()
			if cut < 6 {
				t.Errorf("only %d cuts were made", cut)
			}
			if !tc.changes && partial == 0 {
				t.Error("no resume used an HTTP range")
			}
			if state, _ := st.BootstrapState(bg); state != nil {
				t.Errorf("bootstrap state left after the switch: %s", state)
			}
			if got, _ := st.Cursor(bg); got != cursor {
				t.Errorf("cursor %d, bootstrap said %d", got, cursor)
			}
			pullTail(t, plain, st, cursor)
			want, err := plain.Digest(bg, "North")
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.Digest(bg, "North")
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != want.Digest || got.Rows != want.Rows {
				t.Fatalf("edge digest %s (%d rows) after %d cuts (%d ranges), hub %s (%d rows)", got.Digest, got.Rows, cut, partial, want.Digest, want.Rows)
			}
		})
	}
}

// TestBootstrapServesOldStateAndCarriesEdits re-bootstraps an edge that has state and
// unsynced local edits: during the download every read answers from the old state (checked
// after each chunk, and by a reader polling throughout, which must see the old state and then
// the new one, never back), the switch brings the hub's changes (an update, a delete), and
// the local edits stay visible and pending and reach the hub afterwards.
func TestBootstrapServesOldStateAndCarriesEdits(t *testing.T) {
	h, tok := bootstrapHub(t, 600)
	c := client.New(h.url(), tok)
	st := openEdgeStore(t, filepath.Join(t.TempDir(), "edge.db"))
	if _, err := c.Bootstrap(bg, st, client.BootstrapOptions{}); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListTickets(bg, domain.TicketFilter{Limit: 3})
	if err != nil || len(page.Items) != 3 {
		t.Fatalf("edge tickets: %v %v", page, err)
	}
	x, y, z := page.Items[0], page.Items[1], page.Items[2]
	// The hub moves on: x renamed, y deleted.
	if _, err := h.store.UpdateTicket(bg, x.ID, func(tk domain.Ticket) (domain.Ticket, error) { tk.Title = "renamed on the hub"; return tk, nil }); err != nil {
		t.Fatal(err)
	}
	if err := h.store.DeleteTicket(bg, y.ID); err != nil {
		t.Fatal(err)
	}
	// The edge edits offline: z renamed, a new ticket.
	if _, err := st.UpdateTicket(bg, z.ID, func(tk domain.Ticket) (domain.Ticket, error) { tk.Title = "renamed on the edge"; return tk, nil }); err != nil {
		t.Fatal(err)
	}
	nt, _ := domain.NewTicket(domain.NewTicketInput{Title: "Made on the edge", Zone: "North"}, time.Now())
	created, err := st.CreateTicket(bg, nt)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var seen []string // x's title as a poller saw it
	lastSeen := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return ""
		}
		return seen[len(seen)-1]
	}
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if tk, err := st.GetTicket(bg, x.ID); err == nil && lastSeen() != tk.Title {
				mu.Lock()
				seen = append(seen, tk.Title)
				mu.Unlock()
			}
		}
	}()
	chunks := 0
	cursor, err := c.Bootstrap(bg, st, client.BootstrapOptions{StageRows: 1, OnChunk: func(snapshot.Checkpoint) {
		chunks++
		if tk, err := st.GetTicket(bg, x.ID); err != nil || tk.Title != x.Title {
			t.Errorf("during the download x reads %q, %v; want the old %q", tk.Title, err, x.Title)
		}
		if _, err := st.GetTicket(bg, y.ID); err != nil {
			t.Errorf("during the download y (deleted on the hub) must still read from the old state: %v", err)
		}
		if tk, err := st.GetTicket(bg, z.ID); err != nil || tk.Title != "renamed on the edge" {
			t.Errorf("during the download z reads %q, %v", tk.Title, err)
		}
	}})
	if err != nil {
		close(stop)
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, "the poller to see the switch", func() bool { return lastSeen() == "renamed on the hub" })
	close(stop)
	<-polled
	if chunks < 3 {
		t.Errorf("the snapshot came in %d chunks; the test wants several", chunks)
	}
	if len(seen) == 0 || len(seen) > 2 || seen[0] != x.Title || seen[len(seen)-1] != "renamed on the hub" {
		t.Errorf("a reader saw x's title go %q; want the old title, then the new one", seen)
	}
	if tk, err := st.GetTicket(bg, x.ID); err != nil || tk.Title != "renamed on the hub" {
		t.Errorf("after the switch x reads %q, %v", tk.Title, err)
	}
	if _, err := st.GetTicket(bg, y.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("after the switch y (deleted on the hub) reads %v", err)
	}
	if tk, err := st.GetTicket(bg, z.ID); err != nil || tk.Title != "renamed on the edge" {
		t.Errorf("the pending edit was lost in the switch: %q, %v", tk.Title, err)
	}
	if _, err := st.GetTicket(bg, created.ID); err != nil {
		t.Errorf("the ticket made on the edge was lost in the switch: %v", err)
	}
	stats, _ := st.Stats(bg)
	if stats.Pending != 2 || stats.Cursor != cursor {
		t.Errorf("after the switch: %+v, want 2 pending at cursor %d", stats, cursor)
	}
	sy := &client.Syncer{Client: c, Node: st.Node, Outbox: st, Replica: st}
	if n, err := sy.PushOnce(bg); err != nil || n != 2 {
		t.Fatalf("push the carried edits: %d, %v", n, err)
	}
	if tk, err := h.store.GetTicket(bg, z.ID); err != nil || tk.Title != "renamed on the edge" {
		t.Errorf("hub z: %q, %v", tk.Title, err)
	}
	if _, err := h.store.GetTicket(bg, created.ID); err != nil {
		t.Errorf("hub lacks the edge's ticket: %v", err)
	}
	pullTail(t, c, st, cursor)
	want, _ := c.Digest(bg, "North")
	got, _ := st.Digest(bg, "North")
	if got.Digest != want.Digest {
		t.Errorf("edge digest %+v, hub %+v", got, want)
	}
}
