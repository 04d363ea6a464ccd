package sqlite

import (
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

// TestTicketUpdateSetsChangedColumns checks the push path's ticket UPDATE names only the
// columns whose stored values change (SQLite rewrites every index on a column in SET).
func TestTicketUpdateSetsChangedColumns(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	old, err := domain.NewTicket(domain.NewTicketInput{Title: "Pump", Zone: "North"}, now)
	if err != nil {
		t.Fatal(err)
	}
	old.ID = "T1"
	edit := old
	edit.Title, edit.UpdatedAt = "Pump 2", now.Add(time.Minute)
	team := "team-1"
	assigned := edit
	assigned.AssignedTeam, assigned.Status = &team, domain.StatusAssigned
	for _, c := range []struct {
		name   string
		next   domain.Ticket
		number int64
		want   string
		args   int
	}{
		{"no change", old, 0, "", 0},
		{"title edit", edit, 0, "UPDATE tickets SET title = ?, updated_at = ? WHERE id = ?", 3},
		{"assignment", assigned, 0, "UPDATE tickets SET title = ?, status = ?, assigned_team = ?, updated_at = ? WHERE id = ?", 5},
		{"number only", old, 42, "UPDATE tickets SET number = ? WHERE id = ?", 2},
	} {
		q, args := ticketUpdate(old, c.next, c.number)
		if q != c.want || len(args) != c.args {
			t.Errorf("%s: %q with %d args; want %q with %d", c.name, q, len(args), c.want, c.args)
		}
		if q != "" && args[len(args)-1] != "T1" {
			t.Errorf("%s: last argument %v, want the id", c.name, args[len(args)-1])
		}
	}
}
