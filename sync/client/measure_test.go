package client_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

// TestMeasureCatchUp measures the client side of sync (the fake hub does no merge): 10,000
// edits made offline on 1,000 tickets, then pushed and streamed back; and the propagation
// latency from a write on one edge to its arrival on another. Run with AIFF_MEASURE=1.
func TestMeasureCatchUp(t *testing.T) {
	if os.Getenv("AIFF_MEASURE") == "" {
		t.Skip("set AIFF_MEASURE=1")
	}
	w := newWorld(t)
	var tickets []domain.Ticket
	for i := range 1000 {
		tk := w.ticket
		tk.ID, tk.Number, tk.Title = domain.NewID(time.Now()), domain.TicketNumber(int64(i+2)), fmt.Sprint("ticket ", i)
		w.hub.commit(w.hubChange(t, domain.EntityTicket, tk.ID, "North", nil, tk))
		tickets = append(tickets, tk)
	}
	a, sya := w.edge(t, "edge-a")
	b, _ := w.edge(t, "edge-b")
	checkFor(t, 60*time.Second, "initial catch-up", func() bool { return cursorIs(a, w.head())() && cursorIs(b, w.head())() })

	// Offline: the hub refuses every push until released.
	w.hub.mu.Lock()
	w.hub.failPushes = 1 << 30
	w.hub.mu.Unlock()
	start := time.Now()
	for i := range 10000 {
		tk := tickets[i%len(tickets)]
		if _, err := a.UpdateTicket(context.Background(), tk.ID, func(t domain.Ticket) (domain.Ticket, error) {
			return domain.TicketPatch{Description: domain.Some(fmt.Sprint("edit ", i))}.Apply(t, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	wrote := time.Since(start)
	w.hub.mu.Lock()
	w.hub.failPushes = 0
	w.hub.mu.Unlock()
	start = time.Now()
	sya.Notify()
	checkFor(t, 120*time.Second, "outbox drained", pendingIs(a, 0))
	pushed := time.Since(start)
	checkFor(t, 120*time.Second, "both edges at head", func() bool { return cursorIs(a, w.head())() && cursorIs(b, w.head())() })
	converged := time.Since(start)
	da, _ := a.Digest(context.Background(), "North")
	db, _ := b.Digest(context.Background(), "North")
	if da.Digest != db.Digest {
		t.Errorf("digests differ")
	}
	t.Logf("10,000 offline edits: written in %s (%.0f/s), pushed in %s, both edges converged in %s",
		wrote.Round(time.Millisecond), 10000/wrote.Seconds(), pushed.Round(time.Millisecond), converged.Round(time.Millisecond))

	var lat []time.Duration
	for i := range 50 {
		tk := tickets[i]
		want := fmt.Sprint("live ", i)
		start := time.Now()
		retitle(t, a, sya, tk.ID, want)
		checkFor(t, 10*time.Second, "propagation", func() bool {
			got, err := b.GetTicket(context.Background(), tk.ID)
			return err == nil && got.Title == want
		})
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("propagation edge→hub→edge (fake hub): p50 %s, p95 %s, max %s", lat[25].Round(time.Microsecond), lat[47].Round(time.Microsecond), lat[49].Round(time.Microsecond))
}
