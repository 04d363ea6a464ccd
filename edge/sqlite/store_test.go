package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/wire"
)

var ctx = context.Background()

func openStore(tb testing.TB, path, node string) *sqlite.Store {
	tb.Helper()
	s := sqlite.NewStore(path)
	s.Node = node
	if err := s.Open(ctx); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// hub makes changes the way the hub's log holds them: seq, hub clock, full create patches.
type hub struct {
	seq   int64
	clock *hlc.Clock
}

func newHub() *hub { return &hub{clock: hlc.NewClock(domain.HubOrigin)} }

func (h *hub) change(tb testing.TB, entity domain.Entity, id, zone string, before, after any) domain.Change {
	tb.Helper()
	patch, err := domain.Diff(before, after)
	if err != nil {
		tb.Fatal(err)
	}
	delete(patch, "deleted_at")
	h.seq++
	return domain.Change{ID: domain.NewID(time.Now()), Seq: h.seq, Origin: domain.HubOrigin, Actor: "system",
		Entity: entity, EntityID: id, Op: domain.OpUpsert, Zone: zone, Patch: patch,
		HLC: h.clock.Now().String(), At: time.Now().UTC().Truncate(time.Microsecond)}
}

type fixture struct {
	zone    domain.Zone
	team    domain.Team
	ticket  domain.Ticket
	changes []domain.Change
}

// genesis returns the hub changes creating one zone, team and open ticket.
func genesis(tb testing.TB, h *hub) fixture {
	now := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	z := domain.Zone{ID: domain.NewID(now), Name: "North", Region: "Berlin", CreatedAt: now}
	tm, err := domain.NewTeam(domain.TeamInput{Name: domain.Some("Alpha"), Zone: domain.Some("North")}, now)
	if err != nil {
		tb.Fatal(err)
	}
	tm.ID = domain.NewID(now)
	tk, err := domain.NewTicket(domain.NewTicketInput{Title: "Broken pump", Zone: "North", Priority: domain.PriorityHigh}, now)
	if err != nil {
		tb.Fatal(err)
	}
	tk.ID, tk.Number = domain.NewID(now), domain.TicketNumber(1)
	f := fixture{zone: z, team: tm, ticket: tk}
	f.changes = []domain.Change{
		h.change(tb, domain.EntityZone, z.ID, z.Name, nil, z),
		h.change(tb, domain.EntityTeam, tm.ID, tm.Zone, nil, tm),
		h.change(tb, domain.EntityTicket, tk.ID, tk.Zone, nil, tk),
	}
	return f
}

func seeded(tb testing.TB) (*sqlite.Store, *hub, fixture) {
	tb.Helper()
	s := openStore(tb, filepath.Join(tb.TempDir(), "edge.db"), "edge-a")
	h := newHub()
	f := genesis(tb, h)
	if err := s.ApplyRemote(ctx, f.changes, h.seq); err != nil {
		tb.Fatalf("apply genesis: %v", err)
	}
	return s, h, f
}

func setTitle(title string) func(domain.Ticket) (domain.Ticket, error) {
	return func(t domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{Title: domain.Some(title)}.Apply(t, time.Now())
	}
}

func TestGenesisVisible(t *testing.T) {
	s, _, f := seeded(t)
	got, err := s.GetTicket(ctx, f.ticket.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.ticket, got); diff != "" {
		t.Errorf("ticket (-want +got):\n%s", diff)
	}
	team, err := s.GetTeam(ctx, f.team.ID)
	if err != nil || team.Name != "Alpha" {
		t.Errorf("team = %+v, %v", team, err)
	}
	zones, err := s.ZoneNames(ctx)
	if err != nil || !slices.Equal(zones, []string{"North"}) {
		t.Errorf("zones = %v, %v", zones, err)
	}
	if c, _ := s.Cursor(ctx); c != 3 {
		t.Errorf("cursor = %d, want 3", c)
	}
}

// TestWriteSurvivesCrash copies the database files while the store is still open, right
// after a write returned — what kill -9 leaves on disk — and opens the copy.
func TestWriteSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "edge.db"), "edge-a")
	h := newHub()
	f := genesis(t, h)
	if err := s.ApplyRemote(ctx, f.changes, h.seq); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("Pump replaced")); err != nil {
		t.Fatal(err)
	}
	last := s.Clock.Last()
	crash := t.TempDir()
	for _, name := range []string{"edge.db", "edge.db-wal", "edge.db-shm"} {
		copyFile(t, filepath.Join(dir, name), filepath.Join(crash, name))
	}
	r := openStore(t, filepath.Join(crash, "edge.db"), "")
	if r.Node != "edge-a" {
		t.Errorf("node after reopen = %q", r.Node)
	}
	got, err := r.GetTicket(ctx, f.ticket.ID)
	if err != nil || got.Title != "Pump replaced" {
		t.Fatalf("after crash: %+v, %v", got.Title, err)
	}
	pending, err := r.Pending(ctx, 10)
	if err != nil || len(pending) != 1 || pending[0].Patch["title"] == nil {
		t.Fatalf("pending after crash = %+v, %v", pending, err)
	}
	if next := r.Clock.Now(); !last.Less(next) {
		t.Errorf("clock went back across restart: %s then %s", last, next)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

func TestLocalChangeShape(t *testing.T) {
	s, _, f := seeded(t)
	if _, err := s.UpdateTicket(domain.WithPrincipal(ctx, domain.Principal{Username: "ana"}), f.ticket.ID,
		func(tk domain.Ticket) (domain.Ticket, error) { return tk.Assign(f.team.ID, nil, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Pending(ctx, 10)
	if len(p) != 1 {
		t.Fatalf("pending = %d", len(p))
	}
	c := p[0]
	if c.Origin != "edge-a" || c.Actor != "ana" || c.Zone != "North" || c.Op != domain.OpUpsert {
		t.Errorf("change = %+v", c)
	}
	ts, err := hlc.Parse(c.HLC)
	if err != nil || ts.Node != "edge-a" {
		t.Errorf("hlc %q: %v", c.HLC, err)
	}
	for _, f := range []string{"assigned_team", "status", "assigned_at", "updated_at"} {
		if _, ok := c.Patch[f]; !ok {
			t.Errorf("patch lacks %s: %v", f, keys(c.Patch))
		}
	}
	if c.Base["status"] == "" || c.Base["status"] >= c.HLC {
		t.Errorf("base status = %q, hlc %q", c.Base["status"], c.HLC)
	}
	// The change must pass the hub's decoder as a push.
	if _, err := wire.Marshal(&wire.PushRequest{Node: "edge-a", Changes: p}); err != nil {
		t.Errorf("push frame: %v", err)
	}
	// A write that changes nothing queues nothing.
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) { return tk, nil }); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(ctx, 10); len(p) != 1 {
		t.Errorf("no-op write queued a change: %d pending", len(p))
	}
	// Illegal transitions are refused and leave nothing behind.
	_, err = s.UpdateTicket(ctx, f.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) { return tk.Transition(domain.StatusClosed, time.Now()) })
	if domain.ErrorCode(err) != domain.CodeConflict {
		t.Errorf("illegal transition: %v", err)
	}
	if p, _ := s.Pending(ctx, 10); len(p) != 1 {
		t.Errorf("refused write queued a change: %d pending", len(p))
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestOutboxOrder(t *testing.T) {
	s, _, f := seeded(t)
	var ids []string
	for i := range 20 {
		if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("title "+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
		p, _ := s.Pending(ctx, 100)
		ids = append(ids, p[len(p)-1].ID)
	}
	p, err := s.Pending(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var prev string
	for _, c := range p {
		got = append(got, c.ID)
		if c.HLC <= prev {
			t.Errorf("hlc not increasing: %s after %s", c.HLC, prev)
		}
		prev = c.HLC
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("outbox order (-want +got):\n%s", diff)
	}
	if !slices.IsSorted(got) {
		t.Errorf("ulids not increasing: %v", got)
	}
	if p, _ := s.Pending(ctx, 5); len(p) != 5 || p[0].ID != ids[0] {
		t.Errorf("limited pending = %d", len(p))
	}
	// The push loop reads the next batch with PendingAfter while a push is in flight.
	after := func(id string, limit int) []string {
		p, err := s.PendingAfter(ctx, id, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range p {
			out = append(out, c.ID)
		}
		return out
	}
	if got := after(ids[4], 5); !slices.Equal(got, ids[5:10]) {
		t.Errorf("pending after the 5th = %v, want %v", got, ids[5:10])
	}
	if got := after(ids[19], 5); len(got) != 0 {
		t.Errorf("pending after the last = %v", got)
	}
	if got := after(domain.NewID(time.Now()), 5); len(got) != 0 {
		t.Errorf("pending after an unknown change = %v", got)
	}
	// Recorded changes are skipped: the next batch holds only what is still pending.
	batch, _ := s.Pending(ctx, 7)
	res := &wire.PushResponse{Cursor: 7}
	for i, c := range batch[5:] {
		res.Results = append(res.Results, wire.Result{ID: c.ID, Status: wire.Accepted, Seq: int64(i + 1)})
	}
	if err := s.RecordPush(ctx, batch[5:], res); err != nil {
		t.Fatal(err)
	}
	if got := after(ids[2], 4); !slices.Equal(got, []string{ids[3], ids[4], ids[7], ids[8]}) {
		t.Errorf("pending after the 3rd once the 6th and 7th are acknowledged = %v", got)
	}
}

func TestDeadLetterDoesNotBlock(t *testing.T) {
	s, _, f := seeded(t)
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("refused")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) {
		return domain.TicketPatch{Priority: domain.Some(domain.PriorityCritical)}.Apply(tk, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	batch, _ := s.Pending(ctx, 2)
	res := &wire.PushResponse{Cursor: 5, Results: []wire.Result{
		{ID: batch[0].ID, Status: wire.Accepted, Seq: 4},
		{ID: batch[1].ID, Status: wire.Rejected, Code: domain.CodeInvalid, Error: "title is not allowed"},
	}}
	if err := s.RecordPush(ctx, batch, res); err != nil {
		t.Fatal(err)
	}
	rest, _ := s.Pending(ctx, 10)
	if len(rest) != 1 || rest[0].Patch["priority"] == nil {
		t.Fatalf("pending after dead letter = %+v", rest)
	}
	dl, err := s.DeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 || dl[0].Change.ID != batch[1].ID || dl[0].Reason != "title is not allowed" || dl[0].Code != domain.CodeInvalid {
		t.Fatalf("dead letters = %+v, %v", dl, err)
	}
	got, _ := s.GetTicket(ctx, f.ticket.ID)
	if got.Title != "first" || got.Priority != domain.PriorityCritical {
		t.Errorf("after dead letter: title %q priority %q; want the refused title gone and the later change kept", got.Title, got.Priority)
	}
	st, _ := s.Stats(ctx)
	if st.Pending != 1 || st.Dead != 1 || st.Acked != 1 {
		t.Errorf("stats = %+v", st)
	}
	// A result for a change no longer pending changes nothing.
	if err := s.RecordPush(ctx, batch, res); err != nil {
		t.Fatal(err)
	}
	if st2, _ := s.Stats(ctx); st2 != st {
		t.Errorf("repeated results changed stats: %+v then %+v", st, st2)
	}
}

func TestDeadLetterOfCreateRemovesRow(t *testing.T) {
	s, _, _ := seeded(t)
	tk, err := domain.NewTicket(domain.NewTicketInput{Title: "New", Zone: "North"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tk, err = s.CreateTicket(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Pending(ctx, 10)
	if err := s.DeadLetter(ctx, p[0], domain.CodeForbidden, "outside scope"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTicket(ctx, tk.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("dead-lettered create still visible: %v", err)
	}
}

func TestCreateTicketChecksZone(t *testing.T) {
	s, _, _ := seeded(t)
	tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "Elsewhere", Zone: "South"}, time.Now())
	if _, err := s.CreateTicket(ctx, tk); domain.ErrorField(err) != "zone" {
		t.Errorf("unknown zone: %v", err)
	}
	if p, _ := s.Pending(ctx, 10); len(p) != 0 {
		t.Errorf("refused create queued %d changes", len(p))
	}
}

func TestDuplicateIncomingIsNoop(t *testing.T) {
	s, h, f := seeded(t)
	c := h.change(t, domain.EntityTicket, f.ticket.ID, "North", f.ticket, func() domain.Ticket {
		tk := f.ticket
		tk.Title = "Hub title"
		return tk
	}())
	if err := s.ApplyRemote(ctx, []domain.Change{c}, c.Seq); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Row(ctx, domain.EntityTicket, f.ticket.ID)
	d1, _ := s.Digest(ctx, "North")
	// The same change again, in a page with an older cursor: nothing moves.
	if err := s.ApplyRemote(ctx, []domain.Change{c, c}, c.Seq-1); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Row(ctx, domain.EntityTicket, f.ticket.ID)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("row changed (-before +after):\n%s", diff)
	}
	d2, _ := s.Digest(ctx, "North")
	if d1 != d2 || d2.Cursor != c.Seq {
		t.Errorf("digest %+v then %+v", d1, d2)
	}
}

func TestOutOfOrderConverges(t *testing.T) {
	h := newHub()
	f := genesis(t, h)
	changes := slices.Clone(f.changes)
	tk := f.ticket
	for i := range 30 {
		next := tk
		switch i % 3 {
		case 0:
			next.Title = "t" + string(rune('a'+i))
		case 1:
			next.Description = "d" + string(rune('a'+i))
		case 2:
			next.Location = "l" + string(rune('a'+i))
		}
		changes = append(changes, h.change(t, domain.EntityTicket, tk.ID, "North", tk, next))
		tk = next
	}
	a := openStore(t, filepath.Join(t.TempDir(), "a.db"), "edge-a")
	b := openStore(t, filepath.Join(t.TempDir(), "b.db"), "edge-b")
	if err := a.ApplyRemote(ctx, changes, h.seq); err != nil {
		t.Fatal(err)
	}
	shuffled := slices.Clone(changes)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i := 0; i < len(shuffled); i += 7 {
		// Overlapping pages, some changes twice.
		if err := b.ApplyRemote(ctx, shuffled[max(0, i-2):min(len(shuffled), i+7)], int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := a.Digest(ctx, "North")
	db, _ := b.Digest(ctx, "North")
	if da.Digest != db.Digest || da.Rows != 3 {
		t.Errorf("digests differ: %+v vs %+v", da, db)
	}
	ga, _ := a.GetTicket(ctx, tk.ID)
	gb, _ := b.GetTicket(ctx, tk.ID)
	if diff := cmp.Diff(tk, ga); diff != "" {
		t.Errorf("in-order replica (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ga, gb); diff != "" {
		t.Errorf("replicas differ (-a +b):\n%s", diff)
	}
}

// echoPending has the hub's log send s's oldest pending change back to it, at the next seq.
func echoPending(t *testing.T, s *sqlite.Store, h *hub) {
	t.Helper()
	p, err := s.Pending(ctx, 1)
	if err != nil || len(p) != 1 {
		t.Fatalf("pending = %d, %v", len(p), err)
	}
	c := p[0]
	h.seq++
	c.Seq = h.seq
	if err := s.ApplyRemote(ctx, []domain.Change{c}, c.Seq); err != nil {
		t.Fatal(err)
	}
}

func TestOwnChangeFromHubAcknowledges(t *testing.T) {
	s, h, f := seeded(t)
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("mine")); err != nil {
		t.Fatal(err)
	}
	// The push answer was lost, but the change comes back through the stream.
	echoPending(t, s, h)
	if p, _ := s.Pending(ctx, 10); len(p) != 0 {
		t.Errorf("still pending: %d", len(p))
	}
	if got, _ := s.GetTicket(ctx, f.ticket.ID); got.Title != "mine" {
		t.Errorf("title = %q", got.Title)
	}
}

func TestClampedKeepsHubClock(t *testing.T) {
	s, h, f := seeded(t)
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("clamped")); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Pending(ctx, 10)
	newHLC := h.clock.Now().String()
	res := &wire.PushResponse{Cursor: 4, HLC: newHLC, Results: []wire.Result{{ID: p[0].ID, Status: wire.Clamped, Seq: 4, HLC: newHLC}}}
	// The hub's reading here is after ours, so emulate a clamp to a lower clock: the edge's
	// clock ran ahead.
	earlier := hlc.Timestamp{Wall: 1, Node: domain.HubOrigin}.String()
	res.Results[0].HLC = earlier
	if err := s.RecordPush(ctx, p, res); err != nil {
		t.Fatal(err)
	}
	row, _ := s.Row(ctx, domain.EntityTicket, f.ticket.ID)
	i := slices.IndexFunc(row.Changes, func(c domain.Change) bool { return c.ID == p[0].ID })
	if i < 0 || row.Changes[i].HLC != earlier {
		t.Fatalf("row keeps %+v", row.Changes)
	}
	if p, _ := s.Pending(ctx, 10); len(p) != 0 {
		t.Errorf("clamped change still pending")
	}
}

func TestListTickets(t *testing.T) {
	s, _, f := seeded(t)
	for i := range 25 {
		tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "Job " + string(rune('A'+i)), Zone: "North",
			Priority: domain.Priorities[i%4], Description: "cable"}, time.Now())
		if _, err := s.CreateTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) { return tk.Assign(f.team.ID, nil, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	var seen []string
	cursor := ""
	for {
		page, err := s.ListTickets(ctx, domain.TicketFilter{Sort: "priority", Limit: 7, Cursor: cursor, WithTotal: true})
		if err != nil {
			t.Fatal(err)
		}
		if *page.Total != 26 {
			t.Errorf("total = %d", *page.Total)
		}
		for _, tk := range page.Items {
			seen = append(seen, tk.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 26 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 26 {
		t.Errorf("pages returned %d tickets", len(seen))
	}
	page, _ := s.ListTickets(ctx, domain.TicketFilter{ScopeTeam: f.team.ID})
	if len(page.Items) != 1 || page.Items[0].ID != f.ticket.ID {
		t.Errorf("team scope = %d items", len(page.Items))
	}
	page, _ = s.ListTickets(ctx, domain.TicketFilter{Status: []domain.Status{domain.StatusOpen}, Query: "CABLE"})
	if len(page.Items) != 25 {
		t.Errorf("status+query = %d items", len(page.Items))
	}
	page, _ = s.ListTickets(ctx, domain.TicketFilter{Priority: []domain.Priority{domain.PriorityCritical}})
	for _, tk := range page.Items {
		if tk.Priority != domain.PriorityCritical {
			t.Errorf("priority filter let %s through", tk.Priority)
		}
	}
	if _, err := s.ListTickets(ctx, domain.TicketFilter{Cursor: "!!"}); domain.ErrorField(err) != "cursor" {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestNodeIDIsFixed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openStore(t, path, "edge-a")
	s.Close()
	other := sqlite.NewStore(path)
	other.Node = "edge-b"
	if err := other.Open(ctx); err == nil {
		other.Close()
		t.Fatal("opened edge-a's database as edge-b")
	}
}

func TestResetKeepsPendingChanges(t *testing.T) {
	s, _, f := seeded(t)
	if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("offline")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cursor(ctx); c != 0 {
		t.Errorf("cursor after reset = %d", c)
	}
	if _, err := s.GetTeam(ctx, f.team.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("team survived reset: %v", err)
	}
	if p, _ := s.Pending(ctx, 10); len(p) != 1 {
		t.Fatalf("pending after reset = %d", len(p))
	}
	// Re-pulling the hub's state brings the row back with the pending change on top.
	if err := s.ApplyRemote(ctx, f.changes, 3); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetTicket(ctx, f.ticket.ID); got.Title != "offline" {
		t.Errorf("title after re-pull = %q", got.Title)
	}
}

// TestDigestMatchesRowStates holds Digest (read from the doc and deleted columns) to
// merge.Digest of the stored merge states, with values the encoder escapes and a deleted row.
func TestDigestMatchesRowStates(t *testing.T) {
	s, h, f := seeded(t)
	tk := f.ticket
	tk.Title, tk.Description = `<b>&</b> "quoted" \u2028`, "é \u2029 <"
	c := h.change(t, domain.EntityTicket, tk.ID, "North", f.ticket, tk)
	del := domain.Change{ID: domain.NewID(time.Now()), Seq: h.seq + 1, Origin: domain.HubOrigin, Actor: "system",
		Entity: domain.EntityTeam, EntityID: f.team.ID, Op: domain.OpDelete, Zone: "North",
		HLC: h.clock.Now().String(), At: time.Now().UTC().Truncate(time.Microsecond)}
	h.seq++
	if err := s.ApplyRemote(ctx, []domain.Change{c, del}, h.seq); err != nil {
		t.Fatal(err)
	}
	var rows []merge.Row
	for _, k := range []sqlite.RowKey{{Entity: domain.EntityZone, ID: f.zone.ID}, {Entity: domain.EntityTeam, ID: f.team.ID}, {Entity: domain.EntityTicket, ID: tk.ID}} {
		r, err := s.Row(ctx, k.Entity, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if rows[1].Deleted == nil {
		t.Fatal("team not deleted")
	}
	d, err := s.Digest(ctx, "North")
	if err != nil {
		t.Fatal(err)
	}
	if want := merge.Digest(rows); d.Digest != want || d.Rows != 3 {
		t.Errorf("digest %+v, merge.Digest of the rows %s", d, want)
	}
}

// TestRecordPushAcksInBatches acknowledges more changes than one ack statement holds, with a
// rejected one among them, and checks every change's outbox status and hub seq; the same
// changes coming back from the hub's log afterwards change nothing.
func TestRecordPushAcksInBatches(t *testing.T) {
	s, h, f := seeded(t)
	const n = 560 // a rejected change after more than one ack statement's worth
	for i := range n {
		if _, err := s.UpdateTicket(ctx, f.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) {
			return domain.TicketPatch{Description: domain.Some(fmt.Sprint("edit ", i))}.Apply(tk, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := s.Pending(ctx, n)
	if err != nil || len(batch) != n {
		t.Fatalf("pending: %d, %v", len(batch), err)
	}
	const rejected = 540
	res := &wire.PushResponse{HLC: h.clock.Now().String()}
	want := map[string]int64{}
	for i, c := range batch {
		if i == rejected {
			res.Results = append(res.Results, wire.Result{ID: c.ID, Status: wire.Rejected, Code: domain.CodeInvalid, Error: "no"})
			continue
		}
		want[c.ID] = int64(1000 + i)
		st := wire.Accepted
		if i%3 == 0 {
			st = wire.Duplicate
		}
		res.Results = append(res.Results, wire.Result{ID: c.ID, Status: st, Seq: int64(1000 + i)})
	}
	if err := s.RecordPush(ctx, batch, res); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if st, _ := s.Stats(ctx); st.Pending != 0 || st.Acked != n-1 || st.Dead != 1 {
			t.Errorf("%s: stats %+v", when, st)
		}
		db, err := sql.Open("sqlite", s.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query("SELECT change_id, status, hub_seq, attempts FROM outbox")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, status string
			var seq, attempts int64
			if err := rows.Scan(&id, &status, &seq, &attempts); err != nil {
				t.Fatal(err)
			}
			switch w, ok := want[id]; {
			case id == batch[rejected].ID:
				if status != sqlite.StatusDead {
					t.Errorf("%s: rejected change %s is %s", when, id, status)
				}
			case !ok || status != sqlite.StatusAcked || seq != w || attempts != 1:
				t.Errorf("%s: change %s: status %s, hub seq %d, attempts %d; want acked at %d after one attempt", when, id, status, seq, attempts, w)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	check("after the push")
	// The accepted changes come back in the hub's log: already acknowledged, nothing moves.
	var back []domain.Change
	for i, c := range batch {
		if i != rejected {
			c.Seq = int64(1000 + i)
			back = append(back, c)
		}
	}
	if err := s.ApplyRemote(ctx, back, 1000+n); err != nil {
		t.Fatal(err)
	}
	check("after the log")
}

// TestOwnChangesFromLogAcknowledgeInBatches: pending changes whose push answer was lost are
// acknowledged by their copies in the hub's log, more than one ack statement's worth at once.
func TestOwnChangesFromLogAcknowledgeInBatches(t *testing.T) {
	s, _, f := seeded(t)
	const n = 520
	for i := range n {
		if _, err := s.UpdateTicket(ctx, f.ticket.ID, func(tk domain.Ticket) (domain.Ticket, error) {
			return domain.TicketPatch{Description: domain.Some(fmt.Sprint("edit ", i))}.Apply(tk, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	batch, _ := s.Pending(ctx, n)
	for i := range batch {
		batch[i].Seq = int64(100 + i)
	}
	if err := s.ApplyRemote(ctx, batch[:n-1], int64(100+n-2)); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Pending != 1 || st.Acked != n-1 {
		t.Errorf("stats %+v, want %d acked and the last one pending", st, n-1)
	}
	if p, _ := s.Pending(ctx, 10); len(p) != 1 || p[0].ID != batch[n-1].ID {
		t.Errorf("pending %+v", p)
	}
}
