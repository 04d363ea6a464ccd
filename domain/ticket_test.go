package domain_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

func TestTicketNumber(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "TKT-000000"},
		{1, "TKT-000001"},
		{123, "TKT-000123"},
		{999999, "TKT-999999"},
		{1000000, "TKT-1000000"},
		{math.MaxInt64, "TKT-9223372036854775807"},
	}
	for _, tt := range tests {
		if got := domain.TicketNumber(tt.n); got != tt.want {
			t.Errorf("TicketNumber(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
		p     domain.Priority
		valid bool
		rank  int
		sla   time.Duration
	}{
		{domain.PriorityLow, true, 0, 7 * 24 * time.Hour},
		{domain.PriorityMedium, true, 1, 72 * time.Hour},
		{domain.PriorityHigh, true, 2, 24 * time.Hour},
		{domain.PriorityCritical, true, 3, 4 * time.Hour},
		{"urgent", false, -1, 7 * 24 * time.Hour},
		{"", false, -1, 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(string(tt.p), func(t *testing.T) {
			if got := tt.p.Valid(); got != tt.valid {
				t.Errorf("Valid() = %v, want %v", got, tt.valid)
			}
			if got := tt.p.Rank(); got != tt.rank {
				t.Errorf("Rank() = %d, want %d", got, tt.rank)
			}
			if got := tt.p.SLA(); got != tt.sla {
				t.Errorf("SLA() = %v, want %v", got, tt.sla)
			}
		})
	}
}

func TestNewTicketDefaults(t *testing.T) {
	now := t0.In(time.FixedZone("EST", -5*3600))
	got, err := domain.NewTicket(domain.NewTicketInput{
		Title:  "  Streetlight out  ",
		Zone:   " Downtown ",
		Skills: []string{" Electrical", "electrical", "HVAC", ""},
	}, now)
	if err != nil {
		t.Fatalf("NewTicket: %v", err)
	}
	want := domain.Ticket{
		Title:     "Streetlight out",
		Category:  "other",
		Priority:  domain.PriorityMedium,
		Status:    domain.StatusOpen,
		Zone:      "Downtown",
		Skills:    []string{"electrical", "hvac"},
		DueDate:   t0.Add(72 * time.Hour),
		CreatedAt: t0,
		UpdatedAt: t0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewTicket mismatch (-want +got):\n%s", diff)
	}
	for name, ts := range map[string]time.Time{"created_at": got.CreatedAt, "updated_at": got.UpdatedAt, "due_date": got.DueDate} {
		if ts.Location() != time.UTC {
			t.Errorf("%s location = %v, want UTC", name, ts.Location())
		}
	}
}

func TestNewTicketNoSkillsIsEmptyList(t *testing.T) {
	got, err := domain.NewTicket(domain.NewTicketInput{Title: "x", Zone: "z"}, t0)
	if err != nil {
		t.Fatalf("NewTicket: %v", err)
	}
	if got.Skills == nil || len(got.Skills) != 0 {
		t.Errorf("Skills = %#v, want an empty non-nil list (JSON [])", got.Skills)
	}
}

func TestNewTicketDueDateFromSLA(t *testing.T) {
	tests := []struct {
		priority domain.Priority
		want     time.Time
	}{
		{"", t0.Add(72 * time.Hour)},
		{domain.PriorityLow, t0.Add(7 * 24 * time.Hour)},
		{domain.PriorityMedium, t0.Add(72 * time.Hour)},
		{domain.PriorityHigh, t0.Add(24 * time.Hour)},
		{domain.PriorityCritical, t0.Add(4 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(string(tt.priority), func(t *testing.T) {
			got, err := domain.NewTicket(domain.NewTicketInput{Title: "t", Zone: "z", Priority: tt.priority}, t0)
			if err != nil {
				t.Fatalf("NewTicket: %v", err)
			}
			if !got.DueDate.Equal(tt.want) {
				t.Errorf("DueDate = %v, want %v", got.DueDate, tt.want)
			}
		})
	}
}

func TestNewTicketExplicitFields(t *testing.T) {
	due := t0.Add(10 * time.Hour).In(time.FixedZone("X", 7200))
	in := domain.NewTicketInput{
		Title:       "Install meter",
		Description: "  keep spaces  ",
		Category:    "installation",
		Priority:    domain.PriorityCritical,
		Zone:        "North",
		Location:    "1 Elm St",
		Lat:         ptr(-33.9),
		Lng:         ptr(151.2),
		Skills:      []string{"metering"},
		DueDate:     &due,
	}
	got, err := domain.NewTicket(in, t0)
	if err != nil {
		t.Fatalf("NewTicket: %v", err)
	}
	want := domain.Ticket{
		Title:       "Install meter",
		Description: "  keep spaces  ",
		Category:    "installation",
		Priority:    domain.PriorityCritical,
		Status:      domain.StatusOpen,
		Zone:        "North",
		Location:    "1 Elm St",
		Lat:         ptr(-33.9),
		Lng:         ptr(151.2),
		Skills:      []string{"metering"},
		DueDate:     t0.Add(10 * time.Hour),
		CreatedAt:   t0,
		UpdatedAt:   t0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewTicket mismatch (-want +got):\n%s", diff)
	}
	if got.DueDate.Location() != time.UTC {
		t.Errorf("DueDate location = %v, want UTC", got.DueDate.Location())
	}
}

func TestNewTicketInvalid(t *testing.T) {
	tests := []struct {
		name  string
		in    domain.NewTicketInput
		field string
	}{
		{"blank title", domain.NewTicketInput{Title: "   ", Zone: "z"}, "title"},
		{"no zone", domain.NewTicketInput{Title: "t", Zone: "  "}, "zone"},
		{"unknown category", domain.NewTicketInput{Title: "t", Zone: "z", Category: "plumbing"}, "category"},
		{"unknown priority", domain.NewTicketInput{Title: "t", Zone: "z", Priority: "urgent"}, "priority"},
		{"lat without lng", domain.NewTicketInput{Title: "t", Zone: "z", Lat: ptr(1.0)}, "lat"},
		{"bad skill", domain.NewTicketInput{Title: "t", Zone: "z", Skills: []string{"high voltage"}}, "skills"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.NewTicket(tt.in, t0)
			checkErr(t, err, domain.CodeInvalid, tt.field)
			if diff := cmp.Diff(domain.Ticket{}, got); diff != "" {
				t.Errorf("NewTicket returned a ticket with an error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTicketFixturesValid(t *testing.T) {
	for _, s := range domain.Statuses {
		if err := ticketIn(s).Validate(); err != nil {
			t.Errorf("ticketIn(%s).Validate() = %v", s, err)
		}
	}
}

func TestTicketValidate(t *testing.T) {
	skills := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "s" + strings.Repeat("x", i)
		}
		return out
	}
	tests := []struct {
		name   string
		status domain.Status
		mod    func(*domain.Ticket)
		field  string // "" = valid
	}{
		{"fixture", domain.StatusOpen, func(*domain.Ticket) {}, ""},
		{"empty title", domain.StatusOpen, func(t *domain.Ticket) { t.Title = "" }, "title"},
		{"title 200 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Title = strings.Repeat("é", 200) }, ""},
		{"title 201 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Title = strings.Repeat("é", 201) }, "title"},
		{"description 5000 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Description = strings.Repeat("ü", 5000) }, ""},
		{"description 5001 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Description = strings.Repeat("a", 5001) }, "description"},
		{"empty description", domain.StatusOpen, func(t *domain.Ticket) { t.Description = "" }, ""},
		{"unknown category", domain.StatusOpen, func(t *domain.Ticket) { t.Category = "plumbing" }, "category"},
		{"empty category", domain.StatusOpen, func(t *domain.Ticket) { t.Category = "" }, "category"},
		{"category case matters", domain.StatusOpen, func(t *domain.Ticket) { t.Category = "Repair" }, "category"},
		{"empty priority", domain.StatusOpen, func(t *domain.Ticket) { t.Priority = "" }, "priority"},
		{"unknown priority", domain.StatusOpen, func(t *domain.Ticket) { t.Priority = "urgent" }, "priority"},
		{"unknown status", domain.StatusOpen, func(t *domain.Ticket) { t.Status = "done" }, "status"},
		{"empty zone", domain.StatusOpen, func(t *domain.Ticket) { t.Zone = "" }, "zone"},
		{"zone 100 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Zone = strings.Repeat("ß", 100) }, ""},
		{"zone 101 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Zone = strings.Repeat("z", 101) }, "zone"},
		{"location 200 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Location = strings.Repeat("ö", 200) }, ""},
		{"location 201 runes", domain.StatusOpen, func(t *domain.Ticket) { t.Location = strings.Repeat("l", 201) }, "location"},
		{"no coordinates", domain.StatusOpen, func(t *domain.Ticket) { t.Lat, t.Lng = nil, nil }, ""},
		{"lat without lng", domain.StatusOpen, func(t *domain.Ticket) { t.Lng = nil }, "lat"},
		{"lng without lat", domain.StatusOpen, func(t *domain.Ticket) { t.Lat = nil }, "lat"},
		{"lat -90", domain.StatusOpen, func(t *domain.Ticket) { t.Lat = ptr(-90.0) }, ""},
		{"lat 90", domain.StatusOpen, func(t *domain.Ticket) { t.Lat = ptr(90.0) }, ""},
		{"lat above 90", domain.StatusOpen, func(t *domain.Ticket) { t.Lat = ptr(90.0001) }, "lat"},
		{"lat below -90", domain.StatusOpen, func(t *domain.Ticket) { t.Lat = ptr(-91.0) }, "lat"},
		{"lat NaN", domain.StatusOpen, func(t *domain.Ticket) { t.Lat = ptr(math.NaN()) }, "lat"},
		{"lng -180", domain.StatusOpen, func(t *domain.Ticket) { t.Lng = ptr(-180.0) }, ""},
		{"lng 180", domain.StatusOpen, func(t *domain.Ticket) { t.Lng = ptr(180.0) }, ""},
		{"lng above 180", domain.StatusOpen, func(t *domain.Ticket) { t.Lng = ptr(180.5) }, "lng"},
		{"lng +Inf", domain.StatusOpen, func(t *domain.Ticket) { t.Lng = ptr(math.Inf(1)) }, "lng"},
		{"lng NaN", domain.StatusOpen, func(t *domain.Ticket) { t.Lng = ptr(math.NaN()) }, "lng"},
		{"no due date", domain.StatusOpen, func(t *domain.Ticket) { t.DueDate = time.Time{} }, "due_date"},
		{"due date in the past", domain.StatusOpen, func(t *domain.Ticket) { t.DueDate = t0.Add(-time.Hour) }, ""},
		{"rating 1 on resolved", domain.StatusResolved, func(t *domain.Ticket) { t.CustomerRating = ptr(1) }, ""},
		{"rating 5 on closed", domain.StatusClosed, func(t *domain.Ticket) { t.CustomerRating = ptr(5) }, ""},
		{"no rating on closed", domain.StatusClosed, func(t *domain.Ticket) { t.CustomerRating = nil }, ""},
		{"rating 0", domain.StatusResolved, func(t *domain.Ticket) { t.CustomerRating = ptr(0) }, "customer_rating"},
		{"rating 6", domain.StatusClosed, func(t *domain.Ticket) { t.CustomerRating = ptr(6) }, "customer_rating"},
		{"rating on in_progress", domain.StatusInProgress, func(t *domain.Ticket) { t.CustomerRating = ptr(3) }, "customer_rating"},
		{"rating on open", domain.StatusOpen, func(t *domain.Ticket) { t.CustomerRating = ptr(3) }, "customer_rating"},
		{"rating on cancelled", domain.StatusCancelled, func(t *domain.Ticket) { t.CustomerRating = ptr(3) }, "customer_rating"},
		{"assigned without team", domain.StatusAssigned, func(t *domain.Ticket) { t.AssignedTeam = nil }, "assigned_team"},
		{"in_progress without team", domain.StatusInProgress, func(t *domain.Ticket) { t.AssignedTeam = nil }, "assigned_team"},
		{"on_hold without team", domain.StatusOnHold, func(t *domain.Ticket) { t.AssignedTeam = nil }, "assigned_team"},
		{"resolved without team", domain.StatusResolved, func(t *domain.Ticket) { t.AssignedTeam = nil }, ""},
		{"cancelled without team", domain.StatusCancelled, func(t *domain.Ticket) { t.AssignedTeam = nil }, ""},
		{"assigned_to 100 runes", domain.StatusAssigned, func(t *domain.Ticket) { t.AssignedTo = ptr(strings.Repeat("å", 100)) }, ""},
		{"assigned_to 101 runes", domain.StatusAssigned, func(t *domain.Ticket) { t.AssignedTo = ptr(strings.Repeat("a", 101)) }, "assigned_to"},
		{"no skills", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = nil }, ""},
		{"20 skills", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = skills(20) }, ""},
		{"21 skills", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = skills(21) }, "skills"},
		{"empty skill", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = []string{""} }, "skills"},
		{"skill 50 chars", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = []string{strings.Repeat("k", 50)} }, ""},
		{"skill 51 chars", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = []string{strings.Repeat("k", 51)} }, "skills"},
		{"skill charset", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = []string{"a-z_0-9"} }, ""},
		{"skill uppercase", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = []string{"Electrical"} }, "skills"},
		{"skill space", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = []string{"high voltage"} }, "skills"},
		{"skill non-ascii", domain.StatusOpen, func(t *domain.Ticket) { t.Skills = []string{"schweißen"} }, "skills"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := ticketIn(tt.status)
			tt.mod(&tk)
			err := tk.Validate()
			if tt.field == "" {
				checkErr(t, err, "", "")
				return
			}
			checkErr(t, err, domain.CodeInvalid, tt.field)
		})
	}
}

func TestTicketValidateEveryCategory(t *testing.T) {
	want := []string{"installation", "repair", "maintenance", "inspection", "outage", "other"}
	if diff := cmp.Diff(want, domain.Categories); diff != "" {
		t.Errorf("Categories mismatch (-want +got):\n%s", diff)
	}
	for _, c := range domain.Categories {
		tk := ticketIn(domain.StatusOpen)
		tk.Category = c
		if err := tk.Validate(); err != nil {
			t.Errorf("category %q: %v", c, err)
		}
	}
}

func TestTicketOverdue(t *testing.T) {
	tests := []struct {
		status domain.Status
		now    time.Time
		want   bool
	}{
		{domain.StatusOpen, hours(23), false},
		{domain.StatusOpen, hours(24), false}, // due exactly now is not yet overdue
		{domain.StatusOpen, hours(25), true},
		{domain.StatusAssigned, hours(25), true},
		{domain.StatusInProgress, hours(25), true},
		{domain.StatusOnHold, hours(25), true},
		{domain.StatusResolved, hours(25), false},
		{domain.StatusClosed, hours(25), false},
		{domain.StatusCancelled, hours(25), false},
	}
	for _, tt := range tests {
		tk := ticketIn(tt.status) // due at t0+24h
		if got := tk.Overdue(tt.now); got != tt.want {
			t.Errorf("%s ticket Overdue(%v) = %v, want %v", tt.status, tt.now, got, tt.want)
		}
	}
}

func TestTicketAssign(t *testing.T) {
	at := hours(10)
	tests := []struct {
		name     string
		in       domain.Ticket
		team     string
		person   *string
		want     func(*domain.Ticket)
		wantCode domain.Code
		field    string
	}{
		{
			name: "open moves to assigned",
			in:   ticketIn(domain.StatusOpen),
			team: "team-b",
			want: func(w *domain.Ticket) {
				w.Status = domain.StatusAssigned
				w.AssignedTeam, w.AssignedAt = ptr("team-b"), ptr(at)
			},
		},
		{
			name:   "open with a person",
			in:     ticketIn(domain.StatusOpen),
			team:   "team-b",
			person: ptr("bob"),
			want: func(w *domain.Ticket) {
				w.Status = domain.StatusAssigned
				w.AssignedTeam, w.AssignedTo, w.AssignedAt = ptr("team-b"), ptr("bob"), ptr(at)
			},
		},
		{
			name: "reassign an assigned ticket keeps status and drops the old person",
			in:   ticketIn(domain.StatusAssigned),
			team: "team-b",
			want: func(w *domain.Ticket) {
				w.AssignedTeam, w.AssignedTo, w.AssignedAt = ptr("team-b"), nil, ptr(at)
			},
		},
		{
			name:   "reassign in_progress keeps status and started_at",
			in:     ticketIn(domain.StatusInProgress),
			team:   "team-b",
			person: ptr("bob"),
			want: func(w *domain.Ticket) {
				w.AssignedTeam, w.AssignedTo, w.AssignedAt = ptr("team-b"), ptr("bob"), ptr(at)
			},
		},
		{
			name: "reassign on_hold keeps status",
			in:   ticketIn(domain.StatusOnHold),
			team: "team-b",
			want: func(w *domain.Ticket) {
				w.AssignedTeam, w.AssignedTo, w.AssignedAt = ptr("team-b"), nil, ptr(at)
			},
		},
		{name: "resolved refused", in: ticketIn(domain.StatusResolved), team: "team-b", wantCode: domain.CodeConflict},
		{name: "closed refused", in: ticketIn(domain.StatusClosed), team: "team-b", wantCode: domain.CodeConflict},
		{name: "cancelled refused", in: ticketIn(domain.StatusCancelled), team: "team-b", wantCode: domain.CodeConflict},
		{name: "empty team refused", in: ticketIn(domain.StatusOpen), team: "", wantCode: domain.CodeInvalid, field: "team_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.in
			got, err := tt.in.Assign(tt.team, tt.person, at.In(time.FixedZone("X", 3600)))
			checkErr(t, err, tt.wantCode, tt.field)
			if tt.wantCode != "" {
				if diff := cmp.Diff(orig, got); diff != "" {
					t.Errorf("refused Assign changed the ticket (-want +got):\n%s", diff)
				}
				if tt.wantCode == domain.CodeConflict && !strings.Contains(domain.ErrorMessage(err), string(orig.Status)) {
					t.Errorf("message %q does not name status %q", domain.ErrorMessage(err), orig.Status)
				}
				return
			}
			want := orig
			want.UpdatedAt = at
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Assign mismatch (-want +got):\n%s", diff)
			}
			if got.AssignedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
				t.Errorf("assigned_at/updated_at not UTC: %v, %v", got.AssignedAt.Location(), got.UpdatedAt.Location())
			}
			if err := got.Validate(); err != nil {
				t.Errorf("result does not validate: %v", err)
			}
			if diff := cmp.Diff(ticketIn(orig.Status), tt.in); diff != "" {
				t.Errorf("input ticket mutated (-want +got):\n%s", diff)
			}
		})
	}
}
