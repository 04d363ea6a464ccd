package domain

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// TeamStatus says whether a team can take work now.
type TeamStatus string

const (
	TeamAvailable TeamStatus = "available"
	TeamBusy      TeamStatus = "busy"
	TeamOffline   TeamStatus = "offline"
)

// Valid reports whether s is a known team status.
func (s TeamStatus) Valid() bool {
	return s == TeamAvailable || s == TeamBusy || s == TeamOffline
}

// Team is a field crew working in one zone. Capacity is how many tickets it can hold at once;
// ShiftStart/ShiftEnd are local "HH:MM". The performance fields are kept up to date by
// analytics from the tickets the team resolved.
type Team struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	Zone             string     `json:"zone"`
	Description      string     `json:"description"`
	Skills           []string   `json:"skills"`
	Capacity         int        `json:"capacity"`
	ShiftStart       string     `json:"shift_start"`
	ShiftEnd         string     `json:"shift_end"`
	HomeLat          *float64   `json:"home_lat"`
	HomeLng          *float64   `json:"home_lng"`
	Status           TeamStatus `json:"status"`
	IsActive         bool       `json:"is_active"`
	TicketsCompleted int        `json:"tickets_completed"`
	CustomerRating   float64    `json:"customer_rating"`
	ResponseTime     int        `json:"response_time"` // mean minutes from assignment to start
	CompletionRate   float64    `json:"completion_rate"`
	Efficiency       float64    `json:"efficiency"`
	ActiveTickets    int        `json:"active_tickets"` // computed on read: assigned, in_progress, on_hold
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	DeletedAt        *time.Time `json:"deleted_at,omitempty"`
}

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// TeamInput creates a team (POST /api/auth/teams) or, with Opt semantics, patches one.
type TeamInput struct {
	Name        Opt[string]     `json:"name,omitzero"`
	Zone        Opt[string]     `json:"zone,omitzero"`
	Description Opt[string]     `json:"description,omitzero"`
	Skills      Opt[[]string]   `json:"skills,omitzero"`
	Capacity    Opt[int]        `json:"capacity,omitzero"`
	ShiftStart  Opt[string]     `json:"shift_start,omitzero"`
	ShiftEnd    Opt[string]     `json:"shift_end,omitzero"`
	HomeLat     Opt[float64]    `json:"home_lat,omitzero"`
	HomeLng     Opt[float64]    `json:"home_lng,omitzero"`
	Status      Opt[TeamStatus] `json:"status,omitzero"`
	IsActive    Opt[bool]       `json:"is_active,omitzero"`
}

// NewTeam returns a validated team from in with defaults: capacity 5, shift 08:00–17:00,
// available, active.
func NewTeam(in TeamInput, now time.Time) (Team, error) {
	now = now.UTC()
	t := Team{Capacity: 5, ShiftStart: "08:00", ShiftEnd: "17:00", Status: TeamAvailable, IsActive: true,
		Skills: []string{}, CreatedAt: now, UpdatedAt: now}
	return in.Apply(t, now)
}

// Apply returns t with the set fields of in applied and validated.
func (in TeamInput) Apply(t Team, now time.Time) (Team, error) {
	if in.Name.Set {
		t.Name = strings.TrimSpace(in.Name.Value)
	}
	if in.Zone.Set {
		t.Zone = strings.TrimSpace(in.Zone.Value)
	}
	if in.Description.Set {
		t.Description = in.Description.Value
	}
	if in.Skills.Set {
		t.Skills = normalizeSkills(in.Skills.Value)
	}
	if in.Capacity.Set {
		t.Capacity = in.Capacity.Value
	}
	if in.ShiftStart.Set {
		t.ShiftStart = in.ShiftStart.Value
	}
	if in.ShiftEnd.Set {
		t.ShiftEnd = in.ShiftEnd.Value
	}
	if in.HomeLat.Set {
		t.HomeLat = optPtr(in.HomeLat)
	}
	if in.HomeLng.Set {
		t.HomeLng = optPtr(in.HomeLng)
	}
	if in.Status.Set {
		t.Status = in.Status.Value
	}
	if in.IsActive.Set {
		t.IsActive = in.IsActive.Value
	}
	t.UpdatedAt = now.UTC()
	return t, t.Validate()
}

// Validate checks the team's own fields.
func (t Team) Validate() error {
	switch {
	case t.Name == "":
		return FieldErrorf("name", "name is required")
	case utf8.RuneCountInString(t.Name) > 100:
		return FieldErrorf("name", "name is longer than 100 characters")
	case t.Zone == "":
		return FieldErrorf("zone", "zone is required")
	case utf8.RuneCountInString(t.Description) > 2000:
		return FieldErrorf("description", "description is longer than 2000 characters")
	case t.Capacity < 1 || t.Capacity > 100:
		return FieldErrorf("capacity", "capacity must be between 1 and 100")
	case !hhmm.MatchString(t.ShiftStart):
		return FieldErrorf("shift_start", "shift_start must be HH:MM")
	case !hhmm.MatchString(t.ShiftEnd):
		return FieldErrorf("shift_end", "shift_end must be HH:MM")
	case (t.HomeLat == nil) != (t.HomeLng == nil):
		return FieldErrorf("home_lat", "home_lat and home_lng must be given together")
	case t.HomeLat != nil && (*t.HomeLat < -90 || *t.HomeLat > 90 || *t.HomeLat != *t.HomeLat):
		return FieldErrorf("home_lat", "home_lat must be between -90 and 90")
	case t.HomeLng != nil && (*t.HomeLng < -180 || *t.HomeLng > 180 || *t.HomeLng != *t.HomeLng):
		return FieldErrorf("home_lng", "home_lng must be between -180 and 180")
	case !t.Status.Valid():
		return FieldErrorf("status", "unknown team status %q (want available, busy or offline)", t.Status)
	}
	return validateSkills(t.Skills)
}

// HasSkills reports whether the team has every skill in need.
func (t Team) HasSkills(need []string) bool {
	for _, s := range need {
		found := false
		for _, h := range t.Skills {
			if h == s {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
