package domain

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Priority orders how urgently a ticket must be handled; it sets the default due date (SLA).
type Priority string

const (
	PriorityLow      Priority = "low"
	PriorityMedium   Priority = "medium"
	PriorityHigh     Priority = "high"
	PriorityCritical Priority = "critical"
)

// Priorities lists every priority from least to most urgent.
var Priorities = []Priority{PriorityLow, PriorityMedium, PriorityHigh, PriorityCritical}

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool { return slices.Contains(Priorities, p) }

// Rank is 0 for low up to 3 for critical, for sorting.
func (p Priority) Rank() int { return slices.Index(Priorities, p) }

// SLA is the time allowed from creation to resolution for a priority, used for the default due
// date and for SLA-miss analytics.
func (p Priority) SLA() time.Duration {
	switch p {
	case PriorityCritical:
		return 4 * time.Hour
	case PriorityHigh:
		return 24 * time.Hour
	case PriorityMedium:
		return 72 * time.Hour
	default:
		return 7 * 24 * time.Hour
	}
}

// Categories are the kinds of field work a ticket can be.
var Categories = []string{"installation", "repair", "maintenance", "inspection", "outage", "other"}

// Ticket is a service request handled by a field team. Times are UTC. Zone is the zone's name
// (unique), AssignedTeam a team id, AssignedTo the username of the person doing the work.
type Ticket struct {
	ID             string     `json:"id"`
	Number         string     `json:"ticket_number"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Category       string     `json:"category"`
	Priority       Priority   `json:"priority"`
	Status         Status     `json:"status"`
	Zone           string     `json:"zone"`
	Location       string     `json:"location"`
	Lat            *float64   `json:"lat"`
	Lng            *float64   `json:"lng"`
	Skills         []string   `json:"skills"`
	AssignedTeam   *string    `json:"assigned_team"`
	AssignedTo     *string    `json:"assigned_to"`
	DueDate        time.Time  `json:"due_date"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AssignedAt     *time.Time `json:"assigned_at"`
	StartedAt      *time.Time `json:"started_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	ClosedAt       *time.Time `json:"closed_at"`
	CustomerRating *int       `json:"customer_rating"`
	DeletedAt      *time.Time `json:"deleted_at,omitempty"`
}

// TicketNumber formats the human ticket number for a sequence value, e.g. TKT-000123.
func TicketNumber(n int64) string {
	s := strings.Repeat("0", max(0, 6-len(itoa(n)))) + itoa(n)
	return "TKT-" + s
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// NewTicketInput is what a caller supplies to create a ticket. Unset optional fields get
// defaults: priority medium, category other, due date now + SLA.
type NewTicketInput struct {
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Category    string     `json:"category"`
	Priority    Priority   `json:"priority"`
	Zone        string     `json:"zone"`
	Location    string     `json:"location"`
	Lat         *float64   `json:"lat"`
	Lng         *float64   `json:"lng"`
	Skills      []string   `json:"skills"`
	DueDate     *time.Time `json:"due_date"`
}

// NewTicket validates in and returns a ticket in status open, created at now. ID and Number are
// left for the store to fill if empty.
func NewTicket(in NewTicketInput, now time.Time) (Ticket, error) {
	now = now.UTC()
	t := Ticket{
		Title:       strings.TrimSpace(in.Title),
		Description: in.Description,
		Category:    in.Category,
		Priority:    in.Priority,
		Status:      StatusOpen,
		Zone:        strings.TrimSpace(in.Zone),
		Location:    in.Location,
		Lat:         in.Lat,
		Lng:         in.Lng,
		Skills:      normalizeSkills(in.Skills),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if t.Category == "" {
		t.Category = "other"
	}
	if t.Priority == "" {
		t.Priority = PriorityMedium
	}
	if in.DueDate != nil {
		t.DueDate = in.DueDate.UTC()
	} else if t.Priority.Valid() {
		t.DueDate = now.Add(t.Priority.SLA())
	}
	if err := t.Validate(); err != nil {
		return Ticket{}, err
	}
	return t, nil
}

// Validate checks every field rule that needs no other entity. The store checks references
// (zone exists, team exists).
func (t Ticket) Validate() error {
	switch {
	case t.Title == "":
		return FieldErrorf("title", "title is required")
	case utf8.RuneCountInString(t.Title) > 200:
		return FieldErrorf("title", "title is longer than 200 characters")
	case utf8.RuneCountInString(t.Description) > 5000:
		return FieldErrorf("description", "description is longer than 5000 characters")
	case !slices.Contains(Categories, t.Category):
		return FieldErrorf("category", "unknown category %q (want one of %s)", t.Category, strings.Join(Categories, ", "))
	case !t.Priority.Valid():
		return FieldErrorf("priority", "unknown priority %q (want low, medium, high or critical)", t.Priority)
	case !t.Status.Valid():
		return FieldErrorf("status", "unknown status %q", t.Status)
	case t.Zone == "":
		return FieldErrorf("zone", "zone is required")
	case utf8.RuneCountInString(t.Zone) > 100:
		return FieldErrorf("zone", "zone is longer than 100 characters")
	case utf8.RuneCountInString(t.Location) > 200:
		return FieldErrorf("location", "location is longer than 200 characters")
	case (t.Lat == nil) != (t.Lng == nil):
		return FieldErrorf("lat", "lat and lng must be given together")
	case t.Lat != nil && (*t.Lat < -90 || *t.Lat > 90 || *t.Lat != *t.Lat):
		return FieldErrorf("lat", "lat must be between -90 and 90")
	case t.Lng != nil && (*t.Lng < -180 || *t.Lng > 180 || *t.Lng != *t.Lng):
		return FieldErrorf("lng", "lng must be between -180 and 180")
	case t.DueDate.IsZero():
		return FieldErrorf("due_date", "due_date is required")
	case t.CustomerRating != nil && (*t.CustomerRating < 1 || *t.CustomerRating > 5):
		return FieldErrorf("customer_rating", "customer_rating must be between 1 and 5")
	case t.CustomerRating != nil && t.Status != StatusResolved && t.Status != StatusClosed:
		return FieldErrorf("customer_rating", "customer_rating can only be set on a resolved or closed ticket")
	case t.AssignedTeam == nil && t.Status.needsTeam():
		return FieldErrorf("assigned_team", "status %s needs an assigned team", t.Status)
	case t.AssignedTo != nil && utf8.RuneCountInString(*t.AssignedTo) > 100:
		return FieldErrorf("assigned_to", "assigned_to is longer than 100 characters")
	}
	return validateSkills(t.Skills)
}

// Overdue reports whether t is past its due date and not yet resolved at time now.
func (t Ticket) Overdue(now time.Time) bool {
	return !t.Status.Done() && now.After(t.DueDate)
}

// Assign returns t assigned to team (and optionally a person) at time at. An open ticket moves
// to assigned; a ticket already being worked keeps its status (reassignment). Done tickets
// cannot be assigned.
func (t Ticket) Assign(teamID string, person *string, at time.Time) (Ticket, error) {
	if teamID == "" {
		return t, FieldErrorf("team_id", "team_id is required")
	}
	if t.Status.Done() {
		return t, Errorf(CodeConflict, "ticket %s is %s and cannot be assigned", t.Number, t.Status)
	}
	at = at.UTC()
	t.AssignedTeam = &teamID
	t.AssignedTo = person
	t.AssignedAt = &at
	t.UpdatedAt = at
	if t.Status == StatusOpen {
		t.Status = StatusAssigned
	}
	return t, nil
}

func normalizeSkills(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func validateSkills(skills []string) error {
	if len(skills) > 20 {
		return FieldErrorf("skills", "at most 20 skills")
	}
	for _, s := range skills {
		if s == "" || len(s) > 50 {
			return FieldErrorf("skills", "skill %q must be 1 to 50 characters", s)
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return FieldErrorf("skills", "skill %q may hold only a-z, 0-9, - and _", s)
			}
		}
	}
	return nil
}
