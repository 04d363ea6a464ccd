package simulation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
)

// Self-tests of the simulation: a run repeats exactly from its seed, and the oracle notices
// each kind of broken state it claims to check.

// selfTestSteps is the length of the self-tests' runs, shorter under the race detector.
func selfTestSteps() int {
	if raceEnabled {
		return 50
	}
	return 150
}

// TestSameSeedSameTrace: two runs of one seed take the same steps, see the same answers and
// end in the same state (the trace names change ids, so ids repeat too).
func TestSameSeedSameTrace(t *testing.T) {
	run := func() ([]string, string) {
		var lines []string
		cfg := Config{Seed: 11, Steps: selfTestSteps(), Edges: 3, Dir: simDir(t), Trace: func(l string) { lines = append(lines, l) }}
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		return lines, rep.String()
	}
	trace1, rep1 := run()
	trace2, rep2 := run()
	if len(trace1) < selfTestSteps() {
		t.Fatalf("trace has %d lines, want one per step at least", len(trace1))
	}
	if diff := cmp.Diff(trace1, trace2); diff != "" {
		t.Errorf("same seed, different traces (-first +second):\n%s", diff)
	}
	if rep1 != rep2 {
		t.Errorf("same seed, different reports:\n%s\n%s", rep1, rep2)
	}
	other := Config{Seed: 12, Steps: selfTestSteps(), Edges: 3, Dir: simDir(t)}
	var lines3 []string
	other.Trace = func(l string) { lines3 = append(lines3, l) }
	if _, err := Run(context.Background(), other); err != nil {
		t.Fatalf("run seed 12: %v", err)
	}
	if slices.Equal(trace1, lines3) {
		t.Error("seeds 11 and 12 gave the same trace: the seed does not drive the run")
	}
}

// healedWorld runs seed up to a healed, checked state and leaves it open for tampering.
func healedWorld(t *testing.T, seed uint64, steps int) *world {
	t.Helper()
	ctx := context.Background()
	w := newWorld(Config{Seed: seed, Steps: steps, Edges: 3, Dir: simDir(t)})
	t.Cleanup(w.close)
	if err := w.setup(ctx); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if err := w.steps(ctx); err != nil {
		t.Fatalf("steps: %v", err)
	}
	if err := w.heal(ctx); err != nil {
		t.Fatalf("heal: %v", err)
	}
	if err := w.oracle(ctx); err != nil {
		t.Fatalf("untampered run fails the oracle: %v", err)
	}
	return w
}

// hubSQL runs a statement on the hub's database file directly, behind the store's back.
func hubSQL(t *testing.T, w *world, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+w.hub.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("tamper %q: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("tamper %q changed nothing", query)
	}
}

// liveTicketOf returns a ticket of e's zones that the hub's log does not delete, and the log.
func liveTicketOf(t *testing.T, w *world, e *edgeNode) (domain.Change, []domain.Change) {
	t.Helper()
	log, err := w.hubLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, c := range log {
		if c.Op == domain.OpDelete {
			deleted[c.EntityID] = true
		}
	}
	for i := len(log) - 1; i >= 0; i-- {
		c := log[i]
		if c.Entity == domain.EntityTicket && !deleted[c.EntityID] && slices.Contains(e.zones, c.Zone) {
			return c, log
		}
	}
	t.Fatal("no live ticket in scope")
	return domain.Change{}, nil
}

// TestOracleDetectsTampering breaks one invariant in a healed run and expects the oracle to
// name it.
func TestOracleDetectsTampering(t *testing.T) {
	const seed = 2
	steps := selfTestSteps()
	ctx := context.Background()
	cases := []struct {
		invariant string
		tamper    func(t *testing.T, w *world)
	}{
		{"convergence", func(t *testing.T, w *world) {
			// An edge applies a change the hub never logged.
			e := w.edges[0]
			last, _ := liveTicketOf(t, w, e)
			ts, err := hlc.Parse(last.HLC)
			if err != nil {
				t.Fatal(err)
			}
			ts.Wall++
			cur, err := e.store.Cursor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			forged := domain.Change{ID: domain.NewID(w.now), Origin: domain.HubOrigin, Actor: "tamper", Entity: domain.EntityTicket,
				EntityID: last.EntityID, Op: domain.OpUpsert, Zone: last.Zone, Patch: map[string]json.RawMessage{"title": json.RawMessage(`"tampered"`)},
				HLC: ts.String(), At: w.now}
			if err := e.store.ApplyRemote(ctx, []domain.Change{forged}, cur); err != nil {
				t.Fatal(err)
			}
		}},
		{"gap-free-log", func(t *testing.T, w *world) {
			hubSQL(t, w, `DELETE FROM changes WHERE seq = (SELECT max(seq) / 2 FROM changes)`)
		}},
		{"materialized", func(t *testing.T, w *world) {
			// The typed row drifts from the log; the log (and every digest) is untouched.
			last, _ := liveTicketOf(t, w, w.edges[0])
			hubSQL(t, w, `UPDATE tickets SET location = 'tampered' WHERE id = ?`, last.EntityID)
		}},
		{"conflict-recorded", func(t *testing.T, w *world) {
			hubSQL(t, w, `DELETE FROM sync_conflicts WHERE id = (SELECT min(id) FROM sync_conflicts)`)
		}},
		{"skew-bounded", func(t *testing.T, w *world) {
			_, log := liveTicketOf(t, w, w.edges[0])
			c := log[len(log)/2]
			ts, err := hlc.Parse(c.HLC)
			if err != nil {
				t.Fatal(err)
			}
			ts.Wall += (400 * 24 * time.Hour).Milliseconds()
			hubSQL(t, w, `UPDATE changes SET hlc = ? WHERE seq = ?`, ts.String(), c.Seq)
		}},
		{"acked-write", func(t *testing.T, w *world) {
			// An edge acknowledges a write, then loses it: it restarts from an image of its
			// files taken before the write (a store that lied about durability).
			e := w.edges[1]
			img, err := crashImage(e.path, filepath.Join(e.dir, "before-write"))
			if err != nil {
				t.Fatal(err)
			}
			last, _ := liveTicketOf(t, w, e)
			ids, err := w.localWrite(ctx, e, "doomed edit", func(ctx context.Context) error {
				_, err := e.store.UpdateTicket(ctx, last.EntityID, func(cur domain.Ticket) (domain.Ticket, error) {
					return domain.TicketPatch{Description: domain.Some("doomed")}.Apply(cur, e.now())
				})
				return err
			})
			if err != nil || len(ids) == 0 {
				t.Fatalf("doomed edit acknowledged %v, %v", ids, err)
			}
			e.store.Close()
			e.path = img
			if err := e.open(ctx); err != nil {
				t.Fatal(err)
			}
			if err := w.heal(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.invariant, func(t *testing.T) {
			w := healedWorld(t, seed, steps)
			if c.invariant == "conflict-recorded" && w.rep.Conflicts == 0 {
				t.Fatalf("seed %d has no conflict records to remove", seed)
			}
			c.tamper(t, w)
			err := w.oracle(ctx)
			var v *Violation
			if !errors.As(err, &v) {
				t.Fatalf("oracle after tampering: %v, want a violation of %s", err, c.invariant)
			}
			if v.Invariant != c.invariant {
				t.Fatalf("oracle names invariant %q, want %q: %v", v.Invariant, c.invariant, v)
			}
			t.Logf("detected: %v", firstLine(v.Error()))
		})
	}
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
