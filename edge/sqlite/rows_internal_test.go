package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
)

// TestSavedColumnsMatchRows holds saveRow's two ways of writing a row (all list columns, or
// doc, state and updated_at only when nothing else changed) to the same stored columns: after
// description edits, priority, zone and team moves, a delete, and a row removed and brought
// back inside one transaction, every stored row's columns are what columnsOf says.
func TestSavedColumnsMatchRows(t *testing.T) {
	ctx := context.Background()
	s := NewStore(filepath.Join(t.TempDir(), "edge.db"))
	s.Node = "edge-b"
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clock := hlc.NewClock(domain.HubOrigin)
	var seq int64
	change := func(id string, op domain.Op, zone string, before, after any) domain.Change {
		t.Helper()
		c := domain.Change{ID: domain.NewID(time.Now()), Origin: domain.HubOrigin, Actor: "system", Entity: domain.EntityTicket,
			EntityID: id, Op: op, Zone: zone, HLC: clock.Now().String(), At: time.Now().UTC().Truncate(time.Microsecond)}
		if op == domain.OpUpsert {
			p, err := domain.Diff(before, after)
			if err != nil {
				t.Fatal(err)
			}
			delete(p, "deleted_at")
			c.Patch = p
		}
		seq++
		c.Seq = seq
		return c
	}
	check := func(when string) {
		t.Helper()
		rows, err := s.reader.QueryContext(ctx, `SELECT entity, id, zone, deleted, status, priority_rank, assigned_team, due_date,
			created_at, updated_at, number, name, doc FROM rows`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var e, id, doc string
			var got storedCols
			if err := rows.Scan(&e, &id, &got.zone, &got.deleted, &got.status, &got.priorityRank, &got.assignedTeam, &got.dueDate,
				&got.createdAt, &got.updatedAt, &got.number, &got.name, &doc); err != nil {
				t.Fatal(err)
			}
			r, err := s.getRow(ctx, domain.Entity(e), id)
			if err != nil {
				t.Fatal(err)
			}
			want := storedCols{columnsOf(r, visibleDoc(r)), boolInt(r.Deleted != nil)}
			if got != want || doc != string(visibleDoc(r)) {
				t.Errorf("%s: %s %s stored %+v, want %+v (doc %s)", when, e, id, got, want, doc)
			}
			n++
		}
		if n == 0 {
			t.Fatalf("%s: no rows", when)
		}
	}
	var tickets []domain.Ticket
	var creates []domain.Change
	for i := range 4 {
		tk, err := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprint("T", i), Zone: "North"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tk.ID, tk.Number = domain.NewID(time.Now()), domain.TicketNumber(int64(i+1))
		tickets = append(tickets, tk)
		creates = append(creates, change(tk.ID, domain.OpUpsert, "North", nil, tk))
	}
	if err := s.ApplyRemote(ctx, creates, seq); err != nil {
		t.Fatal(err)
	}
	check("created")
	edit := func(i int, f func(*domain.Ticket)) domain.Change {
		next := tickets[i]
		f(&next)
		next.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		c := change(next.ID, domain.OpUpsert, next.Zone, tickets[i], next)
		tickets[i] = next
		return c
	}
	steps := []struct {
		name string
		cs   func() []domain.Change
	}{
		{"description edits", func() []domain.Change {
			return []domain.Change{edit(0, func(t *domain.Ticket) { t.Description = "a" }), edit(1, func(t *domain.Ticket) { t.Description = "b" })}
		}},
		{"description again", func() []domain.Change {
			return []domain.Change{edit(0, func(t *domain.Ticket) { t.Description = "c" })}
		}},
		{"priority", func() []domain.Change {
			return []domain.Change{edit(1, func(t *domain.Ticket) { t.Priority = domain.PriorityCritical })}
		}},
		{"zone", func() []domain.Change { return []domain.Change{edit(2, func(t *domain.Ticket) { t.Zone = "South" })} }},
		{"team", func() []domain.Change {
			team := "team-1"
			return []domain.Change{edit(3, func(t *domain.Ticket) { t.AssignedTeam = &team })}
		}},
		{"delete", func() []domain.Change {
			return []domain.Change{change(tickets[3].ID, domain.OpDelete, "North", nil, nil)}
		}},
		{"description after all", func() []domain.Change {
			return []domain.Change{edit(1, func(t *domain.Ticket) { t.Description = "d" }), edit(2, func(t *domain.Ticket) { t.Description = "e" })}
		}},
	}
	for _, st := range steps {
		if err := s.ApplyRemote(ctx, st.cs(), seq); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		check(st.name)
	}
	// Removed and brought back in one transaction: the cached columns say the row is stored,
	// the file no longer has it.
	k := RowKey{domain.EntityTicket, tickets[0].ID}
	again := edit(0, func(t *domain.Ticket) { t.Description = "back" })
	err := s.write(ctx, func(t *tx) error {
		if err := t.purge(ctx, k, "test"); err != nil {
			return err
		}
		return t.merge(ctx, append(creates[:1:1], again))
	})
	if err != nil {
		t.Fatal(err)
	}
	check("removed and back")
	if _, err := s.getRow(ctx, domain.EntityTicket, tickets[0].ID); err != nil {
		t.Errorf("row brought back: %v", err)
	}
}
