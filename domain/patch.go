package domain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// Opt is an optional JSON field for partial updates: Set tells whether the field was present
// at all, Null whether it was an explicit null (clear the value).
type Opt[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// Some returns an Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, Value: v} }

// UnmarshalJSON is only called for fields present in the input, which is what makes Set work.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// IsZero reports whether the field is absent, so that a struct field tagged omitzero is left
// out when encoding instead of turning into an explicit null (which would clear the field).
func (o Opt[T]) IsZero() bool { return !o.Set }

// MarshalJSON writes the value, or null when unset or null.
func (o Opt[T]) MarshalJSON() ([]byte, error) {
	if !o.Set || o.Null {
		return []byte("null"), nil
	}
	return json.Marshal(o.Value)
}

// TicketPatch is a partial update of a ticket (PUT /api/tickets/{id}). Absent fields are left
// alone; status changes go through the state machine; assigned_team null unassigns.
type TicketPatch struct {
	Title          Opt[string]    `json:"title,omitzero"`
	Description    Opt[string]    `json:"description,omitzero"`
	Category       Opt[string]    `json:"category,omitzero"`
	Priority       Opt[Priority]  `json:"priority,omitzero"`
	Status         Opt[Status]    `json:"status,omitzero"`
	Zone           Opt[string]    `json:"zone,omitzero"`
	Location       Opt[string]    `json:"location,omitzero"`
	Lat            Opt[float64]   `json:"lat,omitzero"`
	Lng            Opt[float64]   `json:"lng,omitzero"`
	Skills         Opt[[]string]  `json:"skills,omitzero"`
	AssignedTeam   Opt[string]    `json:"assigned_team,omitzero"`
	AssignedTo     Opt[string]    `json:"assigned_to,omitzero"`
	DueDate        Opt[time.Time] `json:"due_date,omitzero"`
	CustomerRating Opt[int]       `json:"customer_rating,omitzero"`
}

// Empty reports whether the patch changes nothing.
func (p TicketPatch) Empty() bool {
	return !(p.Title.Set || p.Description.Set || p.Category.Set || p.Priority.Set || p.Status.Set ||
		p.Zone.Set || p.Location.Set || p.Lat.Set || p.Lng.Set || p.Skills.Set || p.AssignedTeam.Set ||
		p.AssignedTo.Set || p.DueDate.Set || p.CustomerRating.Set)
}

// Apply returns t with the patch applied at time at, validated. Field changes are applied
// before the status change so that one request can assign a team and start work. The store
// checks that a new zone or team exists.
func (p TicketPatch) Apply(t Ticket, at time.Time) (Ticket, error) {
	orig := t
	if p.Empty() {
		return t, Errorf(CodeInvalid, "no fields to update")
	}
	// A final ticket takes only a status-only patch, which the state machine then refuses (or
	// accepts as a no-op when it repeats the status); repeating the status must not unlock the
	// other fields.
	rest := p
	rest.Status = Opt[Status]{}
	if t.Status.Final() && !rest.Empty() {
		return t, Errorf(CodeConflict, "ticket %s is %s and cannot be changed", t.Number, t.Status)
	}
	notNull := func(set, null bool, field string) error {
		if set && null {
			return FieldErrorf(field, "%s cannot be null", field)
		}
		return nil
	}
	for _, c := range []struct {
		o     bool
		n     bool
		field string
	}{
		{p.Title.Set, p.Title.Null, "title"}, {p.Category.Set, p.Category.Null, "category"},
		{p.Priority.Set, p.Priority.Null, "priority"}, {p.Status.Set, p.Status.Null, "status"},
		{p.Zone.Set, p.Zone.Null, "zone"}, {p.DueDate.Set, p.DueDate.Null, "due_date"},
	} {
		if err := notNull(c.o, c.n, c.field); err != nil {
			return t, err
		}
	}
	if p.Title.Set {
		t.Title = strings.TrimSpace(p.Title.Value)
	}
	if p.Description.Set {
		t.Description = p.Description.Value
	}
	if p.Category.Set {
		t.Category = p.Category.Value
	}
	if p.Priority.Set {
		t.Priority = p.Priority.Value
	}
	if p.Zone.Set {
		t.Zone = strings.TrimSpace(p.Zone.Value)
	}
	if p.Location.Set {
		t.Location = p.Location.Value
	}
	if p.Lat.Set {
		t.Lat = optPtr(p.Lat)
	}
	if p.Lng.Set {
		t.Lng = optPtr(p.Lng)
	}
	if p.Skills.Set {
		t.Skills = normalizeSkills(p.Skills.Value)
	}
	if p.DueDate.Set {
		t.DueDate = p.DueDate.Value.UTC()
	}
	if p.AssignedTo.Set {
		t.AssignedTo = optPtr(p.AssignedTo)
	}
	var err error
	if p.AssignedTeam.Set {
		if p.AssignedTeam.Null {
			if t.Status == StatusAssigned {
				if t, err = t.Transition(StatusOpen, at); err != nil {
					return t, err
				}
			} else if t.Status.needsTeam() {
				return t, FieldErrorf("assigned_team", "a ticket that is %s cannot be unassigned", t.Status)
			}
			t.AssignedTeam, t.AssignedTo, t.AssignedAt = nil, nil, nil
		} else if t.AssignedTeam == nil || *t.AssignedTeam != p.AssignedTeam.Value {
			// A new team keeps only a person named in this patch, not the old team's.
			var person *string
			if p.AssignedTo.Set {
				person = t.AssignedTo
			}
			if t, err = t.Assign(p.AssignedTeam.Value, person, at); err != nil {
				return t, err
			}
		}
	}
	if p.Status.Set {
		if t, err = t.Transition(p.Status.Value, at); err != nil {
			return t, err
		}
	}
	if p.CustomerRating.Set {
		t.CustomerRating = optPtr(p.CustomerRating)
	}
	if err := t.Validate(); err != nil {
		return t, err
	}
	// A patch that sets fields to the values they already have is a no-op: keeping UpdatedAt
	// unchanged lets the store skip the write and the change log stay free of empty changes.
	t.UpdatedAt = orig.UpdatedAt
	if reflect.DeepEqual(orig, t) {
		return orig, nil
	}
	t.UpdatedAt = at.UTC()
	return t, nil
}

func optPtr[T any](o Opt[T]) *T {
	if o.Null {
		return nil
	}
	v := o.Value
	return &v
}
