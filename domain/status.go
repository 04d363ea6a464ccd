package domain

import (
	"slices"
	"time"
)

// Status is where a ticket is in its life:
//
//	open → assigned → in_progress ⇄ on_hold
//	                  in_progress → resolved → closed
//	resolved → assigned (reopen; open if no team)
//	open, assigned, in_progress, on_hold → cancelled
//	assigned → open (unassign)
//
// closed and cancelled are final.
type Status string

const (
	StatusOpen       Status = "open"
	StatusAssigned   Status = "assigned"
	StatusInProgress Status = "in_progress"
	StatusOnHold     Status = "on_hold"
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
	StatusCancelled  Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusOpen, StatusAssigned, StatusInProgress, StatusOnHold, StatusResolved, StatusClosed, StatusCancelled}

var transitions = map[Status][]Status{
	StatusOpen:       {StatusAssigned, StatusCancelled},
	StatusAssigned:   {StatusOpen, StatusInProgress, StatusCancelled},
	StatusInProgress: {StatusOnHold, StatusResolved, StatusCancelled},
	StatusOnHold:     {StatusInProgress, StatusCancelled},
	StatusResolved:   {StatusClosed, StatusAssigned, StatusOpen},
	StatusClosed:     nil,
	StatusCancelled:  nil,
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { _, ok := transitions[s]; return ok }

// Done reports whether work on the ticket has ended (resolved, closed or cancelled).
func (s Status) Done() bool {
	return s == StatusResolved || s == StatusClosed || s == StatusCancelled
}

// Final reports whether no transition leaves s.
func (s Status) Final() bool { return s.Valid() && len(transitions[s]) == 0 }

// CanTransition reports whether a ticket may move from s to to.
func (s Status) CanTransition(to Status) bool { return slices.Contains(transitions[s], to) }

// Next lists the statuses reachable from s.
func (s Status) Next() []Status { return slices.Clone(transitions[s]) }

func (s Status) needsTeam() bool {
	return s == StatusAssigned || s == StatusInProgress || s == StatusOnHold
}

// TransitionError is returned for an illegal status change; it names both states.
type TransitionError struct{ From, To Status }

func (e *TransitionError) Error() string {
	return "status " + string(e.To) + " cannot follow " + string(e.From)
}

// Transition returns t moved to status to at time at, with the lifecycle timestamps set. An
// illegal move returns CodeConflict wrapping a *TransitionError. Moving to open clears the
// assignment; reopening a resolved ticket clears its resolution.
func (t Ticket) Transition(to Status, at time.Time) (Ticket, error) {
	if !to.Valid() {
		return t, FieldErrorf("status", "unknown status %q", to)
	}
	if t.Status == to {
		return t, nil
	}
	if !t.Status.CanTransition(to) {
		te := &TransitionError{From: t.Status, To: to}
		return t, &Error{Code: CodeConflict, Field: "status", Message: te.Error(), Err: te}
	}
	at = at.UTC()
	from := t.Status
	switch to {
	case StatusOpen:
		t.AssignedTeam, t.AssignedTo, t.AssignedAt = nil, nil, nil
	case StatusAssigned:
		if t.AssignedTeam == nil {
			if from == StatusResolved {
				to = StatusOpen
			} else {
				return t, FieldErrorf("assigned_team", "status assigned needs an assigned team")
			}
		}
	case StatusInProgress:
		if t.StartedAt == nil {
			t.StartedAt = &at
		}
	case StatusResolved:
		t.ResolvedAt = &at
	case StatusClosed:
		t.ClosedAt = &at
	}
	if from == StatusResolved && (to == StatusAssigned || to == StatusOpen) {
		t.ResolvedAt, t.CustomerRating = nil, nil
	}
	t.Status = to
	t.UpdatedAt = at
	return t, nil
}
