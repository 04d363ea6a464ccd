package sqlite_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// BenchmarkApplyRemote measures what a replica pays per change when another edge's offline
// work arrives: frames of 1,000 description edits spread over 1,000 tickets that already
// hold their create and some edits (the shape of TestMeasureOfflineCatchUp in package edge).
func BenchmarkApplyRemote(b *testing.B) {
	h := newHub()
	s := openStore(b, filepath.Join(b.TempDir(), "edge.db"), "edge-b")
	f := genesis(b, h)
	if err := s.ApplyRemote(ctx, f.changes[:2], h.seq); err != nil {
		b.Fatal(err)
	}
	var tickets []domain.Ticket
	var creates []domain.Change
	for i := range 1000 {
		tk := f.ticket
		tk.ID, tk.Number, tk.Title = domain.NewID(time.Now()), domain.TicketNumber(int64(i+2)), fmt.Sprint("Ticket ", i)
		creates = append(creates, h.change(b, domain.EntityTicket, tk.ID, "North", nil, tk))
		tickets = append(tickets, tk)
	}
	if err := s.ApplyRemote(ctx, creates, h.seq); err != nil {
		b.Fatal(err)
	}
	frame := func(round int) []domain.Change {
		out := make([]domain.Change, 0, len(tickets))
		for i, tk := range tickets {
			h.seq++
			d, _ := json.Marshal(fmt.Sprint("edit ", round, " of ", i))
			out = append(out, domain.Change{ID: domain.NewID(time.Now()), Seq: h.seq, Origin: "edge-a", Actor: "edge-a",
				Entity: domain.EntityTicket, EntityID: tk.ID, Op: domain.OpUpsert, Zone: "North",
				Patch: map[string]json.RawMessage{"description": d}, HLC: h.clock.Now().String(),
				At: time.Now().UTC().Truncate(time.Microsecond)})
		}
		return out
	}
	for r := range 5 { // some history per row, as after a few offline rounds
		if err := s.ApplyRemote(ctx, frame(r), h.seq); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fr := frame(100 + i)
		b.StartTimer()
		if err := s.ApplyRemote(ctx, fr, h.seq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(tickets)), "µs/change")
}

// BenchmarkRecordPush measures acknowledging a pushed batch of 1,000 local edits.
func BenchmarkRecordPush(b *testing.B) {
	h := newHub()
	s := openStore(b, filepath.Join(b.TempDir(), "edge.db"), "edge-a")
	f := genesis(b, h)
	if err := s.ApplyRemote(ctx, f.changes, h.seq); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range 1000 {
			if _, err := s.UpdateTicket(ctx, f.ticket.ID, func(t domain.Ticket) (domain.Ticket, error) {
				return domain.TicketPatch{Description: domain.Some(fmt.Sprint("edit ", i, j))}.Apply(t, time.Now())
			}); err != nil {
				b.Fatal(err)
			}
		}
		batch, err := s.Pending(ctx, 1000)
		if err != nil {
			b.Fatal(err)
		}
		res := &wire.PushResponse{HLC: h.clock.Now().String()}
		for _, c := range batch {
			h.seq++
			res.Results = append(res.Results, wire.Result{ID: c.ID, Status: wire.Accepted, Seq: h.seq})
		}
		b.StartTimer()
		if err := s.RecordPush(ctx, batch, res); err != nil {
			b.Fatal(err)
		}
	}
}
