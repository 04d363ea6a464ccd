package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/wire"
)

// checkFor polls cond until it holds or the deadline passes.
func checkFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type world struct {
	hub    *fakeHub
	clock  *hlc.Clock
	ticket domain.Ticket
}

func (w *world) hubChange(t testing.TB, entity domain.Entity, id, zone string, before, after any) domain.Change {
	t.Helper()
	patch, err := domain.Diff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	delete(patch, "deleted_at")
	return domain.Change{ID: domain.NewID(time.Now()), Origin: domain.HubOrigin, Actor: "system", Entity: entity,
		EntityID: id, Op: domain.OpUpsert, Zone: zone, Patch: patch, HLC: w.clock.Now().String(), At: time.Now().UTC().Truncate(time.Microsecond)}
}

func newWorld(t *testing.T) *world {
	w := &world{hub: newFakeHub(t), clock: hlc.NewClock(domain.HubOrigin)}
	now := time.Now().UTC().Truncate(time.Microsecond)
	z := domain.Zone{ID: domain.NewID(now), Name: "North", CreatedAt: now}
	tk, err := domain.NewTicket(domain.NewTicketInput{Title: "Broken pump", Zone: "North"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tk.ID, tk.Number = domain.NewID(now), domain.TicketNumber(1)
	w.ticket = tk
	w.hub.commit(w.hubChange(t, domain.EntityZone, z.ID, z.Name, nil, z), w.hubChange(t, domain.EntityTicket, tk.ID, tk.Zone, nil, tk))
	return w
}

// edge starts a store and a syncer against the world's hub; both stop at test end.
func (w *world) edge(t *testing.T, node string) (*sqlite.Store, *client.Syncer) {
	return w.edgeWith(t, node, nil)
}

// edgeWith is edge with the syncer changed by configure (if not nil) before it runs.
func (w *world) edgeWith(t *testing.T, node string, configure func(*client.Syncer)) (*sqlite.Store, *client.Syncer) {
	s := sqlite.NewStore(filepath.Join(t.TempDir(), node+".db"))
	s.Node = node
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := client.New(w.hub.srv.URL, "token")
	sy := &client.Syncer{Client: c, Node: node, Outbox: s, Replica: s, MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, PullLimit: 100}
	if configure != nil {
		configure(sy)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sy.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s, sy
}

func (w *world) head() int64 {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return int64(len(w.hub.log))
}

func cursorIs(s *sqlite.Store, want int64) func() bool {
	return func() bool { c, _ := s.Cursor(context.Background()); return c == want }
}

func pendingIs(s *sqlite.Store, want int) func() bool {
	return func() bool { st, _ := s.Stats(context.Background()); return st.Pending == want }
}

func retitle(t *testing.T, s *sqlite.Store, sy *client.Syncer, id, title string) {
	t.Helper()
	if _, err := s.UpdateTicket(context.Background(), id, func(tk domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{Title: domain.Some(title)}.Apply(tk, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	sy.Notify()
}

func TestSyncerPushesAndStreams(t *testing.T) {
	w := newWorld(t)
	a, sya := w.edge(t, "edge-a")
	b, syb := w.edge(t, "edge-b")
	checkFor(t, 5*time.Second, "catch-up", func() bool {
		return cursorIs(a, 2)() && cursorIs(b, 2)() && sya.Status().Ready && syb.Status().Ready
	})

	retitle(t, a, sya, w.ticket.ID, "from a")
	checkFor(t, 5*time.Second, "a's change on b", func() bool {
		tk, err := b.GetTicket(context.Background(), w.ticket.ID)
		return err == nil && tk.Title == "from a"
	})
	checkFor(t, 5*time.Second, "a's outbox empty", pendingIs(a, 0))
	checkFor(t, 5*time.Second, "cursors at head", func() bool { return cursorIs(a, 3)() && cursorIs(b, 3)() })
	da, _ := a.Digest(context.Background(), "North")
	db, _ := b.Digest(context.Background(), "North")
	if da.Digest != db.Digest {
		t.Errorf("digests differ: %+v %+v", da, db)
	}
	if st := syb.Status(); st.Applied < 3 || !st.Ready || st.HubCursor != 3 {
		t.Errorf("b status = %+v", st)
	}
}

func TestPushRetriesWithoutDuplicates(t *testing.T) {
	w := newWorld(t)
	w.hub.mu.Lock()
	w.hub.failPushes, w.hub.loseAnswer = 2, 1
	w.hub.mu.Unlock()
	a, sya := w.edge(t, "edge-a")
	checkFor(t, 5*time.Second, "catch-up", cursorIs(a, 2))
	for i := range 5 {
		retitle(t, a, sya, w.ticket.ID, "v"+string(rune('0'+i)))
	}
	checkFor(t, 10*time.Second, "outbox drained", pendingIs(a, 0))
	// The lost answer's changes can come back by stream, emptying the outbox, before the push
	// loop has read that answer and counted the error.
	checkFor(t, 5*time.Second, "three push errors", func() bool { return sya.Status().PushErrors >= 3 })
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	seen := map[string]int{}
	for _, c := range w.hub.log {
		seen[c.ID]++
		if seen[c.ID] > 1 {
			t.Errorf("change %s twice in the hub log", c.ID)
		}
	}
	if len(w.hub.log) != 7 {
		t.Errorf("hub log has %d changes, want 7", len(w.hub.log))
	}
	// 2 refused, 1 committed with a lost answer (its changes may then arrive by stream
	// before the retry), so at least 3.
	if w.hub.pushes < 3 {
		t.Errorf("pushes = %d; the failures were not retried", w.hub.pushes)
	}
}

func TestBadChangesNeverBlock(t *testing.T) {
	w := newWorld(t)
	w.hub.mu.Lock()
	title := func(c domain.Change) string { return string(c.Patch["title"]) }
	w.hub.reject = func(c domain.Change) string {
		if strings.Contains(title(c), "bad") {
			return "no bad titles"
		}
		return ""
	}
	w.hub.refuse = func(c domain.Change) bool { return strings.Contains(title(c), "refuse") }
	w.hub.mu.Unlock()
	a, sya := w.edge(t, "edge-a")
	checkFor(t, 5*time.Second, "catch-up", cursorIs(a, 2))
	// Write while the push loop is busy, so the four land in one batch.
	for _, s := range []string{"ok one", "bad", "refuse", "ok two"} {
		if _, err := a.UpdateTicket(context.Background(), w.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) {
			return domain.TicketPatch{Title: domain.Some(s)}.Apply(tk, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	sya.Notify()
	checkFor(t, 5*time.Second, "outbox settled", pendingIs(a, 0))
	st, _ := a.Stats(context.Background())
	if st.Dead != 2 {
		t.Errorf("dead = %d, want 2", st.Dead)
	}
	dl, _ := a.DeadLetters(context.Background(), 10)
	var reasons []string
	for _, d := range dl {
		reasons = append(reasons, d.Reason)
	}
	if len(dl) != 2 || dl[0].Reason != "no bad titles" || dl[1].Reason != "refused change" {
		t.Errorf("dead letters: %q", reasons)
	}
	checkFor(t, 5*time.Second, "good changes back from the hub", cursorIs(a, 4))
	tk, _ := a.GetTicket(context.Background(), w.ticket.ID)
	if tk.Title != "ok two" {
		t.Errorf("title = %q", tk.Title)
	}
}

func TestStreamResumesFromCursor(t *testing.T) {
	w := newWorld(t)
	a, sya := w.edge(t, "edge-a")
	checkFor(t, 5*time.Second, "ready", func() bool { return sya.Status().Ready })
	prev := w.ticket
	for round := range 3 {
		w.hub.dropStreams()
		for i := range 40 {
			next := prev
			next.Description = "round " + string(rune('0'+round)) + " edit " + string(rune('A'+i))
			w.hub.commit(w.hubChange(t, domain.EntityTicket, prev.ID, "North", prev, next))
			prev = next
		}
	}
	checkFor(t, 10*time.Second, "caught up", cursorIs(a, w.head()))
	tk, _ := a.GetTicket(context.Background(), w.ticket.ID)
	if tk.Description != prev.Description {
		t.Errorf("description = %q, want %q", tk.Description, prev.Description)
	}
	if st := sya.Status(); st.Applied != w.head() {
		// Every change applied exactly once across reconnects (no repeats, no gaps).
		t.Errorf("applied %d changes, log has %d", st.Applied, w.head())
	}
}

func TestClientErrors(t *testing.T) {
	w := newWorld(t)
	c := client.New(w.hub.srv.URL, "token")
	_, err := c.Pull(context.Background(), 99, 10)
	if client.Retryable(err) || domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("pull beyond head: %v (retryable %v)", err, client.Retryable(err))
	}
	dead := client.New("http://127.0.0.1:1", "token")
	_, err = dead.Pull(context.Background(), 0, 10)
	if !client.Retryable(err) {
		t.Errorf("unreachable hub: %v not retryable", err)
	}
	w.hub.mu.Lock()
	w.hub.failPushes = 1
	w.hub.mu.Unlock()
	zid := domain.NewID(time.Now())
	_, err = c.Push(context.Background(), "edge-a", []domain.Change{w.hubChange(t, domain.EntityZone, zid, "X", nil, domain.Zone{ID: zid, Name: "X"})})
	if !client.Retryable(err) || domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("503: %v", err)
	}
	var b client.Backoff
	for range 10 {
		if d := b.Next(); d > 30*time.Second || d < 500*time.Millisecond {
			t.Errorf("backoff %s out of bounds", d)
		}
	}
}

// blockingHandler records what Stream hands it; its first Changes call waits for release.
type blockingHandler struct {
	ready   chan struct{}
	release chan struct{}
	first   sync.Once

	mu     sync.Mutex
	calls  int
	seqs   []int64
	cursor int64
}

func (h *blockingHandler) Changes(ctx context.Context, f *wire.FrameChanges) error {
	h.first.Do(func() { <-h.release })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	for _, c := range f.Changes {
		h.seqs = append(h.seqs, c.Seq)
	}
	h.cursor = f.Cursor
	return nil
}

func (h *blockingHandler) Ready(ctx context.Context, f *wire.FrameReady) error {
	close(h.ready)
	return nil
}

func (h *blockingHandler) Heartbeat(ctx context.Context, f *wire.FrameHeartbeat) error { return nil }

// TestStreamCoalescesWaitingFrames holds the handler on the first changes frame of a burst
// while the hub sends more, and checks that the frames waiting by then reach the handler
// joined (fewer calls than frames), with every change exactly once, in log order, and the
// last frame's cursor.
func TestStreamCoalescesWaitingFrames(t *testing.T) {
	w := newWorld(t)
	start := w.head()
	h := &blockingHandler{ready: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.New(w.hub.srv.URL, "token").Stream(ctx, start, 0, h) }()
	<-h.ready
	prev := w.ticket
	const commits, perCommit = 10, 100 // the fake hub sends a frame per commit (at most 100 changes)
	for range commits {
		var cs []domain.Change
		for i := range perCommit {
			next := prev
			next.Description = fmt.Sprint("edit ", i)
			cs = append(cs, w.hubChange(t, domain.EntityTicket, prev.ID, "North", prev, next))
			prev = next
		}
		w.hub.commit(cs...)
	}
	time.Sleep(300 * time.Millisecond) // the frames reach the client and wait
	close(h.release)
	checkFor(t, 10*time.Second, "all changes handled", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.cursor == w.head()
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("stream ended with %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seqs) != commits*perCommit {
		t.Fatalf("handled %d changes, want %d", len(h.seqs), commits*perCommit)
	}
	for i, s := range h.seqs {
		if s != start+int64(i)+1 {
			t.Fatalf("change %d has seq %d, want %d", i, s, start+int64(i)+1)
		}
	}
	if h.calls >= commits {
		t.Errorf("%d frames reached the handler in %d calls: waiting frames were not joined", commits, h.calls)
	}
	t.Logf("%d frames in %d handler calls", commits, h.calls)
}

// backlog makes the edits patches of the world's ticket on edge a while the hub refuses
// every push, then lets pushes through (back, if not nil, sets more hooks under the hub's
// lock, given the number of pushes so far), wakes the edge and waits for its outbox to
// settle. It returns that number of pushes.
func (w *world) backlog(t *testing.T, a *sqlite.Store, sy *client.Syncer, patches []domain.TicketPatch, back func(base int)) int {
	t.Helper()
	w.hub.mu.Lock()
	w.hub.failPushes = 1 << 30
	w.hub.mu.Unlock()
	for _, p := range patches {
		if _, err := a.UpdateTicket(context.Background(), w.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) {
			return p.Apply(tk, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	w.hub.mu.Lock()
	base := w.hub.pushes
	w.hub.failPushes = 0
	if back != nil {
		back(base)
	}
	w.hub.mu.Unlock()
	sy.Notify()
	checkFor(t, 10*time.Second, "outbox settled", pendingIs(a, 0))
	return base
}

// TestDrainKeepsOrderThroughFaults pushes a backlog of many batches through the pipelined
// push loop (the next batch read, and the last answer recorded, while a push is in flight)
// with an answer lost, a push failed and a batch refused along the way: every change reaches
// the hub exactly once and in the order it was made, except the refused one, which is
// dead-lettered without holding up the changes behind it.
func TestDrainKeepsOrderThroughFaults(t *testing.T) {
	w := newWorld(t)
	w.hub.mu.Lock()
	w.hub.refuse = func(c domain.Change) bool { return strings.Contains(string(c.Patch["title"]), "refuse") }
	w.hub.mu.Unlock()
	a, sya := w.edgeWith(t, "edge-a", func(sy *client.Syncer) { sy.BatchSize = 10 })
	checkFor(t, 5*time.Second, "catch-up", cursorIs(a, 2))
	const edits = 95
	var patches []domain.TicketPatch
	for i := range edits {
		title := fmt.Sprintf("edit %02d", i)
		if i == 47 {
			title = "refuse me"
		}
		patches = append(patches, domain.TicketPatch{Title: domain.Some(title)})
	}
	base := w.backlog(t, a, sya, patches, func(base int) {
		w.hub.fault = func(push int) string {
			switch push - base {
			case 2:
				return "fail"
			case 4:
				return "lose"
			}
			return ""
		}
	})

	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	var got []string
	seen := map[string]bool{}
	for _, c := range w.hub.log {
		if c.Origin != "edge-a" {
			continue
		}
		if seen[c.ID] {
			t.Errorf("change %s twice in the hub log", c.ID)
		}
		seen[c.ID] = true
		got = append(got, string(c.Patch["title"]))
	}
	var want []string
	for i := range edits {
		if i != 47 {
			want = append(want, fmt.Sprintf("%q", fmt.Sprintf("edit %02d", i)))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("edge changes in the hub log:\n got %v\nwant %v", got, want)
	}
	if st, _ := a.Stats(context.Background()); st.Dead != 1 {
		t.Errorf("dead = %d, want the refused change alone", st.Dead)
	}
	if pushes := w.hub.pushes - base; pushes < edits/10+2 {
		t.Errorf("%d pushes after the outage; want at least a batch of 10 each plus the two failures", pushes)
	}
}

// TestPushHalvesWhatTheHubFindsTooLarge: a batch the hub refuses as too large (413) is sent
// in halves until the hub takes it, not one change at a time, and nothing is dead-lettered;
// a single change too large for a frame is, with the reason, and the changes behind it go.
func TestPushHalvesWhatTheHubFindsTooLarge(t *testing.T) {
	w := newWorld(t)
	w.hub.mu.Lock()
	w.hub.maxChanges = 8
	w.hub.mu.Unlock()
	a, sya := w.edgeWith(t, "edge-a", func(sy *client.Syncer) { sy.Client.Limits.MaxFrameBytes = 4 << 10 })
	checkFor(t, 5*time.Second, "catch-up", cursorIs(a, 2))
	var patches []domain.TicketPatch
	for i := range 300 {
		patch := domain.TicketPatch{Title: domain.Some(fmt.Sprintf("edit %03d", i))}
		if i == 150 {
			patch = domain.TicketPatch{Description: domain.Some(strings.Repeat("x", 5000))} // over 4 KiB on its own
		}
		patches = append(patches, patch)
	}
	base := w.backlog(t, a, sya, patches, nil)

	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	var got []string
	for _, c := range w.hub.log[2:] {
		got = append(got, string(c.Patch["title"]))
	}
	if len(got) != 299 || got[0] != `"edit 000"` || got[149] != `"edit 149"` || got[150] != `"edit 151"` || got[298] != `"edit 299"` {
		t.Errorf("hub log holds %d of the edge's changes: %.40v …", len(got), got)
	}
	for _, n := range w.hub.batchSizes[base:] {
		if n > 20 {
			t.Errorf("the hub was sent a push of %d changes, which cannot fit in 4 KiB", n)
		}
	}
	if dl, _ := a.DeadLetters(context.Background(), 10); len(dl) != 1 || !strings.Contains(dl[0].Reason, "more than") {
		t.Errorf("dead letters = %+v, want the oversized change", dl)
	}
	// 300 changes at ≤ 8 a push, refusals included: about a hundred pushes, not 300.
	if pushes := w.hub.pushes - base; pushes > 150 {
		t.Errorf("%d pushes for 300 changes the hub takes 8 at a time (sizes %v)", pushes, w.hub.batchSizes[base:])
	}
}
