package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/gctune"
	"github.com/aiff/aiff/hub/postgres"
	"github.com/aiff/aiff/hub/procstat"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/wire"
)

// BenchmarkSyncIngest measures the hub's ingest through the real push path (decoding the
// push frame, then PushChanges: dedupe, row locks, merge over each row's log, validation,
// typed row writes, gap-free append) into Postgres, and in the same run a bare COPY of the
// very change rows that push logged into a fresh changes table, and reports their ratio:
//
//	go test ./hub/postgres -run '^$' -bench SyncIngest -benchtime 1x
//
// The machine's load average (before and after) is logged with the figures: on a shared
// machine it says how much of the wall time was someone else's.
//
// Each of the 20 batches of 1000 changes holds 500 ticket creates (each followed by the hub's
// numbering change) and 500 edits of tickets created by earlier batches. changes/s counts
// pushed changes; log_rows/s counts rows appended to the log (numbering changes included).
func BenchmarkSyncIngest(b *testing.B) {
	gctune.Apply(os.Getenv) // the collector settings the aiff binary runs with
	for _, pushers := range []int{1, 4} {
		b.Run(fmt.Sprintf("pushers=%d", pushers), func(b *testing.B) { benchSyncIngest(b, pushers) })
	}
}

// benchSyncIngest pushes the batches from pushers edges at once, each in its own zone with
// its own tickets (batch i goes to edge i%pushers, in order per edge): one edge shows a single
// stream's latency-bound rate, several show how far the hub overlaps its CPU with Postgres.
func benchSyncIngest(b *testing.B, pushers int) {
	const batches, per = 20, 1000
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		s := storetest.OpenPostgres(b, nil)
		s.MaxConns = 4
		principals := make([]domain.Principal, pushers)
		clocks := make([]*hlc.Clock, pushers)
		for e := range pushers {
			zone := fmt.Sprintf("zone-%d", e)
			if _, err := s.CreateZone(ctx, domain.Zone{Name: zone}); err != nil {
				b.Fatal(err)
			}
			node := fmt.Sprintf("edge-bench-%d", e)
			principals[e] = domain.Principal{Node: node, Zones: []string{zone}}
			clocks[e] = hlc.NewClock(node)
		}
		frames := make([][]byte, batches)
		created := make([][]domain.Change, pushers)
		now := time.Now().UTC().Truncate(time.Microsecond)
		for i := range batches {
			e := i % pushers
			node, zone, edge := principals[e].Node, principals[e].Zones[0], clocks[e]
			var cs []domain.Change
			for j := range per / 2 {
				tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("bench %d/%d", i, j), Zone: zone,
					Description: "a pole is down at the corner", Location: "1 Main St", Skills: []string{"electric"}}, now)
				tk.ID = domain.NewID(now)
				patch, _ := domain.Diff(nil, tk)
				c := domain.Change{ID: domain.NewID(now), Origin: node, Actor: "tech", Entity: domain.EntityTicket,
					EntityID: tk.ID, Op: domain.OpUpsert, Zone: zone, Patch: patch, HLC: edge.Now().String(), At: now}
				cs = append(cs, c)
				created[e] = append(created[e], c)
			}
			for j := range per / 2 {
				// edit the tickets of this edge's previous batch (its first batch: the ones it creates)
				target := cs[j]
				if n := len(created[e]); n > per/2 {
					target = created[e][n-per+j]
				}
				title, _ := json.Marshal(fmt.Sprintf("edited %d/%d", i, j))
				cs = append(cs, domain.Change{ID: domain.NewID(now), Origin: node, Actor: "tech", Entity: domain.EntityTicket,
					EntityID: target.EntityID, Op: domain.OpUpsert, Zone: zone, HLC: edge.Now().String(), At: now,
					Patch: map[string]json.RawMessage{"title": title}, Base: map[string]string{"title": target.HLC}})
			}
			var err error
			if frames[i], err = wire.Marshal(&wire.PushRequest{Node: node, Changes: cs}); err != nil {
				b.Fatal(err)
			}
		}
		for _, ix := range strings.Fields(os.Getenv("AIFF_BENCH_DROP")) {
			if _, err := s.Pool().Exec(ctx, "DROP INDEX "+ix); err != nil {
				b.Fatal(err)
			}
		}
		if os.Getenv("AIFF_BENCH_WARM") != "" {
			warmUp(b, s, pushers)
		}
		// A yardstick of this machine's speed at the moment, in Go alone: decoding every
		// frame once. Its speed has drifted 2x within an hour while Postgres's barely moved,
		// and a slow spell shows here (decode_ref_ms) before it shows in the ratios.
		refStart := time.Now()
		for _, f := range frames {
			if _, err := wire.ReadAs[*wire.PushRequest](bytes.NewReader(f), wire.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
		decodeRef := time.Since(refStart)
		head0, _ := s.LastSeq(ctx)
		load0 := procstat.LoadAvg()
		goCPU0, _ := procstat.CPU()
		pgCPU0 := procstat.NamedCPU("postgres")
		b.StartTimer()
		start := time.Now()
		errs := make(chan error, pushers)
		for e := range pushers {
			go func() {
				errs <- func() error {
					for i := e; i < batches; i += pushers {
						req, err := wire.ReadAs[*wire.PushRequest](bytes.NewReader(frames[i]), wire.Limits{})
						if err != nil {
							return err
						}
						resp, err := s.PushChanges(ctx, principals[e], req.Changes)
						if err != nil {
							return err
						}
						for _, r := range resp.Results {
							if r.Status != wire.Accepted {
								return fmt.Errorf("push result %+v", r)
							}
						}
					}
					return nil
				}()
			}()
		}
		for range pushers {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		pushTime := time.Since(start)
		goCPU1, _ := procstat.CPU()
		goCPU, pgCPU := goCPU1-goCPU0, procstat.NamedCPU("postgres")-pgCPU0
		b.StopTimer()
		logged, err := s.ListChanges(ctx, head0, nil, 5000)
		if err != nil {
			b.Fatal(err)
		}
		for len(logged) > 0 {
			more, err := s.ListChanges(ctx, logged[len(logged)-1].Seq, nil, 5000)
			if err != nil {
				b.Fatal(err)
			}
			if len(more) == 0 {
				break
			}
			logged = append(logged, more...)
		}
		rows := make([][]any, len(logged))
		for i, c := range logged {
			rows[i] = postgres.ChangeRowForTest(c, now)
		}
		bare := storetest.OpenPostgres(b, nil)
		start = time.Now()
		err = pgx.BeginFunc(ctx, bare.Pool(), func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"changes"}, postgres.ChangeColumnsForTest, pgx.CopyFromRows(rows))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		copyTime := time.Since(start)
		// The floor under push's own writes is more than the log: it also stores the typed
		// rows. Copy the final ticket rows into the bare store too, to show how much of push's
		// time any ingest would spend in Postgres (ticket rows carry a dozen indexes and a
		// trigram index).
		for e := range pushers {
			if _, err := bare.Pool().Exec(ctx, `INSERT INTO zones (id, name, region, boundary, center_lat, center_lng, created_at)
				VALUES ($1, $2, '', '[]', 0, 0, now())`, domain.NewID(now), principals[e].Zones[0]); err != nil {
				b.Fatal(err)
			}
		}
		cols := append(slices.Clone(postgres.BulkTicketColumns), "deleted_at")
		trows, err := s.Pool().Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM tickets WHERE zone <> 'warm-up'")
		if err != nil {
			b.Fatal(err)
		}
		var tickets [][]any
		for trows.Next() {
			v, err := trows.Values()
			if err != nil {
				b.Fatal(err)
			}
			tickets = append(tickets, v)
		}
		if trows.Close(); trows.Err() != nil {
			b.Fatal(trows.Err())
		}
		start = time.Now()
		err = pgx.BeginFunc(ctx, bare.Pool(), func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, cols, pgx.CopyFromRows(tickets))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		ticketCopyTime := time.Since(start)
		pushRate := float64(batches*per) / pushTime.Seconds()
		rowRate := float64(len(logged)) / pushTime.Seconds()
		copyRate := float64(len(logged)) / copyTime.Seconds()
		b.ReportMetric(pushRate, "changes/s")
		b.ReportMetric(rowRate, "log_rows/s")
		b.ReportMetric(copyRate, "copy_rows/s")
		b.ReportMetric(rowRate/copyRate, "ratio")
		floor := copyTime + ticketCopyTime
		b.ReportMetric(floor.Seconds()/pushTime.Seconds(), "floor_ratio")
		b.Logf("pushed %d changes (%d log rows) in %v: %.0f changes/s, %.0f log rows/s; bare COPY of the same %d rows %v: %.0f rows/s; ratio %.2f",
			batches*per, len(logged), pushTime.Round(time.Millisecond), pushRate, rowRate, len(logged), copyTime.Round(time.Millisecond), copyRate, rowRate/copyRate)
		// Where push's time went: this process's CPU (decode, merge, encoding, the
		// collector) and every Postgres process's (on a shared machine, others' too).
		b.ReportMetric(float64(decodeRef.Microseconds())/1000, "decode_ref_ms")
		b.ReportMetric(goCPU.Seconds(), "go_cpu_s")
		b.ReportMetric(pgCPU.Seconds(), "pg_cpu_s")
		b.Logf("during push: Go %.2f CPU-s, Postgres %.2f CPU-s, on %d cores over %.2f s", goCPU.Seconds(), pgCPU.Seconds(),
			runtime.NumCPU(), pushTime.Seconds())
		b.Logf("bare COPY of the %d final ticket rows %v; log + tickets COPY %v is %.2f of push's time; load average before %s, after %s",
			len(tickets), ticketCopyTime.Round(time.Millisecond), floor.Round(time.Millisecond), floor.Seconds()/pushTime.Seconds(), load0, procstat.LoadAvg())
		b.StartTimer()
	}
}

// warmUp runs, before the timed pushes, a create and an edit push from each of pushers
// edges at once in a zone of its own ("warm-up"), so that every pool connection has planned
// push's statements, as in a hub that has been running.
func warmUp(b *testing.B, s *postgres.Store, pushers int) {
	ctx := context.Background()
	if _, err := s.CreateZone(ctx, domain.Zone{Name: "warm-up"}); err != nil {
		b.Fatal(err)
	}
	errs := make(chan error, pushers)
	for e := range pushers {
		go func() {
			node := fmt.Sprintf("edge-warm-%d", e)
			p, clock := domain.Principal{Node: node, Zones: []string{"warm-up"}}, hlc.NewClock(node)
			now := time.Now().UTC().Truncate(time.Microsecond)
			var creates, edits []domain.Change
			for j := range 20 {
				tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("warm %d/%d", e, j), Zone: "warm-up"}, now)
				tk.ID = domain.NewID(now)
				patch, _ := domain.Diff(nil, tk)
				c := domain.Change{ID: domain.NewID(now), Origin: node, Actor: "tech", Entity: domain.EntityTicket,
					EntityID: tk.ID, Op: domain.OpUpsert, Zone: "warm-up", Patch: patch, HLC: clock.Now().String(), At: now}
				creates = append(creates, c)
				edits = append(edits, domain.Change{ID: domain.NewID(now), Origin: node, Actor: "tech", Entity: domain.EntityTicket,
					EntityID: tk.ID, Op: domain.OpUpsert, Zone: "warm-up", HLC: clock.Now().String(), At: now,
					Patch: map[string]json.RawMessage{"title": json.RawMessage(`"warmed"`)}})
			}
			_, err := s.PushChanges(ctx, p, creates)
			if err == nil {
				_, err = s.PushChanges(ctx, p, edits)
			}
			errs <- err
		}()
	}
	for range pushers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}
