package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

// benchStore opens a store with zones z0..z9 and one team per zone, and n tickets spread over
// them, inserted in one transaction (through the store's own insert, so rows are exactly what
// CreateTicket writes, minus the change log).
func benchStore(b *testing.B, n int) (*Store, []string) {
	b.Helper()
	ctx := context.Background()
	s := NewStore(filepath.Join(b.TempDir(), "bench.db"))
	if err := s.Open(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var teams []string
	for i := range 10 {
		if _, err := s.CreateZone(ctx, domain.Zone{Name: fmt.Sprintf("z%d", i)}); err != nil {
			b.Fatal(err)
		}
		tm, err := s.CreateTeam(ctx, domain.Team{Name: fmt.Sprintf("team %d", i), Zone: fmt.Sprintf("z%d", i), Capacity: 5,
			ShiftStart: "08:00", ShiftEnd: "17:00", IsActive: true})
		if err != nil {
			b.Fatal(err)
		}
		teams = append(teams, tm.ID)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.write(ctx, func(tx *tx) error {
		for i := range n {
			at := base.Add(time.Duration(i) * time.Minute)
			t := domain.Ticket{ID: domain.NewID(at), Title: fmt.Sprintf("ticket %d about a broken meter", i),
				Description: "customer reports a fault", Category: "repair", Priority: domain.Priorities[i%4],
				Status: domain.StatusOpen, Zone: fmt.Sprintf("z%d", i%10), Location: fmt.Sprintf("%d Main St", i),
				Skills: []string{"electric"}, DueDate: at.Add(72 * time.Hour), CreatedAt: at, UpdatedAt: at}
			if i%3 == 0 {
				t.Status, t.AssignedTeam, t.AssignedAt = domain.StatusAssigned, &teams[i%10], &at
			}
			if err := tx.insertTicket(ctx, t, int64(i+1)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "UPDATE counters SET value = ? WHERE name = 'ticket_number'", n)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.writer.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return s, teams
}

func BenchmarkCreateTicket(b *testing.B) {
	s, _ := benchStore(b, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.CreateTicket(ctx, domain.Ticket{Title: "bench", Category: "repair", Priority: domain.PriorityHigh,
			Zone: fmt.Sprintf("z%d", i%10), Skills: []string{"electric"}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdateTicket(b *testing.B) {
	s, _ := benchStore(b, 1000)
	ctx := context.Background()
	page, err := s.ListTickets(ctx, domain.TicketFilter{Limit: 500})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.UpdateTicket(ctx, page.Items[i%len(page.Items)].ID, func(t domain.Ticket) (domain.Ticket, error) {
			t.Description = fmt.Sprintf("update %d", i)
			return t, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListTickets lists pages of 50 from 50,000 tickets, the dashboard's hot path.
func BenchmarkListTickets(b *testing.B) {
	s, teams := benchStore(b, 50_000)
	ctx := context.Background()
	deep, err := s.ListTickets(ctx, domain.TicketFilter{Limit: 500})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 40; i++ { // a cursor 20,000 rows in
		deep, err = s.ListTickets(ctx, domain.TicketFilter{Limit: 500, Cursor: deep.NextCursor})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		f    domain.TicketFilter
	}{
		{"first page", domain.TicketFilter{}},
		{"deep cursor", domain.TicketFilter{Cursor: deep.NextCursor}},
		{"with total", domain.TicketFilter{WithTotal: true}},
		{"zone status", domain.TicketFilter{Zone: []string{"z3"}, Status: []domain.Status{domain.StatusOpen}}},
		{"team by priority", domain.TicketFilter{Team: teams[3], Sort: "-priority"}},
		{"due soonest", domain.TicketFilter{Sort: "due_date", Status: []domain.Status{domain.StatusOpen, domain.StatusAssigned}}},
		{"search", domain.TicketFilter{Query: "49999"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := s.ListTickets(ctx, bc.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Items) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}

func BenchmarkAnalytics(b *testing.B) {
	s, _ := benchStore(b, 50_000)
	ctx := context.Background()
	f := domain.AnalyticsFilter{}
	b.Run("overview", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.TicketOverview(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("zones", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ZoneStats(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("teams", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.TeamPerformance(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("trends", func(b *testing.B) {
		f := domain.AnalyticsFilter{From: ptrTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), To: ptrTime(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))}
		for b.Loop() {
			if _, err := s.Trends(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ptrTime(t time.Time) *time.Time { return &t }
